package bundle

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/layout"
)

// requireTool skips when a tool is missing on a developer machine, and
// fails in CI, where scripts/deps.sh installs it.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (scripts/deps.sh installs it)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

func runIn(t *testing.T, dir string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out), 0
}

// TestInterop checks the sample bundle with tools that share no code with
// stella-export: GNU tar and busybox tar extract it to the sample's bytes,
// `sha256sum -c` accepts checksums.txt, and verify-export.sh passes under
// dash and busybox sh, then fails naming the file after one byte changes.
func TestInterop(t *testing.T) {
	requireTool(t, "tar")
	requireTool(t, "sha256sum")
	dash := requireTool(t, "dash")
	busybox := requireTool(t, "busybox")

	raw := buildSample(t, Options{})
	work := t.TempDir()
	tgz := filepath.Join(work, "sample.tgz")
	if err := os.WriteFile(tgz, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	root := strings.TrimPrefix(strings.SplitN(string(entries(t, raw)[layout.Checksums]), "\n", 2)[0], "root ")

	extract := map[string][]string{
		"gnu-tar":     {"tar", "-xzf", tgz},
		"busybox-tar": {busybox, "tar", "-xzf", tgz},
	}
	for name, argv := range extract {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if out, code := runIn(t, dir, argv[0], argv[1:]...); code != 0 {
				t.Fatalf("extract: exit %d: %s", code, out)
			}
			// Payload bytes equal the sample's.
			filepath.WalkDir(sampleDir, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(sampleDir, p)
				want, _ := os.ReadFile(p)
				got, err := os.ReadFile(filepath.Join(dir, rel))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: extracted content differs (%v)", rel, err)
				}
				return nil
			})
			if out, code := runIn(t, dir, "sh", "-c", "tail -n +2 checksums.txt | sha256sum -c --quiet -"); code != 0 {
				t.Fatalf("sha256sum -c: exit %d: %s", code, out)
			}
			for _, sh := range [][]string{{dash}, {busybox, "sh"}} {
				out, code := runIn(t, dir, sh[0], append(sh[1:], "verify-export.sh")...)
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if code != 0 || lines[len(lines)-1] != "OK root "+root {
					t.Fatalf("%v verify-export.sh: exit %d, output:\n%s", sh, code, out)
				}
			}
		})
	}

	// Given the .tgz path, the script extracts it itself.
	dir := t.TempDir()
	runIn(t, dir, "tar", "-xzf", tgz)
	if out, code := runIn(t, t.TempDir(), dash, filepath.Join(dir, "verify-export.sh"), tgz); code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "OK root "+root) {
		t.Fatalf("verify-export.sh bundle.tgz: exit %d:\n%s", code, out)
	}

	// One changed byte in any file: exit 1 and the file named, in both shells.
	for _, victim := range []string{"README.md", "export.json", "NOTICE.md", "data/advisories/GO-2022-0969.json", "data/sboms/acme-payments.cdx.json"} {
		dir := t.TempDir()
		runIn(t, dir, "tar", "-xzf", tgz)
		p := filepath.Join(dir, victim)
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 0x20
		os.WriteFile(p, b, 0o644)
		for _, sh := range [][]string{{dash}, {busybox, "sh"}} {
			out, code := runIn(t, dir, sh[0], append(sh[1:], "verify-export.sh")...)
			if code != 1 || !strings.Contains(out, victim) {
				t.Errorf("%v after changing %s: exit %d, output:\n%s", sh, victim, code, out)
			}
		}
	}
}
