package evidence

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/exitcode"
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

func osv(id, modified string, pkgs ...string) string {
	var aff []string
	for _, p := range pkgs {
		eco, name, _ := strings.Cut(p, "|")
		if strings.HasPrefix(eco, "pkg:") {
			aff = append(aff, `{"package":{"ecosystem":"npm","name":"x","purl":"`+eco+`"}}`)
			continue
		}
		aff = append(aff, `{"package":{"ecosystem":"`+eco+`","name":"`+name+`"}}`)
	}
	return `{"schema_version":"1.6.0","id":"` + id + `","modified":"` + modified + `","affected":[` + strings.Join(aff, ",") + `]}`
}

// source builds a small evidence tree.
func source(t *testing.T) string {
	root := t.TempDir()
	write(t, root, "acme/advisories/go/GO-1.json", osv("GO-2024-0001", "2024-03-01T00:00:00Z", "Go|golang.org/x/net"))
	write(t, root, "acme/advisories/npm/GHSA-1.json", osv("GHSA-aaaa-bbbb-cccc", "2024-06-01T12:00:00.5Z", "npm|lodash"))
	write(t, root, "acme/advisories/npm/GHSA-2.json", osv("GHSA-dddd-eeee-ffff", "2025-01-01T00:00:00Z", "npm|lodash-es"))
	write(t, root, "acme/advisories/maven/GHSA-3.json", osv("GHSA-gggg-hhhh-iiii", "2023-12-31T23:59:59Z", "Maven|org.apache.logging.log4j:log4j-core"))
	write(t, root, "acme/advisories/README.txt", "not a document")
	write(t, root, "acme/vex/v1.json", `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://vex.example/acme/1","author":"a","timestamp":"2024-07-01T00:00:00Z","version":1,
	  "statements":[{"vulnerability":{"name":"GHSA-aaaa-bbbb-cccc"},"products":[{"@id":"pkg:oci/api@sha256:abc","subcomponents":[{"@id":"pkg:npm/lodash@4.17.20"}]}],"status":"not_affected","justification":"vulnerable_code_not_in_execute_path"}]}`)
	write(t, root, "acme/sboms/api.cdx.json", `{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"urn:uuid:11111111-1111-1111-1111-111111111111","version":1,
	  "metadata":{"timestamp":"2024-08-01T00:00:00Z","component":{"type":"container","name":"api","version":"1.0","purl":"pkg:oci/api@sha256:abc"}},
	  "components":[{"type":"library","name":"lodash","version":"4.17.20","purl":"pkg:npm/lodash@4.17.20"},{"type":"library","name":"net","purl":"pkg:golang/golang.org/x/net@v0.1.0"}]}`)
	write(t, root, "acme/sboms/web.spdx.json", `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"web-2.0","documentNamespace":"https://sbom.example/web-2.0","creationInfo":{"created":"2024-09-01T00:00:00Z","creators":["Tool: x"]},
	  "documentDescribes":["SPDXRef-web"],"packages":[{"SPDXID":"SPDXRef-web","name":"web","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:pypi/web@2.0"}]},
	  {"SPDXID":"SPDXRef-req","name":"requests","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:pypi/requests@2.31.0"}]}]}`)
	write(t, root, "acme/policy/snap-1/snapshot.json", `{"snapshot_id":"snap-1","tenant":"acme","policy_version":"2024.1","inputs_hash":"sha256:`+strings.Repeat("ab", 32)+`","created_at":"2024-10-01T00:00:00Z","decision_trace":{"rules":["r1","r2"]}}`)
	write(t, root, "acme/policy/snap-1/findings/f1.json", `{"id":"fnd-1","tenant":"acme","snapshot_id":"snap-1","purl":"pkg:npm/lodash@4.17.20","advisory_id":"GHSA-aaaa-bbbb-cccc","status":"not_affected","severity":"high","evaluated_at":"2024-10-01T00:00:00Z"}`)
	write(t, root, "globex/advisories/a.json", osv("GHSA-glob-ex00-0000", "2024-05-01T00:00:00Z", "PyPI|requests"))
	return root
}

// list copies the documents of r.
func docList(t testing.TB, r *Result) []*Doc {
	t.Helper()
	var out []*Doc
	for d, err := range r.Docs.All() {
		if err != nil {
			t.Fatal(err)
		}
		c := *d
		out = append(out, &c)
	}
	if len(out) != r.Docs.Len() {
		t.Fatalf("Len %d, %d documents", r.Docs.Len(), len(out))
	}
	return out
}

func ids(r *Result) []string {
	var out []string
	for d := range r.Docs.All() {
		out = append(out, d.ID)
	}
	return out
}

func tm(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSelectors(t *testing.T) {
	root := source(t)
	all := []string{"GO-2024-0001", "GHSA-gggg-hhhh-iiii", "GHSA-aaaa-bbbb-cccc", "GHSA-dddd-eeee-ffff",
		"https://vex.example/acme/1", "urn:uuid:11111111-1111-1111-1111-111111111111", "https://sbom.example/web-2.0"}
	cases := []struct {
		name string
		sel  contract.Selectors
		want []string
		excl map[string]int
	}{
		{"everything, ordered by type, subject, id", contract.Selectors{}, all, nil},
		{"since is inclusive", contract.Selectors{Since: tm("2024-06-01T12:00:00.5Z")},
			[]string{"GHSA-aaaa-bbbb-cccc", "GHSA-dddd-eeee-ffff", "https://vex.example/acme/1", "urn:uuid:11111111-1111-1111-1111-111111111111", "https://sbom.example/web-2.0"},
			map[string]int{ExclSince: 2}},
		{"until is exclusive", contract.Selectors{Until: tm("2024-03-01T00:00:00Z")},
			[]string{"GHSA-gggg-hhhh-iiii"}, map[string]int{ExclUntil: 6}},
		{"window", contract.Selectors{Since: tm("2024-01-01T00:00:00Z"), Until: tm("2024-08-01T00:00:00Z")},
			[]string{"GO-2024-0001", "GHSA-aaaa-bbbb-cccc", "https://vex.example/acme/1"}, map[string]int{ExclSince: 1, ExclUntil: 3}},
		{"purl prefix stops at a name boundary", contract.Selectors{Products: []string{"pkg:npm/lodash"}},
			[]string{"GHSA-aaaa-bbbb-cccc", "https://vex.example/acme/1", "urn:uuid:11111111-1111-1111-1111-111111111111"}, map[string]int{ExclProducts: 4}},
		{"namespace prefix with slash", contract.Selectors{Products: []string{"pkg:maven/org.apache.logging.log4j/"}},
			[]string{"GHSA-gggg-hhhh-iiii"}, nil},
		{"type is case-insensitive", contract.Selectors{Products: []string{"pkg:PyPI/requests"}},
			[]string{"https://sbom.example/web-2.0"}, nil},
		{"ecosystems by OSV name or purl type", contract.Selectors{Ecosystems: []string{"Go"}},
			[]string{"GO-2024-0001", "urn:uuid:11111111-1111-1111-1111-111111111111"}, nil},
		{"ecosystems maven", contract.Selectors{Ecosystems: []string{"maven", "pypi"}},
			[]string{"GHSA-gggg-hhhh-iiii", "https://sbom.example/web-2.0"}, nil},
		{"sbom subjects only filter SBOMs", contract.Selectors{SBOMSubjects: []string{"pkg:pypi/web"}},
			[]string{"GO-2024-0001", "GHSA-gggg-hhhh-iiii", "GHSA-aaaa-bbbb-cccc", "GHSA-dddd-eeee-ffff", "https://vex.example/acme/1", "https://sbom.example/web-2.0"},
			map[string]int{ExclSBOMSubjects: 1}},
		{"sbom subject by name", contract.Selectors{SBOMSubjects: []string{"api"}},
			[]string{"GO-2024-0001", "GHSA-gggg-hhhh-iiii", "GHSA-aaaa-bbbb-cccc", "GHSA-dddd-eeee-ffff", "https://vex.example/acme/1", "urn:uuid:11111111-1111-1111-1111-111111111111"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Resolve(context.Background(), Config{Source: root, Tenant: "acme", Selectors: c.sel})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(ids(r), " "); got != strings.Join(c.want, " ") {
				t.Fatalf("got  %s\nwant %s", got, strings.Join(c.want, " "))
			}
			for k, v := range c.excl {
				if r.Excluded[k] != v {
					t.Errorf("excluded[%s] = %d, want %d (%v)", k, r.Excluded[k], v, r.Excluded)
				}
			}
			if len(r.Ignored) != 1 || r.Ignored[0] != "acme/advisories/README.txt" {
				t.Errorf("ignored %v", r.Ignored)
			}
		})
	}
}

func TestSubjectsAndPolicy(t *testing.T) {
	root := source(t)
	r, err := Resolve(context.Background(), Config{Source: root, Tenant: "acme", PolicySnapshot: "snap-1"})
	if err != nil {
		t.Fatal(err)
	}
	subj := map[string]string{}
	for _, d := range docList(t, r) {
		subj[d.ID] = d.Subject
	}
	for id, want := range map[string]string{
		"GO-2024-0001":                                  "pkg:golang/golang.org/x/net",
		"GHSA-gggg-hhhh-iiii":                           "pkg:maven/org.apache.logging.log4j/log4j-core",
		"https://vex.example/acme/1":                    "pkg:oci/api",
		"urn:uuid:11111111-1111-1111-1111-111111111111": "pkg:oci/api@sha256:abc",
		"https://sbom.example/web-2.0":                  "pkg:pypi/web@2.0",
		"fnd-1":                                         "pkg:npm/lodash@4.17.20",
	} {
		if subj[id] != want {
			t.Errorf("%s: subject %q, want %q", id, subj[id], want)
		}
	}
	if r.Snapshot == nil || r.Snapshot.PolicyVersion != "2024.1" || !strings.HasPrefix(r.Snapshot.DecisionTrace, "sha256:") {
		t.Fatalf("snapshot %+v", r.Snapshot)
	}
}

func TestCrossTenant(t *testing.T) {
	root := source(t)
	_, err := Resolve(context.Background(), Config{Source: root, Tenant: "acme", Selectors: contract.Selectors{Tenants: []string{"acme", "globex"}}})
	var ct *CrossTenantError
	if !errors.As(err, &ct) || exitcode.For(err) != exitcode.Invalid {
		t.Fatalf("got %v, want a cross-tenant refusal", err)
	}
	r, err := Resolve(context.Background(), Config{Source: root, Tenant: "acme", AllowCrossTenant: true, Selectors: contract.Selectors{Tenants: []string{"acme", "globex"}}})
	if err != nil {
		t.Fatal(err)
	}
	all := docList(t, r)
	if last := all[len(all)-1]; last.Tenant != "acme" && last.Type != SBOM {
		t.Fatalf("order: %v", ids(r))
	}
	// A finding naming another tenant inside acme's tree.
	write(t, root, "acme/policy/snap-1/findings/f2.json", `{"id":"fnd-2","tenant":"globex","purl":"pkg:npm/x@1","advisory_id":"A","status":"affected"}`)
	_, err = Resolve(context.Background(), Config{Source: root, Tenant: "acme", PolicySnapshot: "snap-1"})
	if !errors.As(err, &ct) || ct.Path != "acme/policy/snap-1/findings/f2.json" {
		t.Fatalf("got %v", err)
	}
}

func TestInvalidDocuments(t *testing.T) {
	root := source(t)
	write(t, root, "acme/advisories/bad/broken.json", `{"id": "X",`)
	write(t, root, "acme/advisories/bad/noid.json", `{"modified":"2024-01-01T00:00:00Z"}`)
	write(t, root, "acme/advisories/bad/dup.json", osv("GO-2024-0001", "2024-03-01T00:00:00Z", "Go|x"))
	write(t, root, "acme/sboms/old.json", `{"bomFormat":"CycloneDX","specVersion":"1.2","serialNumber":"urn:uuid:x","metadata":{"timestamp":"2024-01-01T00:00:00Z"}}`)
	_, err := Resolve(context.Background(), Config{Source: root, Tenant: "acme"})
	var ie *InvalidError
	if !errors.As(err, &ie) || exitcode.For(err) != exitcode.Invalid {
		t.Fatalf("got %v", err)
	}
	got := map[string]string{}
	for _, d := range ie.Docs {
		got[d.Path] = d.Reason
	}
	for path, want := range map[string]string{
		"acme/advisories/bad/broken.json": "invalid JSON",
		"acme/advisories/bad/noid.json":   "id: missing",
		"acme/advisories/go/GO-1.json":    "duplicate advisory id",
		"acme/sboms/old.json":             `CycloneDX "1.2" is not supported`,
	} {
		if !strings.Contains(got[path], want) {
			t.Errorf("%s: reason %q, want it to contain %q (all: %v)", path, got[path], want, got)
		}
	}
	r, err := Resolve(context.Background(), Config{Source: root, Tenant: "acme", SkipInvalid: true})
	if err != nil || len(r.Invalid) != 4 {
		t.Fatalf("skip-invalid: %v, %v", err, r)
	}
}

func TestMatchPrefix(t *testing.T) {
	for _, c := range []struct {
		purl, prefix string
		want         bool
	}{
		{"pkg:npm/lodash@4.17.21", "pkg:npm/lodash", true},
		{"pkg:npm/lodash", "pkg:npm/lodash", true},
		{"pkg:npm/lodash-es@1", "pkg:npm/lodash", false},
		{"pkg:npm/lodash?x=1", "pkg:npm/lodash", true},
		{"pkg:npm/lodash#sub", "pkg:npm/lodash", true},
		{"pkg:maven/org.apache/log4j@1", "pkg:maven/org.apache", true},
		{"pkg:maven/org.apachex/log4j@1", "pkg:maven/org.apache", false},
		{"pkg:NPM/lodash@1", "pkg:npm/lodash", true},
		{"pkg:npm/lodash@4.17.21", "pkg:npm/lodash@4.17.2", false},
		{"pkg:npm/lodash@4.17.21", "pkg:npm/", true},
	} {
		if got := MatchPrefix(c.purl, c.prefix); got != c.want {
			t.Errorf("MatchPrefix(%q, %q) = %v", c.purl, c.prefix, got)
		}
	}
}
