package bundle

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/digest"
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

// BenchmarkWriteDirMany packages trees of many small files and reports the
// peak heap (peak-heap-MiB: the most heap objects seen, garbage included;
// peak-live-MiB: the most heap live after a collection), which must stay
// flat as the number of files grows: neither the listing nor the digests of
// every file are held. "tree" spreads the files over directories of 1,000;
// "flat" puts them all in one directory, whose listing is then held.
//
// Each is run twice: as `package DIR` does, and with every file's digest
// given as Options.Known ("-known"), as `run --package` does with the
// digests it recorded while staging (read from a file, as the stage's
// records are), so that only the writing pass reads the files.
//
// By default it runs on 10,000 files, to keep `go test -bench .` quick; set
// STELLA_EXPORT_BENCH_FILES=100000,1000000 for the real figures. Trees of
// 1,000,000 files or more are generated once into
// $TMPDIR/stella-export-bench-<layout>-<n> and reused (about 4 GiB of disk
// each; remove them when done); smaller ones go to b.TempDir.
func BenchmarkWriteDirMany(b *testing.B) {
	counts := []int{10_000}
	if s := os.Getenv("STELLA_EXPORT_BENCH_FILES"); s != "" {
		counts = counts[:0]
		for f := range strings.SplitSeq(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("STELLA_EXPORT_BENCH_FILES: %q is not a positive count", f)
			}
			counts = append(counts, n)
		}
	}
	tmp := b.TempDir() // the trees outlive each sub-benchmark, for its "-known" twin
	for _, layout := range []string{"tree", "flat"} {
		for _, n := range counts {
			if layout == "flat" && n > 100_000 {
				continue
			}
			var dir, digests string
			for _, withKnown := range []bool{false, true} {
				name := fmt.Sprintf("%s-%d", layout, n)
				if withKnown {
					name += "-known"
				}
				b.Run(name, func(b *testing.B) {
					if dir == "" {
						dir = manyFiles(b, tmp, layout, n)
					}
					var opt Options
					if withKnown {
						if digests == "" {
							digests = knownDigests(b, tmp, dir)
						}
						opt.Known = readKnown(digests)
					}
					b.ReportAllocs()
					var peak, live uint64
					for b.Loop() {
						runtime.GC()
						stop := watchHeap()
						_, err := WriteDir(context.Background(), io.Discard, DirConfig{Dir: dir, Options: opt})
						p, l := stop()
						if err != nil {
							b.Fatal(err)
						}
						peak, live = max(peak, p), max(live, l)
					}
					b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
					b.ReportMetric(float64(live)/(1<<20), "peak-live-MiB")
				})
			}
		}
	}
}

// manyFiles returns a directory of n files of 40 to 295 bytes, laid out
// as "tree" (d0000/f0000000, 1,000 per directory) or "flat", below tmp
// unless it is cached.
func manyFiles(b *testing.B, tmp, layout string, n int) string {
	b.Helper()
	var root, done string
	if n >= 1_000_000 {
		cache := filepath.Join(os.TempDir(), fmt.Sprintf("stella-export-bench-%s-%d", layout, n))
		root, done = filepath.Join(cache, "tree"), filepath.Join(cache, "complete")
		if _, err := os.Stat(done); err == nil {
			return root
		}
		if err := os.RemoveAll(cache); err != nil {
			b.Fatal(err)
		}
	} else {
		root = filepath.Join(tmp, fmt.Sprintf("%s-%d", layout, n))
	}
	rng := rand.New(rand.NewPCG(uint64(n), 2))
	buf := make([]byte, 300)
	for i := range n {
		p := filepath.Join(root, fmt.Sprintf("f%07d.json", i))
		if layout == "tree" {
			p = filepath.Join(root, fmt.Sprintf("d%04d", i/1000), fmt.Sprintf("f%07d.json", i))
		}
		if i%1000 == 0 || layout == "flat" && i == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		m := 40 + rng.IntN(256)
		for j := range m {
			buf[j] = "abcdefgh {}\":,\n"[rng.IntN(15)]
		}
		if err := os.WriteFile(p, buf[:m], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if done != "" {
		if err := os.WriteFile(done, nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return root
}

// watchHeap samples the heap every millisecond until the returned function
// is called, which gives the largest heap-objects and live-heap figures
// seen.
func watchHeap() (stop func() (peak, live uint64)) {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	quit, out := make(chan struct{}), make(chan [2]uint64)
	go func() {
		var m [2]uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			m[0] = max(m[0], samples[0].Value.Uint64())
			m[1] = max(m[1], samples[1].Value.Uint64())
			select {
			case <-quit:
				out <- m
				return
			case <-t.C:
			}
		}
	}()
	return func() (uint64, uint64) {
		close(quit)
		m := <-out
		return m[0], m[1]
	}
}

// knownDigests writes the digest, size and name of every file below dir,
// one a line in byte-wise order of names, to a file in tmp and returns
// its path.
func knownDigests(b *testing.B, tmp, dir string) string {
	b.Helper()
	tree, err := DirSources(dir, false)
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.CreateTemp(tmp, "known-*")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	for s, err := range tree.All() {
		if err != nil {
			b.Fatal(err)
		}
		if s.Dir() {
			continue
		}
		data, err := os.ReadFile(s.Origin)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(w, "%s %d %s\n", digest.Sum(data).Hex(), len(data), s.Name)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	return f.Name()
}

// readKnown yields the digests knownDigests wrote, streaming them from
// the file.
func readKnown(path string) iter.Seq2[KnownFile, error] {
	return func(yield func(KnownFile, error) bool) {
		f, err := os.Open(path)
		if err != nil {
			yield(KnownFile{}, err)
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			hexd, rest, _ := strings.Cut(sc.Text(), " ")
			size, name, _ := strings.Cut(rest, " ")
			d, err := digest.ParseHex(hexd)
			var n int64
			if err == nil {
				n, err = strconv.ParseInt(size, 10, 64)
			}
			if !yield(KnownFile{Name: name, Size: n, Digest: d}, err) || err != nil {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(KnownFile{}, err)
		}
	}
}
