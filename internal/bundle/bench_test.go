package bundle

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchTree writes n files of size bytes each (half random, half text).
func benchTree(b *testing.B, n int, size int) string {
	b.Helper()
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 1))
	buf := make([]byte, size)
	for i := range n {
		if i%2 == 0 {
			for j := range buf {
				buf[j] = byte(rng.Uint32())
			}
		} else {
			for j := range buf {
				buf[j] = "abcdefgh {}\":,\n"[rng.IntN(15)]
			}
		}
		p := filepath.Join(dir, fmt.Sprintf("d%d", i%7), fmt.Sprintf("f%05d", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkWriteDir measures packaging throughput (hash pass + compressed
// write) of 64 MiB in 64 files; bytes/op stays flat as the payload grows.
func BenchmarkWriteDir(b *testing.B) {
	for _, tc := range []struct{ n, size int }{{64, 1 << 20}, {4096, 16 << 10}} {
		b.Run(fmt.Sprintf("%dx%dKiB", tc.n, tc.size>>10), func(b *testing.B) {
			dir := benchTree(b, tc.n, tc.size)
			b.SetBytes(int64(tc.n * tc.size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := WriteDir(context.Background(), io.Discard, DirConfig{Dir: dir}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
