package adapters

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/evidence"
)

// mirrorTree is the tree of mirror:full on allDocs with the snapshot.
var mirrorTree = []string{
	"data/policy/findings/acme/fnd-0001.json",
	"data/raw/advisories/acme/GO-2023-0001.json",
	"data/raw/advisories/acme/RUSTSEC-2024-0003.json",
	"data/raw/advisories/globex/GO-2021-0113.json",
	"data/raw/sboms/acme/urn%3Auuid%3A3e671687-395b-41f5-a30f-a58921a69b79.json",
	"data/raw/vex/acme/https%3A%2F%2Fvex.example%2Facme%2F2025-06.json",
	"indexes/ecosystems/cargo.json",
	"indexes/ecosystems/golang.json",
	"indexes/ecosystems/npm.json",
	"indexes/products/cargo.json",
	"indexes/products/golang.json",
	"indexes/products/npm.json",
	"manifests/mirror.json",
	"manifests/policy-snapshot.json",
}

// entry is a document's line in an index, as the index must hold it.
func entry(d testDoc) string {
	p := MirrorPath(&d.Doc)
	return fmt.Sprintf(`{"id":%q,"path":%q,"sha256":%q,"tenant":%q,"type":%q}`,
		d.ID, p, digest([]byte(d.canon+"\n")), d.Tenant, d.Type)
}

func entries(ds ...testDoc) string {
	var s []string
	for _, d := range ds {
		s = append(s, entry(d))
	}
	return "[" + strings.Join(s, ",") + "]"
}

// manifestOf is the mirror.json a tree must have: every file but
// mirror.json itself, byte-wise ordered, with its digest and size as found
// on disk.
func manifestOf(tree map[string][]byte, tenants ...string) string {
	var files []string
	for _, p := range slices.Sorted(maps.Keys(tree)) {
		if p == MirrorManifest || p == DeltaManifest {
			continue
		}
		files = append(files, fmt.Sprintf(`{"path":%q,"sha256":%q,"size":%d}`, p, digest(tree[p]), len(tree[p])))
	}
	ts, _ := json.Marshal(tenants)
	return `{"files":[` + strings.Join(files, ",") + `],"format":"stella-export/mirror/v1","tenants":` + string(ts) + "}\n"
}

func TestMirrorFull(t *testing.T) {
	r := mustRun(t, "mirror:full", newFixture(t, true, allDocs...), runOpts{})
	got := checkStage(t, r.stage)
	if paths := slices.Sorted(maps.Keys(got)); !slices.Equal(paths, mirrorTree) {
		t.Fatalf("tree:\n got %q\nwant %q", paths, mirrorTree)
	}
	for _, d := range allDocs {
		p := MirrorPath(&d.Doc)
		if s := string(got[p]); s != d.canon+"\n" {
			t.Errorf("%s:\n got %s\nwant %s", p, s, d.canon)
		}
		if f, _ := r.stage.Lookup(p); f.Records != 1 {
			t.Errorf("%s: %d records, want 1", p, f.Records)
		}
	}
	if s := string(got["manifests/policy-snapshot.json"]); s != snapCanon+"\n" {
		t.Errorf("policy-snapshot.json:\n got %s\nwant %s", s, snapCanon)
	}

	// Indexes list documents in plan order.
	for _, tc := range []struct {
		path, want string
		records    int
	}{
		{"indexes/ecosystems/cargo.json", `{"documents":` + entries(advH2) + `,"ecosystem":"cargo"}`, 1},
		{"indexes/ecosystems/golang.json", `{"documents":` + entries(advNet, advText, vexNet) + `,"ecosystem":"golang"}`, 3},
		{"indexes/ecosystems/npm.json", `{"documents":` + entries(sbomPay, findLodash) + `,"ecosystem":"npm"}`, 2},
		{"indexes/products/cargo.json", `{"products":{"pkg:cargo/h2":` + entries(advH2) + `},"type":"cargo"}`, 1},
		{"indexes/products/golang.json", `{"products":{"pkg:golang/golang.org/x/net":` + entries(advNet, vexNet) +
			`,"pkg:golang/golang.org/x/text":` + entries(advText) + `},"type":"golang"}`, 2},
		{"indexes/products/npm.json", `{"products":{"pkg:npm/lodash":` + entries(findLodash) +
			`,"pkg:npm/payments-api":` + entries(sbomPay) + `},"type":"npm"}`, 2},
	} {
		if s := string(got[tc.path]); s != tc.want+"\n" {
			t.Errorf("%s:\n got %s\nwant %s", tc.path, s, tc.want)
		}
		if f, _ := r.stage.Lookup(tc.path); f.Records != tc.records {
			t.Errorf("%s: %d records, want %d", tc.path, f.Records, tc.records)
		}
	}

	// mirror.json lists every other file of the tree as it is on disk.
	want := manifestOf(got, "acme", "globex")
	if s := string(got[MirrorManifest]); s != want {
		t.Errorf("mirror.json:\n got %s\nwant %s", s, want)
	}
	if f, _ := r.stage.Lookup(MirrorManifest); f.Records != len(mirrorTree)-1 {
		t.Errorf("mirror.json: %d records, want %d", f.Records, len(mirrorTree)-1)
	}
}

// TestMirrorPath: any identifier becomes one safe file name, and distinct
// identifiers stay distinct.
func TestMirrorPath(t *testing.T) {
	long := strings.Repeat("x", 200)
	longEnc := strings.Repeat("x", 140) + "~" + "aa20c23e32018340" // printf "x%.0s" $(seq 200) | sha256sum | cut -c1-16
	for _, tc := range []struct {
		typ        evidence.Type
		tenant, id string
		want       string
	}{
		{evidence.Advisory, "acme", "GO-2023-0001", "data/raw/advisories/acme/GO-2023-0001.json"},
		{evidence.VEX, "acme", "https://vex.example/a?b=c#d", "data/raw/vex/acme/https%3A%2F%2Fvex.example%2Fa%3Fb%3Dc%23d.json"},
		{evidence.SBOM, "acme", "urn:uuid:1", "data/raw/sboms/acme/urn%3Auuid%3A1.json"},
		{evidence.Finding, "acme", "fnd_1.v2", "data/policy/findings/acme/fnd_1.v2.json"},
		// A leading '.' is encoded: no hidden files, no "." or "..".
		{evidence.Advisory, "acme", "..", "data/raw/advisories/acme/%2E..json"},
		{evidence.Advisory, ".t", ".x", "data/raw/advisories/%2Et/%2Ex.json"},
		{evidence.Advisory, "acme", "a/../../b", "data/raw/advisories/acme/a%2F..%2F..%2Fb.json"},
		{evidence.Advisory, "acme", "A b%", "data/raw/advisories/acme/A%20b%25.json"},
		{evidence.Advisory, "acme", "é", "data/raw/advisories/acme/%C3%A9.json"},
		{evidence.Advisory, "acme", "", "data/raw/advisories/acme/.json"},
		{evidence.Advisory, "acme", long, "data/raw/advisories/acme/" + longEnc + ".json"},
	} {
		d := &evidence.Doc{Type: tc.typ, Tenant: tc.tenant, ID: tc.id}
		if got := MirrorPath(d); got != tc.want {
			t.Errorf("MirrorPath(%s, %q, %q) = %q, want %q", tc.typ, tc.tenant, tc.id, got, tc.want)
		}
	}
	// The encoding is injective: '%' itself is encoded, and long names
	// that share their first 140 bytes keep apart through the digest.
	seen := map[string]string{}
	for _, id := range []string{"a/b", "a%2Fb", "a%252Fb", "a_b", "a.b", long, long + "y", long[:150] + "/"} {
		p := MirrorPath(&evidence.Doc{Type: evidence.Advisory, Tenant: "t", ID: id})
		if prev, dup := seen[p]; dup {
			t.Errorf("%q and %q share %s", prev, id, p)
		}
		seen[p] = id
		if name := p[strings.LastIndexByte(p, '/')+1:]; len(name) > 160+len(".json") {
			t.Errorf("%q: file name of %d bytes", id, len(name))
		}
	}
}

func TestIsTree(t *testing.T) {
	for p, want := range map[string]bool{
		"manifests/mirror.json": true, "data/raw/vex/a/b.json": true, "indexes/products/npm.json": true,
		"export.json": false, "provenance.json": false, "checksums.txt": false, "datafile": false, "README.md": false,
	} {
		if IsTree(p) != want {
			t.Errorf("IsTree(%q) = %v", p, !want)
		}
	}
}

// TestMirrorDelta makes a base from mirror:full on allDocs, then a delta on
// evidence where one advisory changed, one was added, and the only globex
// document and the only cargo advisory (with its two indexes) are gone.
func TestMirrorDelta(t *testing.T) {
	full := mustRun(t, "mirror:full", newFixture(t, true, allDocs...), runOpts{})
	var man MirrorManifestDoc
	if err := json.Unmarshal(tree(t, full.stage.Dir)[MirrorManifest], &man); err != nil {
		t.Fatal(err)
	}
	base := &BaseMirror{BaseRef: BaseRef{ExportID: "base-1", RootHash: "sha256:" + strings.Repeat("a", 64), SHA256: "sha256:" + strings.Repeat("b", 64)},
		Files: map[string]string{}}
	for _, f := range man.Files {
		base.Files[f.Path] = f.SHA256
	}

	changed := advNet
	changed.src = strings.Replace(advNet.src, "2023-01-02", "2023-02-03", 1)
	changed.canon = strings.Replace(advNet.canon, "2023-01-02", "2023-02-03", 1)
	added := testDoc{
		Doc: evidence.Doc{Type: evidence.Advisory, Tenant: "acme", ID: "GO-2024-0005", Subject: "pkg:golang/golang.org/x/crypto",
			Path: "acme/advisories/GO-2024-0005.json", Ecosystems: []string{"golang"}, Products: []string{"pkg:golang/golang.org/x/crypto"}},
		src:   `{"id":"GO-2024-0005","schema_version":"1.6.0"}`,
		canon: `{"id":"GO-2024-0005","schema_version":"1.6.0"}`,
	}
	later := newFixture(t, true, findLodash, vexNet, sbomPay, changed, added)

	r := mustRun(t, "mirror:delta", later, runOpts{base: base})
	got := checkStage(t, r.stage)
	wantTree := []string{
		"data/raw/advisories/acme/GO-2023-0001.json",
		"data/raw/advisories/acme/GO-2024-0005.json",
		"indexes/ecosystems/golang.json",
		"indexes/products/golang.json",
		"manifests/delta.json",
		"manifests/mirror.json",
	}
	if paths := slices.Sorted(maps.Keys(got)); !slices.Equal(paths, wantTree) {
		t.Fatalf("delta tree (unchanged files must be dropped):\n got %q\nwant %q", paths, wantTree)
	}
	if s := string(got["data/raw/advisories/acme/GO-2023-0001.json"]); s != changed.canon+"\n" {
		t.Errorf("changed advisory: %s", s)
	}

	wantDelta := `{"added":["data/raw/advisories/acme/GO-2024-0005.json"],` +
		`"base":{"exportId":"base-1","rootHash":"sha256:` + strings.Repeat("a", 64) + `","sha256":"sha256:` + strings.Repeat("b", 64) + `"},` +
		`"changed":["data/raw/advisories/acme/GO-2023-0001.json","indexes/ecosystems/golang.json","indexes/products/golang.json"],` +
		`"format":"stella-export/mirror-delta/v1",` +
		`"removed":["data/raw/advisories/acme/RUSTSEC-2024-0003.json","data/raw/advisories/globex/GO-2021-0113.json",` +
		`"indexes/ecosystems/cargo.json","indexes/products/cargo.json"]}` + "\n"
	if s := string(got[DeltaManifest]); s != wantDelta {
		t.Errorf("delta.json:\n got %s\nwant %s", s, wantDelta)
	}
	if f, _ := r.stage.Lookup(DeltaManifest); f.Records != 8 {
		t.Errorf("delta.json: %d records, want 8", f.Records)
	}

	// The delta's mirror.json is the later full tree's, byte for byte, so
	// that applying the delta to the base can be checked against it.
	laterFull := mustRun(t, "mirror:full", later, runOpts{})
	fullTree := tree(t, laterFull.stage.Dir)
	if s := string(got[MirrorManifest]); s != string(fullTree[MirrorManifest]) {
		t.Errorf("delta mirror.json:\n got %s\nwant %s", s, fullTree[MirrorManifest])
	}
	if want := manifestOf(fullTree, "acme"); string(fullTree[MirrorManifest]) != want {
		t.Errorf("later mirror.json:\n got %s\nwant %s", fullTree[MirrorManifest], want)
	}
	for p, b := range got {
		if p != DeltaManifest && string(fullTree[p]) != string(b) {
			t.Errorf("%s differs from the later full tree's", p)
		}
	}

	// Against itself a delta carries only its manifests.
	self := mustRun(t, "mirror:delta", newFixture(t, true, allDocs...), runOpts{base: base})
	if paths := slices.Sorted(maps.Keys(checkStage(t, self.stage))); !slices.Equal(paths, []string{DeltaManifest, MirrorManifest}) {
		t.Errorf("delta against an identical base stages %q", paths)
	}
}

// TestMirrorIndexesStreamed: the indexes and manifests, written as streams
// from records sorted under a budget that spills every record, are the
// canonical JSON of what they hold: products ordered by their UTF-16 code
// units (U+1F600 before U+FF61, unlike their UTF-8 bytes), each product's
// and ecosystem's documents in plan order, several ecosystems per document.
func TestMirrorIndexesStreamed(t *testing.T) {
	mk := func(id, product string, ecos ...string) testDoc {
		return testDoc{Doc: evidence.Doc{Type: evidence.Advisory, Tenant: "acme", ID: id, Subject: "pkg:npm/x",
			Path: "acme/advisories/" + id + ".json", Ecosystems: ecos, Products: []string{product, "pkg:npm/common"}},
			src: `{"id":"` + id + `"}`}
	}
	docs := []testDoc{mk("A-3", "pkg:npm/\uff61", "npm"), mk("A-1", "pkg:npm/\U0001F600", "npm", "golang"),
		mk("A-2", "pkg:golang/z", "golang"), mk("A-4", "pkg:npm/\uff61", "npm")}
	for _, budget := range []int64{0, 1} {
		r := mustRun(t, "mirror:full", newFixture(t, false, docs...), runOpts{budget: budget})
		got := checkStage(t, r.stage)
		for p, b := range got {
			if !strings.HasPrefix(p, "indexes/") && !strings.HasPrefix(p, "manifests/") {
				continue
			}
			c, err := canonjson.Canonicalize(bytes.TrimSuffix(b, []byte("\n")))
			if err != nil || string(c)+"\n" != string(b) {
				t.Errorf("budget %d: %s is not canonical JSON and one LF: %s (%v)", budget, p, b, err)
			}
		}
		var npm struct {
			Products map[string][]indexEntry `json:"products"`
		}
		if err := json.Unmarshal(got["indexes/products/npm.json"], &npm); err != nil {
			t.Fatal(err)
		}
		ids := func(es []indexEntry) (out []string) {
			for _, e := range es {
				out = append(out, e.ID)
			}
			return out
		}
		if g := ids(npm.Products["pkg:npm/\uff61"]); !slices.Equal(g, []string{"A-3", "A-4"}) {
			t.Errorf("budget %d: pkg:npm/\uff61 lists %q", budget, g)
		}
		if g := ids(npm.Products["pkg:npm/common"]); !slices.Equal(g, []string{"A-1", "A-2", "A-3", "A-4"}) {
			t.Errorf("budget %d: pkg:npm/common lists %q", budget, g)
		}
		if i, j := bytes.Index(got["indexes/products/npm.json"], []byte("\U0001F600")), bytes.Index(got["indexes/products/npm.json"], []byte("\uff61")); i > j {
			t.Errorf("budget %d: U+FF61 before U+1F600 in %s", budget, got["indexes/products/npm.json"])
		}
		if f, _ := r.stage.Lookup("indexes/products/npm.json"); f.Records != 3 {
			t.Errorf("budget %d: npm products index has %d records, want 3", budget, f.Records)
		}
		if f, _ := r.stage.Lookup("indexes/ecosystems/golang.json"); f.Records != 2 {
			t.Errorf("budget %d: golang ecosystem index has %d records, want 2", budget, f.Records)
		}
	}
}

// TestMirrorFileAppend: a manifest line's canonical JSON is Marshal's.
func TestMirrorFileAppend(t *testing.T) {
	for _, f := range []MirrorFile{{}, {Path: "data/raw/x/\u00e9<\xff>.json", SHA256: "sha256:00", Size: 1 << 40}} {
		want, err := canonjson.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.AppendCanonical(nil); string(got) != string(want) {
			t.Errorf("AppendCanonical = %s, Marshal gives %s", got, want)
		}
	}
	e := indexEntry{ID: "GHSA-\u2028\"x", Path: "p\xff", SHA256: "sha256:01", Tenant: "acme", Type: "vex"}
	if want, _ := canonjson.Marshal(e); string(e.AppendCanonical(nil)) != string(want) {
		t.Errorf("index entry %s, Marshal gives %s", e.AppendCanonical(nil), want)
	}
}
