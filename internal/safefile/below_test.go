package safefile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

func TestDirOpenNeverFollowsLinks(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "src")
	mk := func(rel, body string) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("src/acme/advisories/a.json", "acme")
	mk("src/globex/advisories/b.json", "globex")
	mk("outside/secret.json", "secret")
	links := map[string]string{
		"src/acme/advisories/out.json":   "../../../outside/secret.json",   // leaves the directory
		"src/acme/advisories/other.json": "../../globex/advisories/b.json", // stays inside it
		"src/acme/advisories/sub":        "../../globex/advisories",        // a directory link on the way
		"src/acme/vex":                   "../../outside",
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(l))); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(src, "acme", "advisories", "fifo.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDir(src)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	f, err := d.Open("acme/advisories/a.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "acme" {
		t.Fatalf("read %q", b)
	}

	for _, tt := range []struct{ rel, want string }{
		{"acme/advisories/out.json", "acme/advisories/out.json: is a symbolic link, not a regular file"},
		{"acme/advisories/other.json", "acme/advisories/other.json: is a symbolic link, not a regular file"},
		{"acme/advisories/sub/b.json", "acme/advisories/sub: is a symbolic link; links are not followed below"},
		{"acme/vex/secret.json", "acme/vex: is a symbolic link; links are not followed below"},
		{"acme/advisories/fifo.json", "acme/advisories/fifo.json: is a FIFO, not a regular file"},
		{"acme/advisories/a.json/x", "acme/advisories/a.json: is a regular file, not a directory"},
		{"acme/advisories", "acme/advisories: is a directory, not a regular file"},
		{"../outside/secret.json", `unsafe path "../outside/secret.json"`},
		{"/etc/passwd", "absolute path"},
	} {
		t.Run(tt.rel, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				f, err := d.Open(tt.rel)
				if f != nil {
					f.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want %q", err, tt.want)
				}
				if exitcode.For(err) != exitcode.Invalid {
					t.Fatalf("%v: exit %d, want %d", err, exitcode.For(err), exitcode.Invalid)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Open blocked")
			}
		})
	}
	if _, err := d.Open("acme/advisories/none.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := d.Open("nobody/advisories/a.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing directory: %v, want fs.ErrNotExist", err)
	}
}
