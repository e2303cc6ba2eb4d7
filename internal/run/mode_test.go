package run

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The export directory gets the permissions of the directories inside it
// (0755 less the umask), not the 0700 of a private temporary directory; so
// does a mirror tree written by ApplyDelta.
func TestExportDirMode(t *testing.T) {
	for _, umask := range []int{0o022, 0o027} {
		old := syscall.Umask(umask)
		func() {
			defer syscall.Umask(old)
			want := os.FileMode(0o755 &^ umask)
			dir := t.TempDir()
			evidenceA(t, filepath.Join(dir, "evidence"))
			full := contractFile(t, dir, "full.yaml", "mirror:full", "")
			outFull := filepath.Join(dir, "out", "full")
			execute(t, full, outFull, filepath.Join(dir, "out", "full.tgz"))
			evidenceB(t, filepath.Join(dir, "evidence"))
			delta := contractFile(t, dir, "delta.yaml", "mirror:delta", "base: out/full.tgz\n")
			execute(t, delta, filepath.Join(dir, "out", "delta"), filepath.Join(dir, "out", "delta.tgz"))
			applied := filepath.Join(dir, "out", "applied")
			if _, err := ApplyDelta(context.Background(), filepath.Join(dir, "out", "delta.tgz"), filepath.Join(dir, "out", "full.tgz"), applied, false); err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{outFull, filepath.Join(outFull, "data"), applied, filepath.Join(applied, "data")} {
				st, err := os.Stat(d)
				if err != nil {
					t.Fatal(err)
				}
				if got := st.Mode().Perm(); got != want {
					t.Errorf("umask %04o: %s has mode %04o, want %04o", umask, d, got, want)
				}
			}
		}()
	}
}
