package plan

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// bigContract writes a contract over n generated documents of every type
// (advisories, VEX, SBOMs, findings), named so that walk order and plan
// order differ.
func bigContract(t testing.TB, n int) *contract.Contract {
	t.Helper()
	dir := t.TempDir()
	put := func(rel, body string) {
		p := filepath.Join(dir, "evidence", filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		k := n - i
		switch i % 4 {
		case 0:
			put(fmt.Sprintf("acme/advisories/%02d/%06d.json", i%9, i), fmt.Sprintf(
				`{"schema_version":"1.6.0","id":"GHSA-%06d","modified":"2025-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"p%d"}}]}`, k, i%17))
		case 1:
			put(fmt.Sprintf("acme/vex/%06d.json", i), fmt.Sprintf(
				`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://vex.example/%06d","timestamp":"2025-05-01T00:00:00Z","statements":[{"vulnerability":{"name":"GHSA-%06d"},"products":[{"@id":"pkg:npm/p%d@1"}],"status":"fixed"}]}`, k, k, i%5))
		case 2:
			put(fmt.Sprintf("acme/sboms/%06d.json", i), fmt.Sprintf(
				`{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"urn:uuid:00000000-0000-0000-0000-%012d","version":1,"metadata":{"timestamp":"2024-08-01T00:00:00Z","component":{"type":"container","name":"c%d","purl":"pkg:oci/c%d@sha256:abc"}},"components":[]}`, k, i%7, i%7))
		case 3:
			put(fmt.Sprintf("acme/policy/s1/findings/%06d.json", i), fmt.Sprintf(
				`{"id":"fnd-%06d","tenant":"acme","snapshot_id":"s1","purl":"pkg:npm/p%d@1","advisory_id":"A","status":"affected","severity":"high","evaluated_at":"2025-06-30T00:00:00Z"}`, k, i%11))
		}
	}
	put("acme/policy/s1/snapshot.json", `{"snapshot_id":"s1","tenant":"acme","policy_version":"1","inputs_hash":"sha256:`+strings.Repeat("c", 64)+`","decision_trace":{"rules":[]}}`)
	path := filepath.Join(dir, "c.yaml")
	body := "apiVersion: stella-export/v1\nkind: EvidenceExport\nexport_id: urn:stella:export:acme:big\ntenant: acme\nprofile: mirror:full\nsource: evidence\npolicy_snapshot: s1\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := contract.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func planBytes(t *testing.T, c *contract.Contract, sp evidence.Spill) ([]byte, bool) {
	t.Helper()
	p, _, _, err := Build(context.Background(), c, Options{Spill: sp})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	return encode(t, p), p.Inputs.(*evidence.SortedDocs).Spilled()
}

// TestBudgetSameBytes: a plan built under a budget so small that the sort
// spills hundreds of runs (and merges them in several passes) has the
// bytes of one sorted in memory; so does a plan read back under that
// budget and written again. No spill file outlives the plan.
func TestBudgetSameBytes(t *testing.T) {
	c := bigContract(t, 2000)
	want, spilled := planBytes(t, c, evidence.Spill{Dir: t.TempDir()})
	if spilled {
		t.Fatal("the default budget spilled")
	}
	spill := t.TempDir()
	got, spilled := planBytes(t, c, evidence.Spill{Dir: spill, Budget: 4096})
	if !spilled {
		t.Fatal("a 4 KiB budget did not spill")
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the plan's bytes depend on the memory budget")
	}
	q, err := Read(context.Background(), writeTemp(t, want), evidence.Spill{Dir: spill, Budget: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if !q.Inputs.(*evidence.SortedDocs).Spilled() {
		t.Fatal("reading under a 4 KiB budget did not spill")
	}
	if again := encode(t, q); !bytes.Equal(again, want) {
		t.Fatal("a plan read under a small budget writes other bytes")
	}
	if err := q.Check(c); err != nil {
		t.Fatal(err)
	}
	q.Close()
	if left, _ := os.ReadDir(spill); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// TestReadOrder: a plan's inputs must be in strictly increasing plan order
// (type, tenant, subject, id, path), which also rules out a document
// listed twice; a crafted plan that breaks it is refused with exit 3, and
// what was spilled meanwhile is removed.
func TestReadOrder(t *testing.T) {
	good := string(encode(t, build(t, "mirror-full.yaml")))
	start := strings.Index(good, `"inputs":[`) + len(`"inputs":[`)
	end := start + strings.Index(good[start:], `}],"invalid":`) + 1
	// Split the inputs array into its objects (they hold no '}' of their own
	// except as the closing brace: flat objects with string arrays).
	var items []string
	for rest := good[start:end]; rest != ""; {
		i := strings.Index(rest, "},{")
		if i < 0 {
			items = append(items, rest)
			break
		}
		items = append(items, rest[:i+1])
		rest = rest[i+2:]
	}
	if len(items) < 3 {
		t.Fatalf("sample plan has %d inputs", len(items))
	}
	with := func(list ...string) string { return good[:start] + strings.Join(list, ",") + good[end:] }
	if _, err := read(t, writeTemp(t, []byte(with(items...)))); err != nil {
		t.Fatalf("the split went wrong: %v", err)
	}
	swapped := append([]string{items[1], items[0]}, items[2:]...)
	dup := append([]string{items[0], items[0]}, items[1:]...)
	for _, tc := range []struct{ name, body, want string }{
		{"swapped", with(swapped...), "inputs[1]: "},
		{"duplicate", with(dup...), "inputs[1]: the same document as inputs[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spill := t.TempDir()
			path := writeTemp(t, []byte(tc.body))
			_, err := Read(context.Background(), path, evidence.Spill{Dir: spill, Budget: 1})
			if err == nil {
				t.Fatal("accepted")
			}
			if exitcode.For(err) != exitcode.Invalid || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("exit %d: %v; want exit 3 naming %s and %q", exitcode.For(err), err, path, tc.want)
			}
			if left, _ := os.ReadDir(spill); len(left) != 0 {
				t.Fatalf("left behind: %v", left)
			}
		})
	}
}
