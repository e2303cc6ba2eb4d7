package adapters

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// unzstd decodes one staged .zst file.
func unzstd(t *testing.T, name string, b []byte) string {
	t.Helper()
	d, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, err := d.DecodeAll(b, nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out)
}

func lines(docs ...testDoc) string {
	var b strings.Builder
	for _, d := range docs {
		b.WriteString(d.canon + "\n")
	}
	return b.String()
}

func TestJSONRaw(t *testing.T) {
	r := mustRun(t, "json:raw", newFixture(t, true, allDocs...), runOpts{})
	got := checkStage(t, r.stage)
	want := []struct {
		path  string
		lines string
		n     int
	}{
		// Plan order: tenant, then subject (pkg:cargo before pkg:golang), then id.
		{"data/raw/advisories.jsonl.zst", lines(advH2, advNet, advText), 3},
		{"data/raw/sboms.jsonl.zst", lines(sbomPay), 1},
		{"data/raw/vex.jsonl.zst", lines(vexNet), 1},
	}
	var paths []string
	for i, f := range staged(t, r.stage) {
		paths = append(paths, f.Path)
		if i >= len(want) {
			continue
		}
		w := want[i]
		if f.Path != w.path || f.Records != w.n {
			t.Errorf("file %d: %s with %d records, want %s with %d", i, f.Path, f.Records, w.path, w.n)
		}
		if s := unzstd(t, f.Path, got[f.Path]); s != w.lines {
			t.Errorf("%s:\n got %s\nwant %s", f.Path, s, w.lines)
		}
	}
	if len(paths) != len(want) {
		t.Fatalf("staged %q, want the three raw files only", paths)
	}

	// Events report each file as staged, without a clock.
	st, _ := r.stage.Lookup("data/raw/advisories.jsonl.zst")
	var seen []string
	for _, l := range strings.Split(strings.TrimSuffix(r.events, "\n"), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("event %q: %v", l, err)
		}
		seen = append(seen, ev["event"].(string))
		if ev["event"] == "adapter.complete" && ev["output"] == st.Path {
			if ev["sha256"] != st.SHA256 || ev["bytes"] != float64(st.Size) || ev["records"] != float64(3) || ev["adapter"] != "json:raw" {
				t.Errorf("adapter.complete for %s: %v, staged %+v", st.Path, ev, st)
			}
		}
	}
	if w := []string{"adapter.start", "adapter.complete", "adapter.start", "adapter.complete", "adapter.start", "adapter.complete"}; !slices.Equal(seen, w) {
		t.Errorf("events %q, want %q", seen, w)
	}
}

// TestJSONRawEmptyType: a type without documents still gets its file, a
// valid zstd frame of no lines, so every json:raw bundle has the same files.
func TestJSONRawEmptyType(t *testing.T) {
	r := mustRun(t, "json:raw", newFixture(t, false, advH2), runOpts{})
	got := checkStage(t, r.stage)
	for _, p := range []string{"data/raw/sboms.jsonl.zst", "data/raw/vex.jsonl.zst"} {
		f, ok := r.stage.Lookup(p)
		if !ok || f.Records != 0 || f.Size == 0 {
			t.Errorf("%s: %+v %v, want a non-empty file of 0 records", p, f, ok)
		}
		if s := unzstd(t, p, got[p]); s != "" {
			t.Errorf("%s holds %q", p, s)
		}
	}
	if !bytes.Equal(got["data/raw/sboms.jsonl.zst"], got["data/raw/vex.jsonl.zst"]) {
		t.Error("two empty outputs differ")
	}
}

func TestJSONPolicy(t *testing.T) {
	r := mustRun(t, "json:policy", newFixture(t, true, allDocs...), runOpts{})
	got := checkStage(t, r.stage)
	var paths []string
	for _, f := range staged(t, r.stage) {
		paths = append(paths, f.Path)
	}
	want := []string{"data/policy/findings.jsonl.zst", "data/policy/snapshot.json",
		"data/raw/advisories.jsonl.zst", "data/raw/sboms.jsonl.zst", "data/raw/vex.jsonl.zst"}
	if !slices.Equal(paths, want) {
		t.Fatalf("staged %q, want %q", paths, want)
	}
	if s := unzstd(t, "findings", got["data/policy/findings.jsonl.zst"]); s != lines(findLodash) {
		t.Errorf("findings.jsonl:\n got %s\nwant %s", s, lines(findLodash))
	}
	if f, _ := r.stage.Lookup("data/policy/findings.jsonl.zst"); f.Records != 1 {
		t.Errorf("findings: %d records, want 1", f.Records)
	}
	if s := string(got["data/policy/snapshot.json"]); s != snapCanon+"\n" {
		t.Errorf("snapshot.json:\n got %s\nwant %s", s, snapCanon+"\n")
	}
	// The streamed path of the snapshot (no Bytes) gives the same file.
	s := mustRun(t, "json:policy", newFixture(t, true, allDocs...), runOpts{small: -1})
	if b := tree(t, s.stage.Dir)["data/policy/snapshot.json"]; !bytes.Equal(b, got["data/policy/snapshot.json"]) {
		t.Errorf("streamed snapshot.json: %s", b)
	}
}

// TestZstdConcurrency: the encoder NewZstd makes writes the same bytes as
// a single-goroutine one, at every level a contract may name, for input
// written in uneven pieces (compressible and random, over several blocks).
func TestZstdConcurrency(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var src bytes.Buffer
	for src.Len() < 12<<20 {
		if rng.IntN(3) == 0 {
			b := make([]byte, rng.IntN(100000))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			src.Write(b)
			continue
		}
		for range rng.IntN(2000) {
			fmt.Fprintf(&src, `{"id":"GHSA-%d","affected":[1,2,3]}`+"\n", rng.IntN(100))
		}
	}
	cuts := make([]int, 0, 1000)
	for n := 0; n < src.Len(); n += 1 + rng.IntN(70000) {
		cuts = append(cuts, n)
	}
	encode := func(level, concurrency int) []byte {
		var out bytes.Buffer
		zw, err := newZstd(&out, level, concurrency)
		if err != nil {
			t.Fatal(err)
		}
		b := src.Bytes()
		for i, c := range cuts {
			end := len(b)
			if i+1 < len(cuts) {
				end = cuts[i+1]
			}
			if _, err := zw.Write(b[c:end]); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	for _, level := range []int{1, 3, 9, 19} {
		one := encode(level, 1)
		for _, c := range []int{zstdConcurrency, 4} {
			if got := encode(level, c); !bytes.Equal(got, one) {
				t.Errorf("level %d: concurrency %d writes %d bytes that differ from concurrency 1's %d", level, c, len(got), len(one))
			}
		}
	}
}
