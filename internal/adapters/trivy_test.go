package adapters

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/manifest"
)

// osvDoc is a real OSV record of internal/trivydb/testdata/osv as an
// advisory of tenant acme.
func osvDoc(t *testing.T, id, subject string) testDoc {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "trivydb", "testdata", "osv", id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return testDoc{Doc: evidence.Doc{Type: evidence.Advisory, Tenant: "acme", ID: id, Subject: subject,
		Path: "acme/advisories/" + id + ".json"}, src: string(src)}
}

func trivyFixture(t *testing.T) *fixture {
	f := newFixture(t, false,
		osvDoc(t, "GO-2022-0493", "pkg:golang/golang.org/x/sys"),
		osvDoc(t, "GO-2022-0617", "pkg:golang/k8s.io/kubernetes"), // withdrawn
		osvDoc(t, "RUSTSEC-2020-0071", "pkg:cargo/time"),
		vexNet) // not an advisory: not read
	f.in.TrivySchema = 2
	f.in.CreatedAt = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	return f
}

// TestTrivyDB: the staged tree is db/trivy.db and db/metadata.json, the
// metadata's times come from the export's creation time (and its
// retention), the database holds the advisories' packages and ids, and
// the summary for export.json says what was left out and why.
func TestTrivyDB(t *testing.T) {
	f := trivyFixture(t)
	r := mustRun(t, "trivy:db", f, runOpts{})
	files := checkStage(t, r.stage)
	if got := slices.Sorted(func(yield func(string) bool) {
		for p := range files {
			if !yield(p) {
				return
			}
		}
	}); !slices.Equal(got, []string{"db/metadata.json", "db/trivy.db"}) {
		t.Fatalf("staged %q", got)
	}
	if got, want := string(files["db/metadata.json"]), `{"Version":2,"NextUpdate":"2025-06-02T12:00:00Z","UpdatedAt":"2025-06-01T12:00:00Z","DownloadedAt":"2025-06-01T12:00:00Z"}`+"\n"; got != want {
		t.Errorf("metadata.json\n got %s\nwant %s", got, want)
	}
	if fl, _ := r.stage.Lookup("db/trivy.db"); fl.Records != 3 {
		t.Errorf("db/trivy.db records %d, want 3 (advisories read)", fl.Records)
	}

	f.in.RetentionDays = 30
	if got := string(checkStage(t, mustRun(t, "trivy:db", f, runOpts{}).stage)["db/metadata.json"]); !strings.Contains(got, `"NextUpdate":"2025-07-01T12:00:00Z"`) {
		t.Errorf("with retention_days 30, metadata.json %s", got)
	}

	path := filepath.Join(r.stage.Dir, "db", "trivy.db")
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	buckets := map[string][]string{}
	var vulns []string
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			buckets[string(name)] = nil
			return b.ForEach(func(k, v []byte) error {
				if string(name) == "vulnerability" {
					vulns = append(vulns, string(k))
				}
				if v == nil {
					buckets[string(name)] = append(buckets[string(name)], string(k))
				}
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"data-source":                         nil,
		"vulnerability":                       nil,
		"go::stella-export OSV advisories":    {"golang.org/x/sys", "stdlib"},
		"cargo::stella-export OSV advisories": {"time"},
	}
	if len(buckets) != len(want) {
		t.Errorf("buckets %q", buckets)
	}
	for name, pkgs := range want {
		if got, ok := buckets[name]; !ok || !slices.Equal(got, pkgs) {
			t.Errorf("bucket %q: packages %q (present %v), want %q", name, got, ok, pkgs)
		}
	}
	if want := []string{"CVE-2020-26235", "CVE-2022-29526"}; !slices.Equal(vulns, want) {
		t.Errorf("vulnerabilities %q, want %q", vulns, want)
	}

	got, _ := json.Marshal(r.job.TrivyDB)
	wantSum := &manifest.TrivyDB{Schema: 2, Advisories: 3, Included: 2, LeftOut: 1, Vulnerabilities: 2,
		Packages: map[string]int{"go": 2, "cargo": 1}, Severities: map[string]int{"MEDIUM": 1, "UNKNOWN": 1},
		Reasons: map[string]int{"withdrawn": 1},
		Skipped: []manifest.TrivySkip{{Advisory: "GO-2022-0617", Path: "acme/advisories/GO-2022-0617.json", Reason: "withdrawn", Detail: "2024-08-21T16:25:56Z"}}}
	if w, _ := json.Marshal(wantSum); string(got) != string(w) {
		t.Errorf("summary\n got %s\nwant %s", got, w)
	}
}

// TestTrivyDBErrors: an unsupported schema and an advisory that is not an
// OSV record are exit 3, and nothing is staged.
func TestTrivyDBErrors(t *testing.T) {
	f := trivyFixture(t)
	f.in.TrivySchema = 3
	r, err := runProfile(t, "trivy:db", f, runOpts{})
	if code := exitcode.For(err); code != exitcode.Invalid || err.Error() != "trivy db schema 3 is not supported (only 2)" {
		t.Errorf("schema 3: exit %d: %v", code, err)
	}
	if entries, _ := os.ReadDir(r.stage.Dir); len(entries) != 0 || len(staged(t, r.stage)) != 0 {
		t.Errorf("schema 3: staged %v", entries)
	}

	bad := testDoc{Doc: evidence.Doc{Type: evidence.Advisory, Tenant: "acme", ID: "X-1", Path: "acme/advisories/X-1.json"},
		src: `{"id":"X-1","affected":{"package":"not a list"}}`}
	g := newFixture(t, false, osvDoc(t, "GO-2022-0493", "pkg:golang/golang.org/x/sys"), bad)
	r, err = runProfile(t, "trivy:db", g, runOpts{})
	if code := exitcode.For(err); code != exitcode.Invalid || !strings.HasPrefix(err.Error(), "acme/advisories/X-1.json: osv advisory: ") {
		t.Errorf("bad advisory: exit %d: %v", code, err)
	}
	if len(staged(t, r.stage)) != 0 {
		t.Errorf("bad advisory: staged %v", staged(t, r.stage))
	}
}

// TestTrivyJavaDB: the index files become java-db/trivy-java.db and
// java-db/metadata.json; a line repeated in a second file is stored once
// and counted; the summary says what went in.
func TestTrivyJavaDB(t *testing.T) {
	line := func(art, ver, sha string) string {
		return `{"group_id":"org.example","artifact_id":"` + art + `","version":"` + ver + `","sha1":"` + sha + `","archive_type":"jar"}` + "\n"
	}
	sha := func(c byte) string { return strings.Repeat(string(c), 40) }
	idx := func(name, src string) testDoc {
		return testDoc{Doc: evidence.Doc{Type: evidence.JavaIndex, Tenant: "acme", ID: name, Path: "acme/java-index/" + name,
			Ecosystems: []string{"maven"}}, src: src}
	}
	f := newFixture(t, false,
		idx("a.jsonl", line("widget", "1.0", sha('a'))+line("widget", "1.1", sha('b'))),
		idx("b.jsonl", line("gadget", "2.0", sha('c'))+line("widget", "1.0", sha('a'))))
	f.in.CreatedAt = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	r := mustRun(t, "trivy:java-db", f, runOpts{})
	files := checkStage(t, r.stage)
	if len(files) != 2 || files["java-db/trivy-java.db"] == nil {
		t.Fatalf("staged %d files", len(files))
	}
	if got, want := string(files["java-db/metadata.json"]), `{"Version":1,"NextUpdate":"2025-06-02T12:00:00Z","UpdatedAt":"2025-06-01T12:00:00Z","DownloadedAt":"2025-06-01T12:00:00Z"}`+"\n"; got != want {
		t.Errorf("metadata.json\n got %s\nwant %s", got, want)
	}
	if got, want := *r.job.JavaDB, (manifest.JavaDB{Schema: 1, Files: 2, Entries: 4, Duplicates: 1, Artifacts: 2, Indices: 3}); got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}

	f.in.TrivySchema = 2
	_, err := runProfile(t, "trivy:java-db", f, runOpts{})
	if code := exitcode.For(err); code != exitcode.Invalid {
		t.Errorf("schema 2: exit %d: %v", code, err)
	}
}
