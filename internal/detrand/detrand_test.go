package detrand

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
)

func read(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVector pins the construction: a change to it changes every
// deterministic export, which must be a deliberate format decision. The
// value was computed independently with Python's cryptography package (HKDF,
// AES-CTR).
func TestVector(t *testing.T) {
	got := hex.EncodeToString(read(t, New([]byte("seed"), "data/a.json"), 48))
	const want = "da4725456f258e5b981009387f98ce76a73721f82f6e938c0e917fda0a3df31b5357d0d20b42758e9e0e9777a8822270"
	if got != want {
		t.Fatalf("New(seed, data/a.json) starts\n%s\nwant\n%s", got, want)
	}
}

// TestDocumented recomputes the stream from the package documentation with
// the standard library alone.
func TestDocumented(t *testing.T) {
	seed, label := []byte("another seed"), "x"
	s := sha256.Sum256(seed)
	key, err := hkdf.Key(sha256.New, s[:], nil, "stella-export/detrand/v1\x00"+label, 32)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 1000)
	cipher.NewCTR(block, make([]byte, 16)).XORKeyStream(want, want)
	if got := read(t, New(seed, label), 1000); !bytes.Equal(got, want) {
		t.Fatal("stream differs from AES-256-CTR under the documented HKDF key")
	}
}

func TestSameInputsSameBytes(t *testing.T) {
	a := read(t, New([]byte("seed"), "l"), 4096)
	// Read the same stream in odd pieces: the bytes do not depend on how
	// they are asked for.
	r := New([]byte("seed"), "l")
	var b []byte
	for _, n := range []int{1, 15, 16, 17, 100, 1000, 2947} {
		b = append(b, read(t, r, n)...)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed and label gave different bytes")
	}
}

func TestDifferentInputsDifferentBytes(t *testing.T) {
	base := read(t, New([]byte("seed"), "l"), 64)
	for name, r := range map[string]io.Reader{
		"label":          New([]byte("seed"), "m"),
		"seed":           New([]byte("seed2"), "l"),
		"label prefix":   New([]byte("seed"), "l2"),
		"empty label":    New([]byte("seed"), ""),
		"seed-label mix": New([]byte("seedl"), ""),
	} {
		if got := read(t, r, 64); bytes.Equal(got, base) {
			t.Errorf("a different %s gave the same bytes", name)
		}
	}
}
