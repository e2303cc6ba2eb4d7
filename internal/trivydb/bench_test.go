package trivydb

import (
	"context"
	"testing"
)

// BenchmarkWrite100k builds a database from 100,000 generated advisories
// over ten ecosystems (issue 15's scale target: well under 30 s on 2 cores).
//
//	go test ./internal/trivydb -run '^$' -bench Write100k -benchtime 1x -benchmem
func BenchmarkWrite100k(b *testing.B) {
	advs := synthetic(100_000)
	b.ResetTimer()
	for b.Loop() {
		bl, err := New(Options{Metadata: pinned})
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range advs {
			bl.Add(a)
		}
		if _, err := bl.Write(context.Background(), b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
}
