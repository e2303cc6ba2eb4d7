package verify

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"strings"
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
	if _, err := bundle.Write(context.Background(), &buf, bundle.List(srcs), docs, bundle.Options{}); err != nil {
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

// BenchmarkVerifyNames measures verify's memory on bundles of many empty
// files: 20,000 with 3.7 KB names (74 MB of names in a bundle of about
// 1.3 MB), and 200,000 with short names. B/op is what Verify allocates,
// peak-heap-MB the most heap seen while it ran (sampled every millisecond,
// garbage not yet collected included; a measurement, not a test).
func BenchmarkVerifyNames(b *testing.B) {
	long := "data/" + strings.Repeat("d", 240) + "/"
	for len(long) < 3600 {
		long += strings.Repeat("e", 240) + "/"
	}
	for _, bc := range []struct {
		name string
		n    int
		dir  string
	}{
		{"20000x3.7KB", 20000, long},
		{"200000x20B", 200000, "data/x/"},
	} {
		b.Run(bc.name, func(b *testing.B) { benchNames(b, bc.n, bc.dir) })
	}
}

func benchNames(b *testing.B, n int, dir string) {
	srcs := make([]bundle.Source, n)
	for i := range srcs {
		srcs[i] = memSource(fmt.Sprintf("%s%06d.json", dir, i), nil)
	}
	var buf bytes.Buffer
	if _, err := bundle.Write(context.Background(), &buf, bundle.List(srcs), docs, bundle.Options{}); err != nil {
		b.Fatal(err)
	}
	raw := buf.Bytes()
	srcs, buf = nil, bytes.Buffer{}
	b.ReportAllocs()
	var peak uint64
	for b.Loop() {
		var rep *Report
		peak = max(peak, peakHeap(func() {
			var err error
			if rep, err = Verify(context.Background(), bytes.NewReader(raw), Options{ContentOnly: true}); err != nil {
				b.Fatal(err)
			}
		}))
		runtime.KeepAlive(rep)
	}
	b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
}

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
