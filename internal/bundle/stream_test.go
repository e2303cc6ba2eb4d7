package bundle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
)

// TestTreeOrder: the walk alone yields names in strictly increasing
// byte-wise order, directories as "name/", where sorting each directory's
// names as they are and sorting full paths disagree.
func TestTreeOrder(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a/b", "a.txt", "a0", "A", "a-b/c", "a/b-c/d", "a/b.c", "a/b/e", "é", "a!/x"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		if p != "a/b" {
			os.WriteFile(filepath.Join(dir, p), []byte(p), 0o644)
		}
	}
	os.MkdirAll(filepath.Join(dir, "empty"), 0o755)
	tree, err := DirSources(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for s, err := range tree.All() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.Name)
	}
	want := "A a!/ a!/x a-b/ a-b/c a.txt a/ a/b-c/ a/b-c/d a/b.c a/b/ a/b/e a0 empty/ é"
	if g := strings.Join(got, " "); g != want {
		t.Fatalf("walk order:\n got %s\nwant %s", g, want)
	}
}

// TestChangedBetweenPasses: a file or directory that appears or
// disappears between the hashing pass and the writing pass (here, while
// render runs) is refused with ErrChanged, exit 5, like a file whose
// content changed; the payload read twice must be the same payload.
func TestChangedBetweenPasses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(dir string) error
	}{
		{"file added", func(dir string) error { return os.WriteFile(filepath.Join(dir, "d/b2.txt"), []byte("new\n"), 0o644) }},
		{"file added last", func(dir string) error { return os.WriteFile(filepath.Join(dir, "z.txt"), []byte("new\n"), 0o644) }},
		{"file removed", func(dir string) error { return os.Remove(filepath.Join(dir, "d/b.txt")) }},
		{"last file removed", func(dir string) error { return os.Remove(filepath.Join(dir, "d/c.txt")) }},
		{"directory added", func(dir string) error { return os.Mkdir(filepath.Join(dir, "d/e"), 0o755) }},
		{"file became a directory", func(dir string) error {
			p := filepath.Join(dir, "d/b.txt")
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o755)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.Mkdir(filepath.Join(dir, "d"), 0o755)
			for _, n := range []string{"a.txt", "d/b.txt", "d/c.txt"} {
				os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644)
			}
			tree, err := DirSources(dir, false)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			_, err = Write(context.Background(), &buf, tree, func(Summary) (Docs, error) {
				return Docs{Manifest: []byte("{}\n"), Readme: []byte("r\n")}, tc.change(dir)
			}, Options{})
			if !errors.Is(err, ErrChanged) || exitcode.For(err) != exitcode.Conflict {
				t.Fatalf("err = %v (exit %d), want ErrChanged and exit 5", err, exitcode.For(err))
			}
		})
	}
}

// TestSummaryEntries: while render runs, Summary.Entries gives the payload
// lines of checksums.txt in order and Summary the counts and root; once
// Write has returned, Entries yields an error instead of stale data, and
// the temporary file is gone from TempDir, after success and failure.
func TestSummaryEntries(t *testing.T) {
	tmp := t.TempDir()
	var seen []checksums.Entry
	var sum Summary
	render := func(s Summary) (Docs, error) {
		sum = s
		for e, err := range s.Entries() {
			if err != nil {
				return Docs{}, err
			}
			seen = append(seen, e)
		}
		return Docs{Manifest: []byte("{}\n"), Readme: []byte("r\n")}, nil
	}
	srcs := List{memSource("b/y", []byte("yy")), memSource("a", []byte("a")), {Name: "c/"}, memSource("b/x", []byte("xxx"))}
	var buf bytes.Buffer
	res, err := Write(context.Background(), &buf, srcs, render, Options{TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	f, err := checksums.Parse(bytes.NewReader(entries(t, buf.Bytes())[layout.Checksums]))
	if err != nil {
		t.Fatal(err)
	}
	var payload []checksums.Entry
	for _, e := range f.Entries {
		if !layout.Reserved(e.Path) {
			payload = append(payload, e)
		}
	}
	if len(seen) != 3 || len(payload) != 3 {
		t.Fatalf("entries %v, checksums.txt payload %v", seen, payload)
	}
	for i := range seen {
		if seen[i] != payload[i] {
			t.Errorf("entry %d: %v, checksums.txt says %v", i, seen[i], payload[i])
		}
	}
	if sum.Files != 3 || sum.Bytes != 6 || res.Payload != (Summary{Files: 3, Bytes: 6, Root: sum.Root}) || res.Root != f.Root {
		t.Errorf("summary %+v, result %+v, checksums root %s", sum, res, f.Root)
	}
	for _, s := range []Summary{sum, res.Payload} {
		for _, err := range s.Entries() {
			if !errors.Is(err, errEntriesGone) {
				t.Errorf("Entries after Write: %v", err)
			}
		}
	}
	_, err = Write(context.Background(), io.Discard, srcs, func(Summary) (Docs, error) {
		return Docs{}, errors.New("no docs")
	}, Options{TempDir: tmp})
	if err == nil {
		t.Fatal("render's error was lost")
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("left in TempDir: %v", ents)
	}
}

// TestListDuplicate: a List with a name twice is refused before anything
// is written.
func TestListDuplicate(t *testing.T) {
	srcs := List{memSource("a", []byte("1")), memSource("b", nil), memSource("a", []byte("2"))}
	var buf bytes.Buffer
	_, err := Write(context.Background(), &buf, srcs, func(Summary) (Docs, error) { return Docs{}, nil }, Options{})
	if err == nil || !strings.Contains(err.Error(), `duplicate payload name "a"`) || exitcode.For(err) != exitcode.Invalid || buf.Len() != 0 {
		t.Fatalf("err = %v (exit %d), %d bytes written", err, exitcode.For(err), buf.Len())
	}
}
