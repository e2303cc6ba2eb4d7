package envelope

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

func fuzzSeeds(f *testing.F) {
	for _, n := range []int{0, 1, 100, ChunkSize, ChunkSize + 1} {
		data := encrypt(f, plaintext(n), key1, "fuzz")
		f.Add(data)
		f.Add(data[:len(data)-1])
		f.Add(data[:95])
	}
	f.Add([]byte(Magic))
	f.Add([]byte{})
}

// FuzzReadHeader: whatever the input, ReadHeader never panics, and a
// header it accepts has a valid key id and encodes back to the bytes it
// was read from.
func FuzzReadHeader(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		h, err := ReadHeader(r)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || exitcode.For(err) != exitcode.Verify {
				t.Fatalf("%v: not an *Error (exit 1)", err)
			}
			return
		}
		if CheckKeyID(h.KeyID) != nil || h.Version != Version || h.ChunkSize != ChunkSize {
			t.Fatalf("accepted %+v", h)
		}
		if h.Len() != len(b)-r.Len() || !bytes.Equal(h.encode(), b[:h.Len()]) {
			t.Fatalf("header of %d bytes read from %d bytes", h.Len(), len(b)-r.Len())
		}
	})
}

// FuzzNewReader: whatever the input, reading it never panics, every
// failure is an *Error (exit 1), and what is returned, before an error or
// at EOF, is authentic plaintext (all inputs that authenticate were
// encrypted from plaintext(n)), even with a Lookup that has a key for every
// key id.
func FuzzNewReader(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decrypt(b, anyID(key1))
		if !bytes.Equal(got, plaintext(len(got))) {
			t.Fatalf("returned %d bytes that were never encrypted", len(got))
		}
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) || exitcode.For(err) != exitcode.Verify {
			t.Fatalf("%v: not an *Error (exit 1)", err)
		}
		if err := Rewrap(bytes.NewReader(b), io.Discard, anyID(key1), key2, randFor("fuzz")); !errors.As(err, &e) {
			t.Fatalf("Rewrap of a file that does not decrypt: %v", err)
		}
	})
}
