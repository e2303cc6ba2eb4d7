package tarball_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/hostile"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// readAll reads every entry and its content as verify does, returning the
// first error (nil at a clean end) and the reader for its counters.
func readAll(data []byte, lim tarball.Limits) (*tarball.Reader, error) {
	rd, err := tarball.NewReader(bytes.NewReader(data), lim)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	for {
		_, err := rd.Next()
		if err == io.EOF {
			return rd, nil
		}
		if err != nil {
			return rd, err
		}
		if _, err := io.Copy(io.Discard, rd); err != nil {
			return rd, err
		}
	}
}

// TestHostileCorpus: the reader refuses every archive-level case with the
// expected kind, exit code 3 and a one-line message; it accepts the
// well-formed archives whose bundle content lies (the verifier's job).
func TestHostileCorpus(t *testing.T) {
	for _, c := range hostile.Corpus() {
		t.Run(c.Name, func(t *testing.T) {
			rd, err := readAll(c.Data, tarball.Limits{})
			if c.Level == hostile.Bundle {
				if err != nil {
					t.Fatalf("well-formed archive refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want %v", c.Kind)
			}
			var fe *tarball.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FormatError", err, err)
			}
			if !errors.Is(err, c.Kind) {
				t.Errorf("error %q is not %v", err, c.Kind)
			}
			if got := exitcode.For(err); got != c.Code {
				t.Errorf("exit code %d, want %d", got, c.Code)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.Want) || strings.ContainsAny(msg, "\n\r") {
				t.Errorf("message %q: want one line containing %q", msg, c.Want)
			}
			if rd != nil && rd.InflatedBytes() > 256<<20 {
				t.Errorf("inflated %d bytes before refusing", rd.InflatedBytes())
			}
		})
	}
}

// TestBombBoundedWork: a 16 GiB bomb (16 MB compressed) is refused after a
// bounded amount of inflation, whatever its declared size.
func TestBombBoundedWork(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 16 MB bomb")
	}
	rd, err := readAll(hostile.Bomb(16<<10), tarball.Limits{})
	if !errors.Is(err, tarball.ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if n := rd.InflatedBytes(); n > 256<<20 {
		t.Fatalf("inflated %d MiB before refusing", n>>20)
	}
}

func TestLimits(t *testing.T) {
	var many []byte
	{
		var buf bytes.Buffer
		w, err := tarball.NewWriter(&buf, tarball.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 50; i++ {
			name := string(rune('a'+i/26)) + string(rune('a'+i%26))
			if err := w.File(name, 1, strings.NewReader("x")); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		many = buf.Bytes()
	}
	if _, err := readAll(many, tarball.Limits{}); err != nil {
		t.Fatal(err)
	}
	_, err := readAll(many, tarball.Limits{MaxEntries: 10})
	if !errors.Is(err, tarball.ErrTooLarge) || !strings.Contains(err.Error(), "more than 10 entries") {
		t.Fatalf("MaxEntries: %v", err)
	}
	_, err = readAll(many, tarball.Limits{MaxBytes: 8 << 10})
	if !errors.Is(err, tarball.ErrTooLarge) || !strings.Contains(err.Error(), "uncompressed bytes") {
		t.Fatalf("MaxBytes: %v", err)
	}
	// A small ratio limit catches ordinary data once past the grace.
	_, err = readAll(hostile.Bomb(8), tarball.Limits{MaxRatio: 10, RatioGrace: 1 << 20})
	if !errors.Is(err, tarball.ErrTooLarge) || !strings.Contains(err.Error(), "ratio above 10:1") {
		t.Fatalf("MaxRatio: %v", err)
	}
	if _, err := readAll(hostile.Bomb(8), tarball.Limits{}); err != nil {
		t.Fatalf("8 MiB of zeros is within the grace: %v", err)
	}
}
