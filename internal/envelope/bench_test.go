package envelope

import (
	"bytes"
	"io"
	"runtime"
	"testing"

	"github.com/stella-ops/stella-export/internal/detrand"
)

const benchSize = 16 << 20

func BenchmarkEncrypt(b *testing.B) {
	p := plaintext(benchSize)
	b.SetBytes(benchSize)
	for b.Loop() {
		w, err := NewWriter(io.Discard, key1, detrand.New(seed, "bench"))
		if err != nil {
			b.Fatal(err)
		}
		w.Write(p)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	data := encrypt(b, plaintext(benchSize), key1, "bench")
	b.SetBytes(benchSize)
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data), only(key1))
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != benchSize {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkRewrap(b *testing.B) {
	data := encrypt(b, plaintext(benchSize), key1, "bench")
	b.SetBytes(benchSize)
	for b.Loop() {
		if err := Rewrap(bytes.NewReader(data), io.Discard, only(key1), key2, detrand.New(seed, "bench")); err != nil {
			b.Fatal(err)
		}
	}
}

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestMemoryBounded: encrypting, decrypting and rewrapping 64 MiB through
// pipes allocates a few chunk buffers, not the file.
func TestMemoryBounded(t *testing.T) {
	const size = 64 << 20
	const limit = 1 << 20
	var rewrapped int64
	got := allocated(func() {
		encR, encW := io.Pipe()
		go func() {
			w, err := NewWriter(encW, key1, detrand.New(seed, "big"))
			if err == nil {
				_, err = io.Copy(w, io.LimitReader(detrand.New(seed, "plaintext"), size))
			}
			if err == nil {
				err = w.Close()
			}
			encW.CloseWithError(err)
		}()
		wrapR, wrapW := io.Pipe()
		go func() {
			wrapW.CloseWithError(Rewrap(encR, wrapW, only(key1), key2, detrand.New(seed, "rewrap")))
		}()
		r, err := NewReader(wrapR, only(key2))
		if err != nil {
			t.Error(err)
			return
		}
		rewrapped, err = io.Copy(io.Discard, r)
		if err != nil {
			t.Error(err)
		}
	})
	if rewrapped != size {
		t.Fatalf("decrypted %d bytes, want %d", rewrapped, size)
	}
	if got > limit {
		t.Errorf("encrypting, rewrapping and decrypting %d MiB allocated %d bytes, want at most %d", size>>20, got, limit)
	}
	t.Logf("allocated %d bytes for %d MiB", got, size>>20)
}
