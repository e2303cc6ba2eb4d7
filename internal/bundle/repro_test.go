package bundle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

func copyTree(t *testing.T, src, dst string, mode fs.FileMode, mtime time.Time, uid int) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(out, b, mode); err != nil {
			return err
		}
		if err := os.Chmod(out, mode); err != nil {
			return err
		}
		if uid >= 0 {
			if err := os.Lchown(out, uid, uid+1); err != nil {
				return err
			}
		}
		return os.Chtimes(out, mtime, mtime)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReproducibleAcrossMetadata packages the same content with different
// file modes, mtimes, owners (when running as root), directory names and
// worker counts, and expects identical bytes.
func TestReproducibleAcrossMetadata(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	uid := -1
	if os.Geteuid() == 0 {
		uid = 4242
	}
	copyTree(t, sampleDir, a, 0o644, time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC), -1)
	copyTree(t, sampleDir, b, 0o600, time.Now(), uid)
	var x, y bytes.Buffer
	if _, err := WriteDir(context.Background(), &x, DirConfig{Dir: a, Options: Options{Concurrency: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteDir(context.Background(), &y, DirConfig{Dir: b, Options: Options{Concurrency: 7}}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x.Bytes(), y.Bytes()) {
		t.Fatal("same content, different metadata: bundles differ")
	}
	if !bytes.Equal(x.Bytes(), buildSample(t, Options{})) {
		t.Fatal("copied tree bundles differently from testdata/sample")
	}
}

// TestSortOrderIsBytewise covers names where per-directory sorting and
// byte-wise sorting of full paths disagree ("a.txt" < "a/" < "a0").
func TestSortOrderIsBytewise(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a/b", "a.txt", "a0", "A", "a-b/c", "é"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(p), 0o644)
	}
	var buf bytes.Buffer
	if _, err := WriteDir(context.Background(), &buf, DirConfig{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	ents := entriesInOrder(t, buf.Bytes())
	want := "A README.md a-b/ a-b/c a.txt a/ a/b a0 checksums.txt export.json verify-export.sh é"
	if got := strings.Join(ents, " "); got != want {
		t.Fatalf("order:\n got %s\nwant %s", got, want)
	}
}

func entriesInOrder(t *testing.T, raw []byte) []string {
	t.Helper()
	var names []string
	r := mustReader(t, raw)
	for {
		e, err := r.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
	}
}

// TestCancelStopsEarly cancels while hashing and while writing; Write
// returns the context error.
func TestCancelStopsEarly(t *testing.T) {
	for _, phase := range []string{"hashing", "writing"} {
		ctx, cancel := context.WithCancel(context.Background())
		p := &cancelAt{phase: phase, cancel: cancel}
		_, err := WriteDir(ctx, io.Discard, DirConfig{Dir: sampleDir, Options: Options{Progress: p}})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want context.Canceled", phase, err)
		}
		if exitcode.For(err) != exitcode.Interrupted {
			t.Errorf("%s: exit %d", phase, exitcode.For(err))
		}
	}
}

type cancelAt struct {
	phase, cur string
	cancel     func()
}

func (c *cancelAt) Phase(name string, total int64) { c.cur = name }
func (c *cancelAt) Add(n int64) {
	if c.cur == c.phase {
		c.cancel()
	}
}

// TestChangedInput detects a file that changes between hashing and writing.
func TestChangedInput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	os.WriteFile(path, []byte("before"), 0o644)
	p := &mutateOnWrite{path: path}
	_, err := WriteDir(context.Background(), io.Discard, DirConfig{Dir: dir, Options: Options{Progress: p}})
	if !errors.Is(err, ErrChanged) || exitcode.For(err) != exitcode.Conflict {
		t.Fatalf("err = %v (exit %d), want ErrChanged / 5", err, exitcode.For(err))
	}
}

type mutateOnWrite struct{ path string }

func (m *mutateOnWrite) Phase(name string, total int64) {
	if name == "writing" {
		os.WriteFile(m.path, []byte("after!"), 0o644)
	}
}
func (m *mutateOnWrite) Add(int64) {}
