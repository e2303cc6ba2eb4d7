package run

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/plan"
)

// manyDocs writes a source of n documents of every type, over several
// tenants' worth of ecosystems and products, a few of them large enough to
// be streamed (over a SmallDoc of 4 KiB).
func manyDocs(t testing.TB, root string, n int) {
	ecos := [][2]string{{"npm", "left-pad"}, {"Go", "golang.org/x/net"}, {"PyPI", "requests"}, {"crates.io", "h2"}, {"Maven", "org.x:y"}}
	for i := range n {
		e := ecos[i%len(ecos)]
		extra := ""
		if i%97 == 0 {
			extra = strings.Repeat(" padding", 800)
		}
		switch i % 10 {
		case 0:
			write(t, root, fmt.Sprintf("acme/vex/%03d/v%d.json", i%7, i), fmt.Sprintf(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://vex.example/%d","timestamp":"2024-03-01T00:00:00Z",
	  "statements":[{"vulnerability":{"name":"GHSA-%d"},"products":[{"@id":"pkg:npm/%s-%d@1.0.%d"}],"status":"fixed","impact_statement":"%s"}]}`, i, i, e[1], i%13, i, extra))
		case 1:
			write(t, root, fmt.Sprintf("acme/sboms/s%d.json", i), fmt.Sprintf(`{"bomFormat":"CycloneDX","specVersion":"1.5","serialNumber":"urn:uuid:%d","metadata":{"timestamp":"2024-04-01T00:00:00Z",
	  "component":{"name":"app%d","purl":"pkg:oci/app%d@sha256:%d"}},"components":[{"purl":"pkg:npm/%s@4.17.%d"}]}`, i, i%11, i%11, i, e[1], i%5))
		case 2:
			write(t, root, fmt.Sprintf("acme/policy/snap-1/findings/%02d/f%d.json", i%5, i), fmt.Sprintf(`{"id":"fnd-%d","tenant":"acme","snapshot_id":"snap-1","purl":"pkg:npm/%s@1.%d.0","advisory_id":"GHSA-%d","status":"affected","severity":"high","evaluated_at":"2024-05-01T00:00:00Z"}`, i, e[1], i%9, i))
		default:
			write(t, root, fmt.Sprintf("acme/advisories/%s/%03d/a%d.json", e[0], i%13, i), osv(fmt.Sprintf("GHSA-%04d-%04d", i%17, i), "2024-01-01T00:00:00Z", e[0], fmt.Sprintf("%s-%d", e[1], i%29), extra))
		}
	}
	write(t, root, "acme/policy/snap-1/snapshot.json", `{"snapshot_id":"snap-1","tenant":"acme","policy_version":"2024.1","inputs_hash":"sha256:`+strings.Repeat("cd", 32)+`","decision_trace":[]}`)
}

// TestSameBytesOnAnyCores: the plan, the export directory and the bundle
// do not depend on the number of cores documents are read, canonicalised
// and compressed on, nor on a memory budget so small that every document
// record, staged file record and index entry spills, nor on whether the
// plan kept the documents' canonical forms for the run (run from a
// contract) or the run reads the source again (run from a plan file); no
// spill file is left behind.
func TestSameBytesOnAnyCores(t *testing.T) {
	dir := t.TempDir()
	manyDocs(t, filepath.Join(dir, "evidence"), 1200)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, profile := range []string{"json:policy", "mirror:full"} {
		c := contractFile(t, dir, strings.ReplaceAll(profile, ":", "-")+".yaml", profile, "policy_snapshot: snap-1\n")
		var first struct {
			plan, bundle []byte
			tree         map[string]string
		}
		for _, tc := range []struct {
			procs  int
			budget int64
			keep   bool
		}{{1, 0, false}, {2, 0, true}, {4, 0, false}, {1, 1, true}, {2, 1, false}, {2, 1, true}} {
			procs := tc.procs
			runtime.GOMAXPROCS(procs)
			out := filepath.Join(dir, fmt.Sprintf("%s-%d-%d-%v", strings.ReplaceAll(profile, ":", "-"), procs, tc.budget, tc.keep))
			p, _, base, err := plan.Build(context.Background(), c, plan.Options{KeepCanonical: tc.keep,
				Spill: evidence.Spill{Dir: dir, Budget: tc.budget}})
			if err != nil {
				t.Fatal(err)
			}
			var pb bytes.Buffer
			if err := plan.Write(&pb, p); err != nil {
				t.Fatal(err)
			}
			if _, err := Execute(context.Background(), p, c.SourceDir, base, Options{OutDir: out, Package: out + ".tgz", SmallDoc: 4 << 10, MemoryBudget: tc.budget}); err != nil {
				t.Fatal(err)
			}
			p.Close()
			if left, _ := filepath.Glob(filepath.Join(dir, ".stella-export-*")); len(left) > 0 {
				t.Fatalf("left behind: %q", left)
			}
			bundle, err := os.ReadFile(out + ".tgz")
			if err != nil {
				t.Fatal(err)
			}
			tree := listTree(t, out)
			if first.tree == nil {
				first.plan, first.bundle, first.tree = pb.Bytes(), bundle, tree
				if p.Totals.Documents != 1200 {
					t.Fatalf("%s: %d documents planned, want 1200", profile, p.Totals.Documents)
				}
				continue
			}
			if !bytes.Equal(pb.Bytes(), first.plan) {
				t.Errorf("%s: GOMAXPROCS=%d budget %d: the plan differs from GOMAXPROCS=1's", profile, procs, tc.budget)
			}
			if !bytes.Equal(bundle, first.bundle) {
				t.Errorf("%s: GOMAXPROCS=%d budget %d: the bundle differs from GOMAXPROCS=1's", profile, procs, tc.budget)
			}
			for p, want := range first.tree {
				if tree[p] != want {
					t.Errorf("%s: GOMAXPROCS=%d budget %d: %s differs from GOMAXPROCS=1's", profile, procs, tc.budget, p)
				}
			}
			if len(tree) != len(first.tree) {
				t.Errorf("%s: GOMAXPROCS=%d budget %d: %d files, GOMAXPROCS=1 wrote %d", profile, procs, tc.budget, len(tree), len(first.tree))
			}
		}
	}
}

// TestReadOnce: a run of a plan built with KeepCanonical reads no small
// document from the source again. Its documents are removed (and a large
// one kept, which is streamed from the source) between plan and run; the
// export is still byte for byte the one a run that reads the source makes.
func TestReadOnce(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "evidence")
	manyDocs(t, src, 300)
	c := contractFile(t, dir, "raw.yaml", "json:raw", "")
	var bundles [2][]byte
	for i, keep := range []bool{false, true} {
		p, _, base, err := plan.Build(context.Background(), c, plan.Options{KeepCanonical: keep, Spill: evidence.Spill{Dir: dir}})
		if err != nil {
			t.Fatal(err)
		}
		if keep {
			removed := 0
			for d, err := range p.Inputs.All() {
				if err != nil {
					t.Fatal(err)
				}
				if d.Size < 4<<10 {
					if err := os.Remove(filepath.Join(src, filepath.FromSlash(d.Path))); err != nil {
						t.Fatal(err)
					}
					removed++
				}
			}
			if removed == 0 {
				t.Fatal("no document removed: the test tests nothing")
			}
		}
		out := filepath.Join(dir, fmt.Sprint("out", i))
		if _, err := Execute(context.Background(), p, c.SourceDir, base, Options{OutDir: out, Package: out + ".tgz", SmallDoc: 4 << 10}); err != nil {
			t.Fatalf("keep %v: %v", keep, err)
		}
		p.Close()
		if bundles[i], err = os.ReadFile(out + ".tgz"); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(bundles[0], bundles[1]) {
		t.Error("the bundle of the run that kept canonical forms differs from the one that read the source")
	}
}
