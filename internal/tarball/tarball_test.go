package tarball

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

type file struct {
	name string
	data []byte
}

func build(t testing.TB, opt Options, files []file, chunk int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f.name, "/") {
			if err := w.Dir(f.name); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var r io.Reader = bytes.NewReader(f.data)
		if chunk > 0 {
			r = &chunkReader{r: r, n: chunk}
		}
		if err := w.File(f.name, int64(len(f.data)), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

func sample() []file {
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 3<<20+12345)
	for i := range big {
		big[i] = byte(rng.IntN(16))
	}
	return []file{
		{"README.md", []byte("# hello\n")},
		{"a.txt", []byte("a")},
		{"a/b/c.bin", big},
		{"a/d/", nil},
		{"empty", nil},
		{"z/" + strings.Repeat("long", 40), []byte("long name")},
	}
}

func TestDeterministicAcrossConcurrencyAndChunking(t *testing.T) {
	a := build(t, Options{Concurrency: 1}, sample(), 0)
	b := build(t, Options{Concurrency: 8}, sample(), 777)
	if !bytes.Equal(a, b) {
		t.Fatal("bytes differ between concurrency 1 and 8 / chunked writes")
	}
	c := build(t, Options{ModTime: time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))}, sample(), 0)
	if bytes.Equal(a, c) {
		t.Fatal("a different pinned time gave the same bytes")
	}
}

func TestRoundTrip(t *testing.T) {
	raw := build(t, Options{}, sample(), 0)
	// gzip header: MTIME pinned, OS 255, no FNAME/FCOMMENT.
	if raw[3]&0x18 != 0 || raw[9] != 255 {
		t.Fatalf("gzip header flags=%#x os=%d", raw[3], raw[9])
	}
	if got := int64(raw[4]) | int64(raw[5])<<8 | int64(raw[6])<<16 | int64(raw[7])<<24; got != DefaultModTime.Unix() {
		t.Fatalf("gzip MTIME %d", got)
	}
	r, err := NewReader(bytes.NewReader(raw), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	want := map[string][32]byte{}
	for _, f := range sample() {
		want[f.name] = sha256.Sum256(f.data)
	}
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
		if e.UID != 0 || e.GID != 0 || e.Uname != "" || !e.ModTime.Equal(DefaultModTime) || len(e.PAXKeys) != 0 {
			t.Errorf("%s: header %+v", e.Name, e)
		}
		if e.Dir {
			if e.Mode != 0o755 {
				t.Errorf("%s mode %o", e.Name, e.Mode)
			}
			continue
		}
		if e.Mode != 0o644 {
			t.Errorf("%s mode %o", e.Name, e.Mode)
		}
		h := sha256.New()
		io.Copy(h, r)
		if [32]byte(h.Sum(nil)) != want[e.Name] {
			t.Errorf("%s content differs", e.Name)
		}
	}
	wantNames := "README.md a.txt a/ a/b/ a/b/c.bin a/d/ empty z/ z/" + strings.Repeat("long", 40)
	if got := strings.Join(names, " "); got != wantNames {
		t.Fatalf("entries %s\nwant    %s", got, wantNames)
	}
}

func TestWriterRefuses(t *testing.T) {
	w, _ := NewWriter(io.Discard, Options{})
	if err := w.File("b", 1, strings.NewReader("b")); err != nil {
		t.Fatal(err)
	}
	if err := w.File("a", 1, strings.NewReader("a")); !errors.Is(err, ErrOrder) {
		t.Errorf("out of order: %v", err)
	}
	if err := w.File("../c", 1, strings.NewReader("c")); exitcode.For(err) != exitcode.Invalid {
		t.Errorf("unsafe: %v", err)
	}
	if err := w.File("c", 5, strings.NewReader("abc")); exitcode.For(err) != exitcode.Conflict {
		t.Errorf("short: %v", err)
	}
	w, _ = NewWriter(io.Discard, Options{})
	if err := w.File("d", 1, strings.NewReader("abc")); exitcode.For(err) != exitcode.Conflict {
		t.Errorf("long: %v", err)
	}
}

func readAll(raw []byte) error {
	r, err := NewReader(bytes.NewReader(raw), Limits{})
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		_, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
	}
}

func TestReaderTrailing(t *testing.T) {
	raw := build(t, Options{}, sample()[:2], 0)
	if err := readAll(raw); err != nil {
		t.Fatalf("clean archive: %v", err)
	}
	var second bytes.Buffer
	gw := gzip.NewWriter(&second)
	gw.Write([]byte("x"))
	gw.Close()
	for name, bad := range map[string][]byte{
		"garbage":       append(append([]byte{}, raw...), "junk"...),
		"second member": append(append([]byte{}, raw...), second.Bytes()...),
		"truncated":     raw[:len(raw)-9],
	} {
		err := readAll(bad)
		if err == nil || exitcode.For(err) != exitcode.Invalid {
			t.Errorf("%s: %v (exit %d)", name, err, exitcode.For(err))
		}
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

// TestNewReaderHeaderErrors: only bytes that are not gzip are "not a gzip
// stream" (exit 3); an error reading them keeps its own class.
func TestNewReaderHeaderErrors(t *testing.T) {
	eio := &fs.PathError{Op: "read", Path: "bundle.tgz", Err: syscall.EIO}
	tests := []struct {
		name string
		r    io.Reader
		kind error // a *FormatError of this kind, or nil
		is   error // errors.Is(err, is) otherwise
		code int
	}{
		{"plain tar", strings.NewReader(strings.Repeat("x", 600)), ErrNotGzip, nil, exitcode.Invalid},
		{"empty", strings.NewReader(""), ErrTruncated, nil, exitcode.Invalid},
		{"short header", strings.NewReader("\x1f\x8b\x08"), ErrTruncated, nil, exitcode.Invalid},
		{"i/o error", failingReader{eio}, nil, syscall.EIO, exitcode.IO},
		{"i/o error after a few bytes", io.MultiReader(strings.NewReader("\x1f\x8b"), failingReader{eio}), nil, syscall.EIO, exitcode.IO},
		{"cancelled", failingReader{context.Canceled}, nil, context.Canceled, exitcode.Interrupted},
		{"terminated", failingReader{exitcode.ErrTerminated}, nil, exitcode.ErrTerminated, exitcode.Terminated},
	}
	for _, tt := range tests {
		_, err := NewReader(tt.r, Limits{})
		var fe *FormatError
		switch {
		case err == nil:
			t.Errorf("%s: no error", tt.name)
			continue
		case tt.kind != nil && (!errors.As(err, &fe) || !errors.Is(fe.Kind, tt.kind)):
			t.Errorf("%s: %v, want a FormatError of kind %v", tt.name, err, tt.kind)
		case tt.kind == nil && (errors.As(err, &fe) || !errors.Is(err, tt.is)):
			t.Errorf("%s: %v, want %v and no FormatError", tt.name, err, tt.is)
		}
		if got := exitcode.For(err); got != tt.code {
			t.Errorf("%s: exit %d (%v), want %d", tt.name, got, err, tt.code)
		}
	}
}
