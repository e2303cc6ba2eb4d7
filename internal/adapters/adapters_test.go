// Unit tests of the adapters. This file holds the shared fixture and
// helpers and the tests of the registry, the Stage and the error cases;
// jsonl_test.go and mirror_test.go test the adapters of jsonl.go and
// mirror.go, base_test.go the base mirror mirror:delta reads.
//
// A new adapter's tests follow this pattern, in <adapter>_test.go: write a
// few small evidence documents into t.TempDir() with newFixture (each with
// its source bytes, deliberately not canonical, and the canonical form
// expected in outputs), run the adapter through runProfile exactly as
// internal/run does (ForProfile, a fresh Stage, a Job whose Open checks the
// planned digest), and then check
//
//   - the staged tree: checkStage (every staged file is on disk with the
//     recorded digest and size, nothing else is) and the exact list of paths;
//   - the bytes of every output against literal expectations, so that a
//     change in ordering, canonical form or layout fails here;
//   - determinism: two runs, and a run that streams every document instead
//     of reading it whole, give identical trees (TestDeterministic);
//   - the index and manifest files the adapter writes;
//   - what the adapter refuses, and with which exit code (exitcode.For),
//     in TestAdapterErrors;
//   - that the registry knows the profile (TestRegistry) and plans its
//     outputs (TestOutputs). TestDeterministic runs every profile of
//     Profiles() by itself.
package adapters

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/events"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// testDoc is one evidence document of a fixture: its source bytes as a
// producer wrote them and the canonical line adapters must write for it.
type testDoc struct {
	evidence.Doc
	src, canon string
}

var (
	advNet = testDoc{
		Doc: evidence.Doc{Type: evidence.Advisory, Tenant: "acme", ID: "GO-2023-0001", Subject: "pkg:golang/golang.org/x/net",
			Path: "acme/advisories/GO-2023-0001.json", Ecosystems: []string{"golang"}, Products: []string{"pkg:golang/golang.org/x/net"}},
		src: `{
  "schema_version": "1.6.0",
  "id": "GO-2023-0001",
  "modified": "2023-01-02T00:00:00Z",
  "affected": [{"package": {"name": "golang.org/x/net", "ecosystem": "Go", "purl": "pkg:golang/golang.org/x/net"}}],
  "database_specific": {"cvss": 7.50, "count": 12345678901234567890, "note": "caf\u00e9 <b>"}
}
`,
		canon: `{"affected":[{"package":{"ecosystem":"Go","name":"golang.org/x/net","purl":"pkg:golang/golang.org/x/net"}}],` +
			`"database_specific":{"count":12345678901234567890,"cvss":7.50,"note":"café <b>"},"id":"GO-2023-0001",` +
			`"modified":"2023-01-02T00:00:00Z","schema_version":"1.6.0"}`,
	}
	advH2 = testDoc{
		Doc: evidence.Doc{Type: evidence.Advisory, Tenant: "acme", ID: "RUSTSEC-2024-0003", Subject: "pkg:cargo/h2",
			Path: "acme/advisories/RUSTSEC-2024-0003.json", Ecosystems: []string{"cargo"}, Products: []string{"pkg:cargo/h2"}},
		src:   `{"id":"RUSTSEC-2024-0003", "schema_version":"1.6.0", "affected":[{"package":{"name":"h2","ecosystem":"crates.io"}}]}`,
		canon: `{"affected":[{"package":{"ecosystem":"crates.io","name":"h2"}}],"id":"RUSTSEC-2024-0003","schema_version":"1.6.0"}`,
	}
	advText = testDoc{
		Doc: evidence.Doc{Type: evidence.Advisory, Tenant: "globex", ID: "GO-2021-0113", Subject: "pkg:golang/golang.org/x/text",
			Path: "globex/advisories/GO-2021-0113.json", Ecosystems: []string{"golang"}, Products: []string{"pkg:golang/golang.org/x/text"}},
		src:   "{\n\t\"schema_version\": \"1.6.0\",\n\t\"id\": \"GO-2021-0113\",\n\t\"affected\": [{\"package\": {\"name\": \"golang.org/x/text\", \"ecosystem\": \"Go\"}}]\n}\n",
		canon: `{"affected":[{"package":{"ecosystem":"Go","name":"golang.org/x/text"}}],"id":"GO-2021-0113","schema_version":"1.6.0"}`,
	}
	vexNet = testDoc{
		Doc: evidence.Doc{Type: evidence.VEX, Tenant: "acme", ID: "https://vex.example/acme/2025-06", Subject: "pkg:golang/golang.org/x/net",
			Path: "acme/vex/2025-06.json", Ecosystems: []string{"golang"}, Products: []string{"pkg:golang/golang.org/x/net"}},
		src: `{"@id":"https://vex.example/acme/2025-06","@context":"https://openvex.dev/ns/v0.2.0",` +
			`"statements":[{"vulnerability":{"name":"GO-2023-0001"},"status":"not_affected","products":[{"@id":"pkg:golang/golang.org/x/net@v0.17.0"}]}]}`,
		canon: `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://vex.example/acme/2025-06",` +
			`"statements":[{"products":[{"@id":"pkg:golang/golang.org/x/net@v0.17.0"}],"status":"not_affected","vulnerability":{"name":"GO-2023-0001"}}]}`,
	}
	sbomPay = testDoc{
		Doc: evidence.Doc{Type: evidence.SBOM, Tenant: "acme", ID: "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79", Subject: "pkg:npm/payments-api",
			Path: "acme/sboms/payments-api.cdx.json", Ecosystems: []string{"npm"}, Products: []string{"pkg:npm/payments-api"}},
		src: `{"specVersion": "1.6", "bomFormat": "CycloneDX", "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",` +
			` "metadata": {"component": {"purl": "pkg:npm/payments-api@1.2.0", "name": "payments-api"}}}`,
		canon: `{"bomFormat":"CycloneDX","metadata":{"component":{"name":"payments-api","purl":"pkg:npm/payments-api@1.2.0"}},` +
			`"serialNumber":"urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79","specVersion":"1.6"}`,
	}
	findLodash = testDoc{
		Doc: evidence.Doc{Type: evidence.Finding, Tenant: "acme", ID: "fnd-0001", Subject: "pkg:npm/lodash@4.17.21",
			Path: "acme/policy/snap-1/findings/fnd-0001.json", Ecosystems: []string{"npm"}, Products: []string{"pkg:npm/lodash"}},
		src:   `{"status":"affected","id":"fnd-0001","purl":"pkg:npm/lodash@4.17.21","advisory_id":"GHSA-35jh-r3h4-6jhm","score":9.10}`,
		canon: `{"advisory_id":"GHSA-35jh-r3h4-6jhm","id":"fnd-0001","purl":"pkg:npm/lodash@4.17.21","score":9.10,"status":"affected"}`,
	}

	snapSrc = `{"tenant":"acme","snapshot_id":"snap-1","policy_version":"3",` +
		`"inputs_hash":"sha256:0000000000000000000000000000000000000000000000000000000000000000","decision_trace":{"rules":2}}`
	snapCanon = `{"decision_trace":{"rules":2},"inputs_hash":"sha256:0000000000000000000000000000000000000000000000000000000000000000",` +
		`"policy_version":"3","snapshot_id":"snap-1","tenant":"acme"}`
)

// allDocs is the fixture most tests use: every type, two tenants.
var allDocs = []testDoc{findLodash, vexNet, advText, sbomPay, advNet, advH2}

// fixture is an evidence directory and the resolved input adapters see.
type fixture struct {
	source string
	in     *Input
}

// newFixture writes docs (and, with snapshot, the policy snapshot) below
// a new directory and returns them ordered as a plan orders them.
func newFixture(t *testing.T, snapshot bool, docs ...testDoc) *fixture {
	t.Helper()
	source := t.TempDir()
	write := func(rel, body string) (string, int64) {
		p := filepath.Join(source, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return digest([]byte(body)), int64(len(body))
	}
	in := &Input{Compression: contract.Compression{Codec: "zstd", Level: 3}}
	var ds evidence.SliceDocs
	for _, td := range docs {
		d := td.Doc
		d.SHA256, d.Size = write(d.Path, td.src)
		ds = append(ds, &d)
	}
	slices.SortFunc(ds, evidence.Less)
	in.Docs = ds
	if snapshot {
		s := &evidence.Snapshot{ID: "snap-1", Tenant: "acme", PolicyVersion: "3", Path: "acme/policy/snap-1/snapshot.json"}
		s.SHA256, s.Size = write(s.Path, snapSrc)
		in.Snapshot = s
	}
	return &fixture{source: source, in: in}
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// opener is the Job.Open of these tests; it checks the planned digest as
// internal/run's does. Documents larger than small are handed out without
// Bytes, so adapters must stream them through ReaderAt. It counts opens and
// closes so tests can check that adapters close what they open.
type opener struct {
	source        string
	small         int64
	opens, closes atomic.Int64 // Open is called on several goroutines
}

func (o *opener) open(d *evidence.Doc) (*Doc, error) {
	b, err := os.ReadFile(filepath.Join(o.source, filepath.FromSlash(d.Path)))
	if err != nil {
		return nil, err
	}
	if got := digest(b); got != d.SHA256 || int64(len(b)) != d.Size {
		return nil, exitcode.Conflictf("%s: changed since the plan: %s, the plan says %s", d.Path, got, d.SHA256)
	}
	o.opens.Add(1)
	doc := &Doc{ReaderAt: bytes.NewReader(b), Size: d.Size, Close: func() error { o.closes.Add(1); return nil }}
	if d.Size <= o.small {
		doc.Bytes = b
	}
	return doc, nil
}

// result is one adapter run.
type result struct {
	stage  *Stage
	events string
	opener *opener
	job    *Job
}

type runOpts struct {
	small  int64 // documents up to this size are read whole; default 1 MiB
	budget int64 // the stage's memory budget; default DefaultBudget
	base   *BaseMirror
	ctx    context.Context
}

// runProfile runs profile's adapters on f into a new staging directory,
// as internal/run does.
func runProfile(t *testing.T, profile string, f *fixture, o runOpts) (*result, error) {
	t.Helper()
	ads, err := ForProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	if o.small == 0 {
		o.small = 1 << 20
	}
	if o.ctx == nil {
		o.ctx = context.Background()
	}
	in := *f.in
	in.Base = o.base
	var ev bytes.Buffer
	op := &opener{source: f.source, small: o.small}
	stage := NewStage(o.ctx, filepath.Join(t.TempDir(), "stage"), o.budget)
	t.Cleanup(func() { stage.Close() })
	job := &Job{Input: &in, Source: f.source, Stage: stage, Events: events.New(&ev), Open: op.open}
	for _, a := range ads {
		if err := a.Run(o.ctx, job); err != nil {
			return &result{stage: stage, events: ev.String(), opener: op, job: job}, err
		}
	}
	if op.opens.Load() != op.closes.Load() {
		t.Errorf("%s: %d documents opened, %d closed", profile, op.opens.Load(), op.closes.Load())
	}
	return &result{stage: stage, events: ev.String(), opener: op, job: job}, nil
}

func mustRun(t *testing.T, profile string, f *fixture, o runOpts) *result {
	t.Helper()
	r, err := runProfile(t, profile, f, o)
	if err != nil {
		t.Fatalf("%s: %v", profile, err)
	}
	return r
}

// tree reads every regular file below dir, by slash-separated path.
func tree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if !e.Type().IsRegular() {
			t.Errorf("%s: not a regular file", p)
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// staged returns the stage's files.
func staged(t *testing.T, s *Stage) []File {
	t.Helper()
	fs, err := s.Files()
	if err != nil {
		t.Fatal(err)
	}
	var out []File
	for f, err := range fs.All() {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// checkStage checks that the stage's record and the directory agree: every
// recorded file exists with its digest and size, no other file exists, and
// Files lists them in byte-wise path order. It returns the tree.
func checkStage(t *testing.T, s *Stage) map[string][]byte {
	t.Helper()
	got := tree(t, s.Dir)
	var paths []string
	for _, f := range staged(t, s) {
		paths = append(paths, f.Path)
		b, ok := got[f.Path]
		if !ok {
			t.Errorf("%s: staged but not on disk", f.Path)
			continue
		}
		if d := digest(b); f.SHA256 != d || f.Size != int64(len(b)) {
			t.Errorf("%s: recorded %s %d bytes, on disk %s %d bytes", f.Path, f.SHA256, f.Size, d, len(b))
		}
		if l, ok := s.Lookup(f.Path); !ok || l != f {
			t.Errorf("%s: Lookup gives %+v %v, Files %+v", f.Path, l, ok, f)
		}
	}
	if !slices.IsSorted(paths) {
		t.Errorf("Files not in byte-wise path order: %q", paths)
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := s.Lookup(p); !ok {
			t.Errorf("%s: on disk but not staged", p)
		}
	}
	return got
}

func TestRegistry(t *testing.T) {
	if got, want := Profiles(), []string{"json:policy", "json:raw", "mirror:delta", "mirror:full", "trivy:db", "trivy:java-db"}; !slices.Equal(got, want) {
		t.Fatalf("Profiles() = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		profile string
		names   []string
	}{
		{contract.ProfileJSONRaw, []string{"json:raw"}},
		{contract.ProfileJSONPolicy, []string{"json:raw", "json:policy"}},
		{contract.ProfileMirrorFull, []string{"mirror:full"}},
		{contract.ProfileMirrorDelta, []string{"mirror:delta"}},
		{contract.ProfileTrivyDB, []string{"trivy:db"}},
		{contract.ProfileTrivyJavaDB, []string{"trivy:java-db"}},
	} {
		ads, err := ForProfile(tc.profile)
		if err != nil {
			t.Fatalf("%s: %v", tc.profile, err)
		}
		var names []string
		for _, a := range ads {
			names = append(names, a.Name())
			if a.Version() != "1" {
				t.Errorf("%s: version %q, want 1", a.Name(), a.Version())
			}
		}
		if !slices.Equal(names, tc.names) {
			t.Errorf("%s runs %q, want %q", tc.profile, names, tc.names)
		}
	}

	_, err := ForProfile("grype:db")
	if code := exitcode.For(err); code != exitcode.Invalid {
		t.Fatalf("unknown profile: exit %d (%v), want 3", code, err)
	}
	if want := `profile "grype:db" has no adapters in this build (have [json:policy json:raw mirror:delta mirror:full trivy:db trivy:java-db])`; err.Error() != want {
		t.Fatalf("unknown profile:\n got %s\nwant %s", err, want)
	}

	defer func() {
		if r := recover(); r != "adapters: json:raw registered twice" {
			t.Fatalf("registering json:raw again: recovered %v", r)
		}
	}()
	Register(jsonRaw{})
}

func TestOutputs(t *testing.T) {
	f := newFixture(t, true, allDocs...)
	rawOuts := []Output{
		{Path: "data/raw/advisories.jsonl.zst", Records: 3},
		{Path: "data/raw/vex.jsonl.zst", Records: 1},
		{Path: "data/raw/sboms.jsonl.zst", Records: 1},
	}
	mirrorOuts := func(delta bool) []Output {
		out := []Output{{Path: "manifests/mirror.json"}}
		if delta {
			out = append(out, Output{Path: "manifests/delta.json"})
		}
		return append(out,
			Output{Path: "manifests/policy-snapshot.json", Records: 1},
			Output{Path: "data/raw/advisories/", Records: 3},
			Output{Path: "data/raw/vex/", Records: 1},
			Output{Path: "data/raw/sboms/", Records: 1},
			Output{Path: "data/policy/findings/", Records: 1},
			Output{Path: "indexes/ecosystems/"},
			Output{Path: "indexes/products/"})
	}
	for _, tc := range []struct {
		profile string
		want    [][]Output // per adapter
	}{
		{"json:raw", [][]Output{rawOuts}},
		{"json:policy", [][]Output{rawOuts, {{Path: "data/policy/findings.jsonl.zst", Records: 1}, {Path: "data/policy/snapshot.json", Records: 1}}}},
		{"mirror:full", [][]Output{mirrorOuts(false)}},
		{"mirror:delta", [][]Output{mirrorOuts(true)}},
		{"trivy:db", [][]Output{{{Path: "db/trivy.db", Records: 3}, {Path: "db/metadata.json", Records: 1}}}},
		{"trivy:java-db", [][]Output{{{Path: "java-db/trivy-java.db"}, {Path: "java-db/metadata.json", Records: 1}}}},
	} {
		ads, err := ForProfile(tc.profile)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range ads {
			if got := a.Outputs(f.in); !slices.Equal(got, tc.want[i]) {
				t.Errorf("%s: Outputs\n got %+v\nwant %+v", a.Name(), got, tc.want[i])
			}
		}
	}

	// Without a snapshot or a type, the mirror plans neither.
	g := newFixture(t, false, advH2)
	want := []Output{{Path: "manifests/mirror.json"}, {Path: "data/raw/advisories/", Records: 1},
		{Path: "indexes/ecosystems/"}, {Path: "indexes/products/"}}
	if got := (mirror{}).Outputs(g.in); !slices.Equal(got, want) {
		t.Errorf("mirror:full, one advisory: Outputs\n got %+v\nwant %+v", got, want)
	}
}

// TestDeterministic runs every profile twice, and once more streaming every
// document, and wants identical trees and stage records. The delta's base
// has many files that are gone, so that map order would show in delta.json.
func TestDeterministic(t *testing.T) {
	f := newFixture(t, true, allDocs...)
	base := &BaseMirror{BaseRef: BaseRef{ExportID: "base-1", RootHash: "sha256:" + strings.Repeat("a", 64), SHA256: "sha256:" + strings.Repeat("b", 64)},
		Files: map[string]string{"data/raw/advisories/acme/RUSTSEC-2024-0003.json": digest([]byte(advH2.canon + "\n"))}}
	var gone []string
	for i := range 40 {
		p := fmt.Sprintf("data/raw/advisories/acme/GO-2020-%04d.json", 40-i)
		base.Files[p] = digest([]byte(p))
		gone = append(gone, p)
	}
	slices.Sort(gone)
	for _, profile := range Profiles() {
		t.Run(profile, func(t *testing.T) {
			o := runOpts{base: base}
			first := mustRun(t, profile, f, o)
			again := mustRun(t, profile, f, o)
			o.small = -1 // no document is read whole
			streamed := mustRun(t, profile, f, o)
			o.small, o.budget = 0, 1 // every record spills
			spilled := mustRun(t, profile, f, o)
			want := checkStage(t, first.stage)
			if len(want) == 0 {
				t.Fatal("nothing staged")
			}
			for name, r := range map[string]*result{"second run": again, "streamed run": streamed, "spilled run": spilled} {
				if got := checkStage(t, r.stage); !maps.EqualFunc(got, want, bytes.Equal) {
					t.Errorf("%s: tree differs from the first run", name)
				}
				if !slices.Equal(staged(t, r.stage), staged(t, first.stage)) {
					t.Errorf("%s: stage records differ from the first run", name)
				}
				if r.events != first.events {
					t.Errorf("%s: events differ:\n%s\nfirst run:\n%s", name, r.events, first.events)
				}
			}
			if profile == "mirror:delta" {
				var d DeltaDoc
				if err := json.Unmarshal(want[DeltaManifest], &d); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(d.Removed, gone) {
					t.Errorf("delta.json removed %q, want %q", d.Removed, gone)
				}
			}
		})
	}
}

func TestStageFilesOrder(t *testing.T) {
	s := NewStage(context.Background(), filepath.Join(t.TempDir(), "stage"), 1)
	defer s.Close()
	for _, p := range []string{"b", "a/z", "B", "a.txt", "a/b"} {
		if err := s.WriteFile(p, []byte(p), 1); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, f := range staged(t, s) {
		got = append(got, f.Path)
	}
	// Byte-wise: upper case before lower case, '.' (0x2e) before '/' (0x2f).
	if want := []string{"B", "a.txt", "a/b", "a/z", "b"}; !slices.Equal(got, want) {
		t.Fatalf("Files order %q, want %q", got, want)
	}
	if f, _ := s.Lookup("a/z"); f != (File{Path: "a/z", SHA256: digest([]byte("a/z")), Size: 3, Records: 1}) {
		t.Fatalf("a/z recorded as %+v", f)
	}
	if err := s.Remove("b"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Lookup("b"); ok {
		t.Fatal("b still recorded after Remove")
	}
	checkStage(t, s)
	// A staged path is never overwritten.
	if err := s.WriteFile("a/z", []byte("other"), 1); exitcode.For(err) != exitcode.Conflict || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("writing a/z twice: exit %d (%v), want 5", exitcode.For(err), err)
	}
}

// TestAdapterErrors lists what adapters refuse and the exit code each
// refusal gives; a failed run leaves nothing recorded for the failed file.
func TestAdapterErrors(t *testing.T) {
	bad := testDoc{Doc: evidence.Doc{Type: evidence.Advisory, Tenant: "acme", ID: "BAD-1", Subject: "pkg:golang/bad", Path: "acme/advisories/BAD-1.json"},
		src: `{"id":"BAD-1","id":"BAD-2"}`}
	trailing := bad
	trailing.src = `{"id":"BAD-1"} {"id":"BAD-2"}`
	dup := advH2
	dup.Path = "acme/advisories/copy-of-RUSTSEC-2024-0003.json"
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	for _, tc := range []struct {
		name     string
		profile  string
		fixture  *fixture
		opts     runOpts
		tamper   string // a document rewritten after the plan
		code     int
		contains string
		is       error
		partial  string // the file being written when it failed: not recorded
	}{
		{name: "duplicate key", profile: "json:raw", fixture: newFixture(t, false, advH2, bad),
			code: exitcode.Invalid, contains: "acme/advisories/BAD-1.json: ", partial: "data/raw/advisories.jsonl.zst"},
		{name: "duplicate key, streamed", profile: "json:raw", fixture: newFixture(t, false, advH2, bad), opts: runOpts{small: -1},
			code: exitcode.Invalid, contains: "acme/advisories/BAD-1.json: ", partial: "data/raw/advisories.jsonl.zst"},
		{name: "two values", profile: "mirror:full", fixture: newFixture(t, false, trailing),
			code: exitcode.Invalid, contains: "acme/advisories/BAD-1.json: ", partial: "data/raw/advisories/acme/BAD-1.json"},
		{name: "document changed since the plan", profile: "json:raw", fixture: newFixture(t, false, advNet, advH2), tamper: advNet.Path,
			code: exitcode.Conflict, contains: "acme/advisories/GO-2023-0001.json: changed since the plan", is: exitcode.ErrConflict,
			partial: "data/raw/advisories.jsonl.zst"},
		{name: "cancelled", profile: "json:raw", fixture: newFixture(t, false, advNet), opts: runOpts{ctx: cancelled},
			code: exitcode.Interrupted, is: context.Canceled},
		{name: "cancelled mirror", profile: "mirror:full", fixture: newFixture(t, false, advNet), opts: runOpts{ctx: cancelled},
			code: exitcode.Interrupted, is: context.Canceled},
		{name: "json:policy without a snapshot", profile: "json:policy", fixture: newFixture(t, false, findLodash),
			code: exitcode.Invalid, contains: "json:policy needs a policy snapshot"},
		{name: "mirror:delta without a base", profile: "mirror:delta", fixture: newFixture(t, false, advNet),
			code: exitcode.Invalid, contains: "mirror:delta needs a base mirror"},
		{name: "two documents, one mirror path", profile: "mirror:full", fixture: newFixture(t, false, advH2, dup),
			code: exitcode.Conflict, contains: "RUSTSEC-2024-0003.json: file exists", is: fs.ErrExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tamper != "" {
				if err := os.WriteFile(filepath.Join(tc.fixture.source, tc.tamper), []byte(`{"id":"tampered"}`), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r, err := runProfile(t, tc.profile, tc.fixture, tc.opts)
			if code := exitcode.For(err); code != tc.code {
				t.Fatalf("exit %d (%v), want %d", code, err, tc.code)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if _, ok := r.stage.Lookup(tc.partial); ok && tc.partial != "" {
				t.Errorf("%s: recorded although writing it failed", tc.partial)
			}
			if r.opener.opens.Load() != r.opener.closes.Load() {
				t.Errorf("%d documents opened, %d closed", r.opener.opens.Load(), r.opener.closes.Load())
			}
			if tc.is == context.Canceled && r.opener.opens.Load() != 0 {
				t.Errorf("%d documents opened after cancellation", r.opener.opens.Load())
			}
		})
	}
}
