package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOpenBeneath: the one-call open finds a file below the directory and
// refuses a link in any component and an escape; Dir.Open falls back to
// the walk for its precise errors, so only success matters for speed, and
// refusal for safety.
func TestOpenBeneath(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "a", "b", "f.json"), []byte("{}"), 0o644)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "x.json"), []byte("{}"), 0o644)
	os.Symlink(outside, filepath.Join(root, "a", "out"))
	os.Symlink(filepath.Join(root, "a", "b", "f.json"), filepath.Join(root, "a", "l.json"))
	d, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fd, err := openBeneath(int(d.f.Fd()), "a/b/f.json")
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		t.Skipf("no openat2 here (%v): Dir.Open walks the path", err)
	}
	if err != nil {
		t.Fatalf("open a/b/f.json: %v", err)
	}
	unix.Close(fd)
	for _, rel := range []string{"a/out/x.json", "a/l.json", "../" + filepath.Base(outside) + "/x.json"} {
		if fd, err := openBeneath(int(d.f.Fd()), rel); err == nil {
			unix.Close(fd)
			t.Errorf("openBeneath(%s) succeeded", rel)
		}
	}
}
