package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/plan"
)

// peakHeap samples the live heap (runtime/metrics) every millisecond
// until stop is called, and returns the largest value seen.
func peakHeap() (stop func() uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var (
		mu   sync.Mutex
		peak uint64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			mu.Lock()
			peak = max(peak, s[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// BenchmarkRun runs json:raw and mirror:full with --package on a source
// of small documents (STELLA_BENCH_DOCS of them, 20,000 by default) and
// reports the peak live heap of Execute (the plan is built first, outside
// the measurement). Compare two document counts to see how memory grows:
//
//	STELLA_BENCH_DOCS=200000 go test ./internal/run -run '^$' -bench Run -benchtime 1x
func BenchmarkRun(b *testing.B) {
	n := 20000
	if s := os.Getenv("STELLA_BENCH_DOCS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	manyDocs(b, filepath.Join(dir, "evidence"), n)
	for _, profile := range []string{"json:raw", "mirror:full"} {
		b.Run(fmt.Sprintf("%s/%d", profile, n), func(b *testing.B) {
			name := strings.ReplaceAll(profile, ":", "-")
			c := contractFile(b, dir, name+".yaml", profile, "")
			var peak uint64
			i := 0
			for b.Loop() {
				b.StopTimer()
				p, _, base, err := plan.Build(context.Background(), c, plan.Options{})
				if err != nil {
					b.Fatal(err)
				}
				out := filepath.Join(dir, fmt.Sprintf("%s-%d", name, i))
				i++
				runtime.GC()
				stop := peakHeap()
				b.StartTimer()
				if _, err := Execute(context.Background(), p, c.SourceDir, base, Options{OutDir: out, Package: out + ".tgz"}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				peak = max(peak, stop())
				os.RemoveAll(out)
				os.Remove(out + ".tgz")
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}
