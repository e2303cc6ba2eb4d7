package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestCommitAndNoClobber(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.tgz")
	f, err := Create(p, false)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("one")
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("final name visible before Commit")
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Fatalf("content %q", b)
	}
	if _, err := Create(p, false); exitcode.For(err) != exitcode.Conflict {
		t.Fatalf("second Create: %v", err)
	}
	// A racing writer that appears between Create and Commit is not clobbered.
	os.Remove(p)
	g, _ := Create(p, false)
	g.WriteString("two")
	os.WriteFile(p, []byte("other"), 0o644)
	var ee *ExistsError
	if err := g.Commit(); !errors.As(err, &ee) {
		t.Fatalf("racing Commit: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "other" {
		t.Fatalf("clobbered: %q", b)
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Fatalf("leftovers: %v", got)
	}
}

func TestForceAndAbort(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	os.WriteFile(p, []byte("old"), 0o644)
	f, err := Create(p, true)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Fatalf("content %q", b)
	}
	g, _ := Create(filepath.Join(dir, "x"), false)
	g.WriteString("partial")
	if err := g.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, dir); len(got) != 1 || got[0] != "out" {
		t.Fatalf("after Abort: %v", got)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k.key")
	if err := WriteFile(p, []byte("one"), 0o600, false); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	var ex *ExistsError
	if err := WriteFile(p, []byte("two"), 0o600, false); !errors.As(err, &ex) {
		t.Fatalf("replaced without force: %v", err)
	}
	if err := WriteFile(p, []byte("two"), 0o644, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Fatalf("content %q", b)
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Fatalf("temporary files left: %v", got)
	}
}

// --force replaces regular files only: never a FIFO, a device, a directory
// or a symbolic link (which would be replaced, not followed), whether the
// special file was there at Create or appeared before Commit.
func TestForceReplacesOnlyRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("target", link); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, kind string }{
		// No device node here: on code that replaced them, a test run as
		// root would turn /dev/null into a file. A FIFO takes the same path.
		{fifo, "FIFO"}, {sub, "directory"}, {link, "symbolic link"},
	} {
		t.Run(tt.kind, func(t *testing.T) {
			before, err := os.Lstat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Create(tt.path, true)
			if err == nil || !strings.Contains(err.Error(), "is a "+tt.kind) || exitcode.For(err) != exitcode.Conflict {
				t.Fatalf("Create(%s, force) = %v, want a refusal (exit 5) naming a %s", tt.path, err, tt.kind)
			}
			if err := WriteFile(tt.path, []byte("x"), 0o644, true); exitcode.For(err) != exitcode.Conflict {
				t.Fatalf("WriteFile: %v", err)
			}
			after, err := os.Lstat(tt.path)
			if err != nil || after.Mode() != before.Mode() || !os.SameFile(before, after) {
				t.Fatalf("%s was replaced", tt.path)
			}
		})
	}
	// A FIFO made between Create and Commit is not replaced either.
	p := filepath.Join(dir, "late")
	f, err := Create(p, true)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("data")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); exitcode.For(err) != exitcode.Conflict {
		t.Fatalf("Commit over a FIFO: %v, want exit 5", err)
	}
	if st, err := os.Lstat(p); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v %v", st, err)
	}
	if got := entries(t, dir); len(got) != 4 {
		t.Fatalf("temporary files left: %v", got)
	}
}
