package verify

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stella-ops/stella-export/internal/bundle"
)

// BenchmarkVerify measures verification throughput over an in-memory
// bundle of 64 MiB (half random, half text).
func BenchmarkVerify(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	var srcs []bundle.Source
	for i := range 64 {
		data := make([]byte, 1<<20)
		for j := range data {
			if i%2 == 0 {
				data[j] = byte(rng.Uint32())
			} else {
				data[j] = "abcdefgh {}\":,\n"[rng.IntN(15)]
			}
		}
		srcs = append(srcs, memSource(string(rune('a'+i%26))+"/"+string(rune('a'+i/26)), data))
	}
	var buf bytes.Buffer
	if _, err := bundle.Write(context.Background(), &buf, srcs, docs, bundle.Options{}); err != nil {
		b.Fatal(err)
	}
	raw := buf.Bytes()
	b.SetBytes(64 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(context.Background(), bytes.NewReader(raw), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
