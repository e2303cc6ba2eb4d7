package run

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/events"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/plan"
	"github.com/stella-ops/stella-export/internal/verify"
)

func write(t testing.TB, root, rel, body string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func osv(id, modified, eco, name string, extra string) string {
	return `{
  "schema_version": "1.6.0", "id": "` + id + `", "modified": "` + modified + `",
  "summary": "s` + extra + `", "database_specific": {"cvss": 7.50, "big": 12345678901234567890},
  "affected": [{"package": {"ecosystem": "` + eco + `", "name": "` + name + `"}}]
}`
}

// evidenceA is a small source; evidenceB changes one advisory, adds a VEX
// document and removes an SBOM.
func evidenceA(t *testing.T, root string) {
	write(t, root, "acme/advisories/a1.json", osv("GHSA-1111-1111-1111", "2024-01-01T00:00:00Z", "npm", "lodash", ""))
	write(t, root, "acme/advisories/a2.json", osv("GO-2024-0002", "2024-02-01T00:00:00Z", "Go", "golang.org/x/net", ""))
	write(t, root, "acme/vex/v1.json", `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://vex.example/1","timestamp":"2024-03-01T00:00:00Z",
	  "statements":[{"vulnerability":{"name":"GHSA-1111-1111-1111"},"products":[{"@id":"pkg:npm/lodash@4.17.20"}],"status":"fixed"}]}`)
	write(t, root, "acme/sboms/s1.json", `{"bomFormat":"CycloneDX","specVersion":"1.5","serialNumber":"urn:uuid:1","metadata":{"timestamp":"2024-04-01T00:00:00Z",
	  "component":{"name":"api","purl":"pkg:oci/api@sha256:1"}},"components":[{"purl":"pkg:npm/lodash@4.17.20"}]}`)
	write(t, root, "acme/sboms/s2.json", `{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"urn:uuid:2","metadata":{"timestamp":"2024-04-02T00:00:00Z",
	  "component":{"name":"web","purl":"pkg:oci/web@sha256:2"}},"components":[]}`)
	write(t, root, "acme/policy/snap-1/snapshot.json", `{"snapshot_id":"snap-1","tenant":"acme","policy_version":"2024.1","inputs_hash":"sha256:`+strings.Repeat("cd", 32)+`","decision_trace":[{"rule":"r1","result":"pass"}]}`)
	write(t, root, "acme/policy/snap-1/findings/f1.json", `{"id":"fnd-1","tenant":"acme","snapshot_id":"snap-1","purl":"pkg:npm/lodash@4.17.20","advisory_id":"GHSA-1111-1111-1111","status":"fixed","severity":"high","evaluated_at":"2024-05-01T00:00:00Z"}`)
}

func evidenceB(t *testing.T, root string) {
	evidenceA(t, root)
	write(t, root, "acme/advisories/a2.json", osv("GO-2024-0002", "2024-06-01T00:00:00Z", "Go", "golang.org/x/net", " (updated)"))
	write(t, root, "acme/vex/v2.json", `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://vex.example/2","timestamp":"2024-06-02T00:00:00Z",
	  "statements":[{"vulnerability":{"name":"GO-2024-0002"},"products":[{"@id":"pkg:golang/golang.org/x/net@v0.1.0"}],"status":"affected"}]}`)
	os.Remove(filepath.Join(root, "acme/sboms/s2.json"))
}

func contractFile(t testing.TB, dir, name, profile, extra string) *contract.Contract {
	t.Helper()
	body := "apiVersion: stella-export/v1\nkind: EvidenceExport\nexport_id: urn:stella:export:acme:" + strings.ReplaceAll(profile, ":", "-") +
		"\ntenant: acme\nprofile: " + profile + "\nsource: evidence\n" + extra
	p := filepath.Join(dir, name)
	write(t, dir, name, body)
	c, err := contract.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func execute(t *testing.T, c *contract.Contract, out, pkg string) (*plan.Plan, *Result) {
	t.Helper()
	ctx := context.Background()
	p, _, base, err := plan.Build(ctx, c, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Execute(ctx, p, c.SourceDir, base, Options{OutDir: out, Package: pkg})
	if err != nil {
		t.Fatal(err)
	}
	return p, res
}

func verifyBundle(t *testing.T, path string) *verify.Report {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := verify.Verify(context.Background(), f, verify.Options{})
	if err != nil {
		t.Fatalf("verify %s: %v", path, err)
	}
	return rep
}

func TestProfilesReproducible(t *testing.T) {
	dir := t.TempDir()
	evidenceA(t, filepath.Join(dir, "evidence"))
	for _, prof := range []struct{ name, extra string }{
		{"json:raw", ""},
		{"json:policy", "policy_snapshot: snap-1\n"},
		{"mirror:full", "policy_snapshot: snap-1\n"},
	} {
		t.Run(prof.name, func(t *testing.T) {
			c := contractFile(t, dir, strings.ReplaceAll(prof.name, ":", "-")+".yaml", prof.name, prof.extra)
			var sums [2][32]byte
			var plans [2][]byte
			for i := range 2 {
				out := filepath.Join(dir, prof.name+"-out", string(rune('a'+i)))
				pkg := out + ".tgz"
				p, _ := execute(t, c, out, pkg)
				var buf bytes.Buffer
				if err := plan.Write(&buf, p); err != nil {
					t.Fatal(err)
				}
				plans[i] = buf.Bytes()
				b, err := os.ReadFile(pkg)
				if err != nil {
					t.Fatal(err)
				}
				sums[i] = sha256.Sum256(b)
				rep := verifyBundle(t, pkg)
				if rep.Profile != prof.name {
					t.Fatalf("profile %q", rep.Profile)
				}
				// The export directory holds the bundle's files.
				exp, _ := os.ReadFile(filepath.Join(out, "export.json"))
				if !bytes.Contains(exp, []byte(`"payloadRoot":"sha256:`)) {
					t.Fatalf("export.json %s", exp)
				}
			}
			if sums[0] != sums[1] || !bytes.Equal(plans[0], plans[1]) {
				t.Fatal("two runs differ")
			}
		})
	}
}

// listTree returns path → content of every file below dir.
func listTree(t *testing.T, dir string, skip ...string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		for _, s := range skip {
			if rel == s {
				return nil
			}
		}
		b, _ := os.ReadFile(p)
		out[rel] = string(b)
		return nil
	})
	return out
}

func TestDeltaReproducesFull(t *testing.T) {
	dir := t.TempDir()
	evA, evB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	evidenceA(t, filepath.Join(evA, "evidence"))
	evidenceB(t, filepath.Join(evB, "evidence"))
	fullA := filepath.Join(dir, "full-a.tgz")
	execute(t, contractFile(t, evA, "full.yaml", "mirror:full", "policy_snapshot: snap-1\n"), filepath.Join(dir, "full-a"), fullA)
	execute(t, contractFile(t, evB, "full.yaml", "mirror:full", "policy_snapshot: snap-1\n"), filepath.Join(dir, "full-b"), filepath.Join(dir, "full-b.tgz"))
	_, dres := execute(t, contractFile(t, evB, "delta.yaml", "mirror:delta", "policy_snapshot: snap-1\nbase: ../full-a.tgz\n"),
		filepath.Join(dir, "delta"), filepath.Join(dir, "delta.tgz"))
	if dres.Manifest.Base == nil || !strings.HasPrefix(dres.Manifest.Base.SHA256, "sha256:") {
		t.Fatalf("delta export.json base %+v", dres.Manifest.Base)
	}
	delta := listTree(t, filepath.Join(dir, "delta"))
	if _, ok := delta["data/raw/sboms/acme/urn%3Auuid%3A1.json"]; ok {
		t.Error("unchanged SBOM in the delta")
	}
	if !strings.Contains(delta["manifests/delta.json"], `"removed":["data/raw/sboms/acme/urn%3Auuid%3A2.json"]`) {
		t.Errorf("delta.json %s", delta["manifests/delta.json"])
	}
	res, err := ApplyDelta(context.Background(), filepath.Join(dir, "delta.tgz"), fullA, filepath.Join(dir, "applied"), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 1 || res.Added != 1 {
		t.Errorf("apply %+v", res)
	}
	want := listTree(t, filepath.Join(dir, "full-b"), "export.json", "provenance.json")
	got := listTree(t, filepath.Join(dir, "applied"))
	if len(got) != len(want) {
		t.Errorf("applied %d files, full(B) has %d", len(got), len(want))
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s differs from full(B)", p)
		}
	}
	// A delta applied to the wrong base is refused.
	_, err = ApplyDelta(context.Background(), filepath.Join(dir, "delta.tgz"), filepath.Join(dir, "full-b.tgz"), filepath.Join(dir, "applied2"), false)
	if exitcode.For(err) != exitcode.Conflict {
		t.Fatalf("wrong base: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "applied2")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("output left after a refused apply")
	}
}

// rawPlan plans json:raw over evidenceA in a new directory.
func rawPlan(t *testing.T) (string, *contract.Contract, *plan.Plan) {
	t.Helper()
	dir := t.TempDir()
	evidenceA(t, filepath.Join(dir, "evidence"))
	c := contractFile(t, dir, "raw.yaml", "json:raw", "")
	p, _, _, err := plan.Build(context.Background(), c, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return dir, c, p
}

func TestChangedInputAndCancel(t *testing.T) {
	dir, c, p := rawPlan(t)
	var err error
	write(t, filepath.Join(dir, "evidence"), "acme/vex/v1.json", `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","timestamp":"2024-03-01T00:00:00Z","statements":[]}`)
	var evbuf bytes.Buffer
	out := filepath.Join(dir, "out")
	_, err = Execute(context.Background(), p, c.SourceDir, nil, Options{OutDir: out, Package: out + ".tgz", Events: events.New(&evbuf)})
	var ce *ChangedError
	if !errors.As(err, &ce) || ce.Path != "acme/vex/v1.json" || exitcode.For(err) != exitcode.Conflict {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(evbuf.String(), `"event":"adapter.error"`) || !strings.Contains(evbuf.String(), `"reason":"input_changed"`) {
		t.Errorf("events %s", evbuf.String())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".stella-export") || e.Name() == "out" || e.Name() == "out.tgz" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	evbuf.Reset()
	_, err = Execute(ctx, p, c.SourceDir, nil, Options{OutDir: out, Events: events.New(&evbuf)})
	if err == nil || !strings.Contains(evbuf.String(), `"state":"aborted"`) {
		t.Fatalf("cancel: %v; events %s", err, evbuf.String())
	}
	entries, _ = os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".stella-export") || e.Name() == "out" {
			t.Errorf("left behind after cancel: %s", e.Name())
		}
	}
}

// TestStreamingDocsSameBytes: documents read as streams (over SmallDoc)
// give the same export as documents read whole.
func TestStreamingDocsSameBytes(t *testing.T) {
	dir := t.TempDir()
	evidenceA(t, filepath.Join(dir, "evidence"))
	c := contractFile(t, dir, "m.yaml", "mirror:full", "policy_snapshot: snap-1\n")
	p, _, _, err := plan.Build(context.Background(), c, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sums []string
	for i, small := range []int64{0, 1} {
		out := filepath.Join(dir, "out", string(rune('a'+i)))
		if _, err := Execute(context.Background(), p, c.SourceDir, nil, Options{OutDir: out, Package: out + ".tgz", SmallDoc: small}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(out + ".tgz")
		s := sha256.Sum256(b)
		sums = append(sums, string(s[:]))
	}
	if sums[0] != sums[1] {
		t.Fatal("streamed documents give different bytes")
	}
}

// TestGivenPlanDigest: export.json's planDigest is PlanDigest's, computed
// by Execute; a caller that computed it already (the run command, for its
// logs) passes it and Execute records it without taking that pass again.
func TestGivenPlanDigest(t *testing.T) {
	dir, c, p := rawPlan(t)
	want, err := PlanDigest(p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Execute(context.Background(), p, c.SourceDir, nil, Options{OutDir: filepath.Join(dir, "a")})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Manifest.Contract.PlanDigest; got != want {
		t.Fatalf("computed planDigest %s, PlanDigest says %s", got, want)
	}
	given := "sha256:" + strings.Repeat("ab", 32)
	res, err = Execute(context.Background(), p, c.SourceDir, nil, Options{OutDir: filepath.Join(dir, "b"), PlanDigest: given})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Manifest.Contract.PlanDigest; got != given {
		t.Fatalf("given planDigest %s, export.json says %s: Execute computed it again", given, got)
	}
}
