package javadb

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// genRecords yields n records in Compare order without holding them:
// n/20 artifacts of 20 versions each, spread over 1,000 groups.
func genRecords(n int) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		var buf [8]byte
		for i := range n {
			a := i / 20
			binary.BigEndian.PutUint64(buf[:], uint64(i))
			r := Record{
				GroupID:     fmt.Sprintf("org.bench.g%04d", a%1000),
				ArtifactID:  fmt.Sprintf("artifact-%07d", a),
				Version:     fmt.Sprintf("1.%02d.0", i%20),
				SHA1:        sha1.Sum(buf[:]),
				ArchiveType: Jar,
			}
			if !yield(r, nil) {
				return
			}
		}
	}
}

// genSorted is genRecords in Compare order: groups vary slowest.
func genSorted(n int) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		arts := n / 20
		var buf [8]byte
		for g := range 1000 {
			for a := g; a < arts; a += 1000 {
				for v := range 20 {
					i := a*20 + v
					binary.BigEndian.PutUint64(buf[:], uint64(i))
					r := Record{
						GroupID:     fmt.Sprintf("org.bench.g%04d", g),
						ArtifactID:  fmt.Sprintf("artifact-%07d", a),
						Version:     fmt.Sprintf("1.%02d.0", v),
						SHA1:        sha1.Sum(buf[:]),
						ArchiveType: Jar,
					}
					if !yield(r, nil) {
						return
					}
				}
			}
		}
	}
}

// BenchmarkWrite writes 100,000 and 1,000,000 records straight to Write
// (already in order) and through a Collector with a 64 MiB budget (in any
// order), reporting the Go heap's peak and the process's peak RSS (SQLite's
// C memory included): both stay flat as the records grow tenfold.
//
//	go test ./internal/javadb -run '^$' -bench Write -benchtime 1x
func BenchmarkWrite(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("records=%d/write", n), func(b *testing.B) {
			var peak uint64
			for b.Loop() {
				dir := b.TempDir()
				resetPeakRSS()
				peak = max(peak, peakHeap(func() {
					st, err := Write(context.Background(), dir, genSorted(n), pinned)
					if err != nil || st.Indices != n {
						b.Fatalf("Write: %+v, %v", st, err)
					}
				}))
				reportSize(b, dir)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(peakRSS()/(1<<20), "peak-rss-MiB")
		})
		b.Run(fmt.Sprintf("records=%d/collect+write", n), func(b *testing.B) {
			var peak uint64
			for b.Loop() {
				dir := b.TempDir()
				resetPeakRSS()
				peak = max(peak, peakHeap(func() {
					c := NewCollector(context.Background(), b.TempDir(), 64<<20)
					defer c.Close()
					line := 0
					for r := range genRecords(n) {
						line++
						if err := c.Add(Entry{r, Pos{"java-index/bench.jsonl", line}}); err != nil {
							b.Fatal(err)
						}
					}
					out, err := c.Records(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					defer out.Close()
					st, err := Write(context.Background(), dir, out.All(), pinned)
					if err != nil || st.Indices != n {
						b.Fatalf("Write: %+v, %v", st, err)
					}
				}))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(peakRSS()/(1<<20), "peak-rss-MiB")
		})
	}
}

func reportSize(b *testing.B, dir string) {
	fi, err := os.Stat(filepath.Join(dir, DBPath))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/(1<<20), "db-MiB")
}

// peakHeap runs f and samples the live heap every millisecond.
func peakHeap(f func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	var mu sync.Mutex
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				metrics.Read(sample)
				mu.Lock()
				peak = max(peak, sample[0].Value.Uint64())
				mu.Unlock()
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	return peak
}

// resetPeakRSS resets VmHWM (Linux: 5 to /proc/self/clear_refs); where it
// cannot, peakRSS reports the process's peak so far.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSS() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}
