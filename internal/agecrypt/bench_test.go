package agecrypt

import (
	"bytes"
	"io"
	"testing"
)

const benchSize = 16 << 20

// BenchmarkEncrypt and BenchmarkDecrypt measure age-mode throughput
// (MB/s) on 16 MiB. Live memory stays at a few 64 KiB chunks whatever the
// size; age's reader allocates a fresh chunk buffer per chunk (B/op grows
// with the size), which the garbage collector takes back at once.
func BenchmarkEncrypt(b *testing.B) {
	rs, err := ParseRecipients([]string{vecRecipient})
	if err != nil {
		b.Fatal(err)
	}
	plain := plaintext(benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		w, err := Encrypt(io.Discard, AgeRecipients(rs))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(w, bytes.NewReader(plain)); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	rs, err := ParseRecipients([]string{vecRecipient})
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := Encrypt(&buf, AgeRecipients(rs))
	io.Copy(w, bytes.NewReader(plaintext(benchSize)))
	w.Close()
	file := buf.Bytes()
	ids := vecIDs(b)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		r, err := Decrypt(bytes.NewReader(file), ids)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
