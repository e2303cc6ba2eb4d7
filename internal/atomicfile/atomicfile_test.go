package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
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
