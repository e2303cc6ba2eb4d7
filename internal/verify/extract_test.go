package verify

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/layout"
)

// memSink collects what Extract hands over, one buffer per file.
type memSink struct {
	files  map[string]*bytes.Buffer
	sizes  map[string]int64
	closed map[string]bool
}

type memFile struct {
	*bytes.Buffer
	name string
	s    *memSink
}

func (f memFile) Close() error { f.s.closed[f.name] = true; return nil }

func (s *memSink) extract(name string, size int64) (*memFile, error) {
	b := &bytes.Buffer{}
	s.files[name], s.sizes[name] = b, size
	return &memFile{Buffer: b, name: name, s: s}, nil
}

// TestExtractSeesVerifiedBytes: Extract is offered every regular file of
// the outer bundle (checksums.txt and inner bundles included) with its
// size, receives exactly its bytes, and each writer is closed; after a nil
// error the digests of Report.Checksums are those of the bytes handed over.
func TestExtractSeesVerifiedBytes(t *testing.T) {
	inner := makeBundle(t, map[string]string{"x.txt": "x"})
	raw := makeBundle(t, map[string]string{"data/a.json": "{}\n", "b.txt": "b", "in.tgz": string(inner)})
	s := &memSink{files: map[string]*bytes.Buffer{}, sizes: map[string]int64{}, closed: map[string]bool{}}
	var names []string
	rep, err := run(t, raw, Options{Extract: func(name string, size int64) (io.WriteCloser, error) {
		names = append(names, name)
		return s.extract(name, size)
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"README.md", "b.txt", "checksums.txt", "data/a.json", "export.json", "in.tgz", "verify-export.sh"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("offered %v, want %v", names, want)
	}
	if len(rep.Inner) != 1 || s.files["in.tgz"].String() != string(inner) {
		t.Errorf("inner bundle: verified %d, extracted %d of %d bytes", len(rep.Inner), s.files["in.tgz"].Len(), len(inner))
	}
	if s.files["data/a.json"].String() != "{}\n" || s.files["b.txt"].String() != "b" {
		t.Errorf("payloads extracted as %q and %q", s.files["data/a.json"], s.files["b.txt"])
	}
	sums, err := checksums.Parse(bytes.NewReader(s.files[layout.Checksums].Bytes()))
	if err != nil {
		t.Fatalf("extracted checksums.txt: %v", err)
	}
	if sums.Root != rep.Checksums().Root {
		t.Errorf("extracted checksums.txt has root %s, verified %s", sums.Root, rep.Checksums().Root)
	}
	for _, ent := range rep.Checksums().Entries {
		b := s.files[ent.Path]
		if b == nil || digest.SHA256(sha256.Sum256(b.Bytes())) != ent.Digest || s.sizes[ent.Path] != int64(b.Len()) {
			t.Errorf("%s: extracted bytes do not have the verified digest and size", ent.Path)
		}
	}
	if len(s.closed) != len(want) || !maps.Equal(s.closed, map[string]bool{"README.md": true, "b.txt": true, "checksums.txt": true,
		"data/a.json": true, "export.json": true, "in.tgz": true, "verify-export.sh": true}) {
		t.Errorf("closed %v", s.closed)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }
func (f failWriter) Close() error              { return nil }

// TestExtractErrorsStop: an error from Extract or from its writer stops
// the verification and is returned as is, whatever entry it happens in.
func TestExtractErrorsStop(t *testing.T) {
	raw := makeBundle(t, map[string]string{"data/a.json": "{}\n", "in.tgz": string(makeBundle(t, map[string]string{"x": "x"}))})
	boom := errors.New("boom")
	for _, at := range []string{"README.md", layout.Checksums, "data/a.json", "export.json", "in.tgz"} {
		t.Run(at, func(t *testing.T) {
			_, err := run(t, raw, Options{Extract: func(name string, size int64) (io.WriteCloser, error) {
				if name == at {
					return nil, boom
				}
				return nil, nil
			}})
			if !errors.Is(err, boom) {
				t.Errorf("Extract error: %v", err)
			}
			_, err = run(t, raw, Options{Extract: func(name string, size int64) (io.WriteCloser, error) {
				if name == at {
					return failWriter{boom}, nil
				}
				return nil, nil
			}})
			if !errors.Is(err, boom) {
				t.Errorf("write error: %v", err)
			}
		})
	}
}
