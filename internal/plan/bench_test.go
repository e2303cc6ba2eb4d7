package plan

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/evidence"
)

// benchSource returns a contract over n small generated advisories (about
// 300 bytes each, 1,000 per directory, ids unrelated to walk order). The
// source is kept in the temporary directory between runs, since writing
// 200,000 files takes longer than planning them.
func benchSource(b *testing.B, n int) *contract.Contract {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "stella-export-bench-plan-"+strconv.Itoa(n))
	path := filepath.Join(dir, "c.yaml")
	if _, err := os.Stat(path); err != nil {
		os.RemoveAll(dir)
		ecos := []string{"npm", "PyPI", "Go", "Maven", "crates.io"}
		for i := range n {
			p := filepath.Join(dir, "evidence", "acme", "advisories", fmt.Sprintf("%04d", i/1000), fmt.Sprintf("%06d.json", i))
			if i%1000 == 0 {
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					b.Fatal(err)
				}
			}
			k := (i * 7919) % n
			body := fmt.Sprintf(`{"schema_version":"1.6.0","id":"GHSA-%06d","modified":"2024-%02d-01T00:00:00Z","summary":"generated advisory %d","affected":[{"package":{"ecosystem":%q,"name":"pkg-%d"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.%d.0"}]}]}]}`,
				k, 1+i%12, i, ecos[i%len(ecos)], i%5000, i%9)
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		body := "apiVersion: stella-export/v1\nkind: EvidenceExport\nexport_id: urn:stella:export:acme:bench\ntenant: acme\nprofile: json:raw\nsource: evidence\n"
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	c, err := contract.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// peakHeap samples the live heap every few milliseconds while f runs and
// returns the largest sample, in bytes.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var peak atomic.Uint64
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		if m.HeapAlloc > peak.Load() {
			peak.Store(m.HeapAlloc)
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	f()
	sample()
	close(done)
	wg.Wait()
	return peak.Load()
}

// BenchmarkPlanMemory resolves and writes a plan (evidence.Resolve, then
// Write to nowhere; Build adds the adapters' outputs) and reads one back
// (Read, then an iteration of its inputs), for sources of 20,000 and
// 200,000 small documents, reporting the peak live heap (peak-heap-MiB,
// sampled every 5 ms): under a budget it should not grow with the number
// of documents. Run with
//
//	go test -run '^$' -bench PlanMemory -benchtime 1x ./internal/plan
func BenchmarkPlanMemory(b *testing.B) {
	for _, n := range []int{20000, 200000} {
		for _, budget := range []int64{0, 4 << 20} {
			name := fmt.Sprintf("docs=%d/budget=%s", n, map[int64]string{0: "default", 4 << 20: "4MiB"}[budget])
			b.Run("resolve/"+name, func(b *testing.B) {
				c := benchSource(b, n)
				sp := evidence.Spill{Dir: b.TempDir(), Budget: budget}
				var peak uint64
				for b.Loop() {
					peak = max(peak, peakHeap(func() {
						res, err := evidence.Resolve(context.Background(), evidence.Config{Source: c.SourceDir, Tenant: c.Tenant, Spill: sp})
						if err != nil {
							b.Fatal(err)
						}
						p := &Plan{Format: Format, Inputs: res.Docs, Excluded: res.Excluded, Invalid: res.Invalid, Ignored: res.Ignored}
						if err := Write(io.Discard, p); err != nil {
							b.Fatal(err)
						}
						p.Close()
					}))
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			})
			b.Run("build/"+name, func(b *testing.B) {
				c := benchSource(b, n)
				sp := evidence.Spill{Dir: b.TempDir(), Budget: budget}
				var peak uint64
				for b.Loop() {
					peak = max(peak, peakHeap(func() {
						p, _, _, err := Build(context.Background(), c, Options{Spill: sp})
						if err != nil {
							b.Fatal(err)
						}
						if err := Write(io.Discard, p); err != nil {
							b.Fatal(err)
						}
						p.Close()
					}))
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			})
			b.Run("read/"+name, func(b *testing.B) {
				c := benchSource(b, n)
				sp := evidence.Spill{Dir: b.TempDir(), Budget: budget}
				p, _, _, err := Build(context.Background(), c, Options{Spill: sp})
				if err != nil {
					b.Fatal(err)
				}
				path := filepath.Join(b.TempDir(), "plan.json")
				f, err := os.Create(path)
				if err != nil {
					b.Fatal(err)
				}
				if err := Write(f, p); err != nil {
					b.Fatal(err)
				}
				f.Close()
				p.Close()
				var peak uint64
				for b.Loop() {
					peak = max(peak, peakHeap(func() {
						q, err := Read(context.Background(), path, sp)
						if err != nil {
							b.Fatal(err)
						}
						for _, err := range q.Inputs.All() {
							if err != nil {
								b.Fatal(err)
							}
						}
						q.Close()
					}))
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			})
		}
	}
}
