package bundle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
)

// countedList is a payload held in memory whose files count how often
// they are opened.
type countedList struct {
	srcs  List
	opens map[string]*atomic.Int32
}

func newCountedList(files map[string]string) *countedList {
	c := &countedList{opens: map[string]*atomic.Int32{}}
	for name, data := range files {
		n := new(atomic.Int32)
		c.opens[name] = n
		b := []byte(data)
		c.srcs = append(c.srcs, Source{Name: name, Size: int64(len(b)), Origin: name,
			Open: func() (io.ReadCloser, error) {
				n.Add(1)
				return io.NopCloser(bytes.NewReader(b)), nil
			}})
	}
	c.srcs = append(c.srcs, Source{Name: "d/"})
	return c
}

func (c *countedList) All() iter.Seq2[Source, error] { return c.srcs.All() }

func (c *countedList) reset() {
	for _, n := range c.opens {
		n.Store(0)
	}
}

func knownOf(entries ...KnownFile) iter.Seq2[KnownFile, error] {
	return func(yield func(KnownFile, error) bool) {
		for _, e := range entries {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func known(name, data string) KnownFile {
	return KnownFile{Name: name, Size: int64(len(data)), Digest: digest.Sum([]byte(data))}
}

var knownFiles = map[string]string{
	"a.txt":           "alpha\n",
	"d/b.txt":         "bravo\n",
	"d/c.txt":         "charlie\n",
	layout.Provenance: `{"format":"stella-export/provenance/v1"}` + "\n",
	"z.txt":           "zulu\n",
}

func knownRender(Summary) (Docs, error) {
	return Docs{Manifest: []byte(`{"x":1}` + "\n"), Readme: []byte("r\n")}, nil
}

// TestKnownNotOpened: without Known every file is opened twice (hashing
// pass, writing pass); a file whose name and size Known gives is opened
// once, by the writing pass; a file Known leaves out, or gives with
// another size, is hashed as before; entries naming no file are skipped.
// The bundle's bytes are the same in every case.
func TestKnownNotOpened(t *testing.T) {
	srcs := newCountedList(knownFiles)
	var want bytes.Buffer
	if _, err := Write(context.Background(), &want, srcs, knownRender, Options{}); err != nil {
		t.Fatal(err)
	}
	for name, n := range srcs.opens {
		if got := n.Load(); got != 2 {
			t.Errorf("without Known: %s opened %d times, want 2", name, got)
		}
	}

	all := knownOf(known("a.txt", knownFiles["a.txt"]), known("d/b.txt", knownFiles["d/b.txt"]),
		known("d/c.txt", knownFiles["d/c.txt"]), known(layout.Provenance, knownFiles[layout.Provenance]),
		known("z.txt", knownFiles["z.txt"]))
	wrongSize := known("d/c.txt", knownFiles["d/c.txt"])
	wrongSize.Size++
	partial := knownOf(known("0-gone", "x"), known("a.txt", knownFiles["a.txt"]), known("d/a-gone", "x"),
		wrongSize, known(layout.Provenance, knownFiles[layout.Provenance]), known("y-gone", "x"))
	for _, tc := range []struct {
		name  string
		known iter.Seq2[KnownFile, error]
		twice []string // the files hashed in the first pass
	}{
		{"all known", all, nil},
		{"some known", partial, []string{"d/b.txt", "d/c.txt", "z.txt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srcs.reset()
			var got bytes.Buffer
			if _, err := Write(context.Background(), &got, srcs, knownRender, Options{Known: tc.known}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("the bundle differs from the one written without Known")
			}
			for name, n := range srcs.opens {
				w := int32(1)
				for _, h := range tc.twice {
					if h == name {
						w = 2
					}
				}
				if got := n.Load(); got != w {
					t.Errorf("%s opened %d times, want %d", name, got, w)
				}
			}
		})
	}
}

// TestKnownSameBundle: a directory packaged with the correct digests as
// Known, signed (provenance.json is signed by its digest from the hashing
// pass), gives the bytes it gives without them.
func TestKnownSameBundle(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, sampleDir, dir, 0o644, time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC), -1)
	prov := `{"format":"stella-export/provenance/v1"}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, layout.Provenance), []byte(prov), 0o644); err != nil {
		t.Fatal(err)
	}
	tree, err := DirSources(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	var ks []KnownFile
	for s, err := range tree.All() {
		if err != nil {
			t.Fatal(err)
		}
		if s.Dir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(s.Name)))
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, KnownFile{Name: s.Name, Size: int64(len(b)), Digest: digest.Sum(b)})
	}
	if len(ks) < 5 {
		t.Fatalf("only %d files in the sample", len(ks))
	}
	opt := Options{Signer: fakeSigner{deterministic: true}}
	var want, got bytes.Buffer
	if _, err := WriteDir(context.Background(), &want, DirConfig{Dir: dir, Options: opt}); err != nil {
		t.Fatal(err)
	}
	opt.Known = knownOf(ks...)
	if _, err := WriteDir(context.Background(), &got, DirConfig{Dir: dir, Options: opt}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("the bundle written with Known differs from the one written without")
	}
}

// TestKnownWrongDigest: a Known entry of the right size and a wrong digest
// is taken by the hashing pass, so checksums.txt would give that digest;
// the writing pass hashes the file and refuses it (ErrChanged, exit 5),
// and Write returns no result. The same holds for provenance.json, whose
// signature is made from the known digest.
func TestKnownWrongDigest(t *testing.T) {
	for _, name := range []string{"d/b.txt", layout.Provenance} {
		t.Run(name, func(t *testing.T) {
			srcs := newCountedList(knownFiles)
			bad := known(name, knownFiles[name])
			bad.Digest = digest.Sum([]byte("not " + knownFiles[name]))
			res, err := Write(context.Background(), io.Discard, srcs, knownRender,
				Options{Known: knownOf(bad), Signer: fakeSigner{deterministic: true}})
			if !errors.Is(err, ErrChanged) || exitcode.For(err) != exitcode.Conflict || res != nil {
				t.Fatalf("res = %v, err = %v (exit %d), want no result, ErrChanged and exit 5", res, err, exitcode.For(err))
			}
			if !strings.Contains(err.Error(), name+": ") || !strings.Contains(err.Error(), bad.Digest.Hex()) {
				t.Errorf("err = %v: does not name %s and the digest taken from Known", err, name)
			}
		})
	}
}

// TestKnownErrors: an error from the Known iterator is Write's error, and
// so are entries out of order; nothing is written.
func TestKnownErrors(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name  string
		known iter.Seq2[KnownFile, error]
		want  string
	}{
		{"iterator error", func(yield func(KnownFile, error) bool) {
			if yield(known("a.txt", knownFiles["a.txt"]), nil) {
				yield(KnownFile{}, boom)
			}
		}, "read known payload digests: boom"},
		{"out of order", knownOf(known("d/b.txt", knownFiles["d/b.txt"]), known("a.txt", knownFiles["a.txt"])),
			`known payload digests out of order: "a.txt" after "d/b.txt"`},
		{"repeated", knownOf(known("a.txt", knownFiles["a.txt"]), known("a.txt", knownFiles["a.txt"])),
			`known payload digests out of order: "a.txt" after "a.txt"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			rendered := false
			_, err := Write(context.Background(), &buf, newCountedList(knownFiles), func(s Summary) (Docs, error) {
				rendered = true
				return knownRender(s)
			}, Options{Known: tc.known})
			if err == nil || err.Error() != tc.want || rendered || buf.Len() != 0 {
				t.Fatalf("err = %v, rendered %v, %d bytes written; want %q", err, rendered, buf.Len(), tc.want)
			}
			if tc.name == "iterator error" && !errors.Is(err, boom) {
				t.Errorf("err = %v does not wrap the iterator's error", err)
			}
		})
	}
}
