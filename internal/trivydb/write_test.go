package trivydb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

var pinned = Metadata{
	UpdatedAt:    time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
	NextUpdate:   time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC),
	DownloadedAt: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
}

// samples are real OSV records: testdata/osv (see testdata/NOTICE.md) and
// the sample evidence of the repository (testdata/evidence/NOTICE.md).
var samples = []string{
	"testdata/osv/GO-2022-0493.json",
	"testdata/osv/GO-2022-0617.json",
	"testdata/osv/RUSTSEC-2020-0071.json",
	"testdata/osv/RUSTSEC-2021-0135.json",
	"testdata/osv/RUSTSEC-2024-0370.json",
	"../../testdata/evidence/acme/advisories/crates.io/RUSTSEC-2021-0124.json",
	"../../testdata/evidence/acme/advisories/crates.io/RUSTSEC-2022-0013.json",
	"../../testdata/evidence/acme/advisories/crates.io/RUSTSEC-2023-0071.json",
	"../../testdata/evidence/acme/advisories/crates.io/RUSTSEC-2024-0003.json",
	"../../testdata/evidence/acme/advisories/go/GO-2022-0969.json",
	"../../testdata/evidence/acme/advisories/go/GO-2022-1031.json",
	"../../testdata/evidence/acme/advisories/go/GO-2023-1988.json",
	"../../testdata/evidence/acme/advisories/go/GO-2023-2402.json",
	"../../testdata/evidence/globex/advisories/GO-2021-0113.json",
	"../../testdata/evidence/globex/advisories/RUSTSEC-2021-0078.json",
}

func loadSamples(t testing.TB) []*Advisory {
	t.Helper()
	var out []*Advisory
	for _, p := range samples {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		a, err := ParseOSV(data, strings.Split(p, "/")[len(strings.Split(p, "/"))-3])
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, a)
	}
	return out
}

func build(t testing.TB, advs []*Advisory) (string, Summary) {
	t.Helper()
	b, err := New(Options{Metadata: pinned})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range advs {
		b.Add(a)
	}
	root := t.TempDir()
	s, err := b.Write(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	return root, s
}

// dump reads a written database back: bucket path → key → value.
func dump(t testing.TB, path string) map[string]map[string]string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]map[string]string{}
	var walk func(prefix string, b *bolt.Bucket) error
	walk = func(prefix string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(prefix+"/"+string(k), b.Bucket(k))
			}
			if out[prefix] == nil {
				out[prefix] = map[string]string{}
			}
			out[prefix][string(k)] = string(v)
			return nil
		})
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteSamples(t *testing.T) {
	root, s := build(t, loadSamples(t))
	got := dump(t, filepath.Join(root, DBFile))

	ds := `{"ID":"stella-export","Name":"stella-export OSV advisories"}`
	if want := map[string]string{"cargo::stella-export OSV advisories": ds, "go::stella-export OSV advisories": ds}; !mapsEqual(got["data-source"], want) {
		t.Errorf("data-source = %v, want %v", got["data-source"], want)
	}
	goBkt := "go::stella-export OSV advisories"
	for path, want := range map[string]string{
		goBkt + "/stdlib":           `{"PatchedVersions":["v1.17.10","v1.18.2"],"VendorIDs":["GHSA-p782-xgp4-8hr8","GO-2022-0493"],"VulnerableVersions":["<v1.17.10",">=v1.18.0-0, <v1.18.2"]}`,
		goBkt + "/golang.org/x/sys": `{"PatchedVersions":["v0.0.0-20220412211240-33da011f77ad"],"VendorIDs":["GHSA-p782-xgp4-8hr8","GO-2022-0493"],"VulnerableVersions":["<v0.0.0-20220412211240-33da011f77ad"]}`,
	} {
		if v := got[path]["CVE-2022-29526"]; v != want {
			t.Errorf("%s CVE-2022-29526 = %s, want %s", path, v, want)
		}
	}
	// No CVE alias: the OSV id is the vulnerability id.
	if v := got["cargo::stella-export OSV advisories/proc-macro-error"]["RUSTSEC-2024-0370"]; v != `{"VulnerableVersions":[">=0.0.0-0"]}` {
		t.Errorf("proc-macro-error = %s", v)
	}
	// Withdrawn records are absent.
	if _, ok := got["cargo::stella-export OSV advisories/tower-http"]; ok {
		t.Error("withdrawn RUSTSEC-2021-0135 written")
	}
	if _, ok := got[goBkt+"/k8s.io/kubernetes"]; ok {
		t.Error("withdrawn GO-2022-0617 written")
	}

	var v vulnerabilityValue
	if err := json.Unmarshal([]byte(got["vulnerability"]["CVE-2020-26235"]), &v); err != nil {
		t.Fatal(err)
	}
	if v.Severity != "MEDIUM" || v.VendorSeverity["stella-export"] != sevMedium ||
		v.CVSS["stella-export"].V3Vector != "CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H" || v.CVSS["stella-export"].V3Score != 6.2 ||
		!strings.HasPrefix(v.Title, "Potential segfault in the time crate") || v.PublishedDate == nil ||
		!v.PublishedDate.Equal(time.Date(2020, 11, 18, 12, 0, 0, 0, time.UTC)) || len(v.References) == 0 {
		t.Errorf("CVE-2020-26235 = %+v", v)
	}

	if s.Advisories != len(samples) || s.LeftOut != 2 || s.Included != len(samples)-2 {
		t.Errorf("summary counts = %+v", s)
	}
	if s.Packages["go"] == 0 || s.Packages["cargo"] == 0 || s.Vulnerabilities != len(got["vulnerability"]) {
		t.Errorf("summary packages = %v, vulnerabilities %d of %d", s.Packages, s.Vulnerabilities, len(got["vulnerability"]))
	}
	total := 0
	for _, n := range s.Severities {
		total += n
	}
	if total != s.Vulnerabilities || s.Reasons[ReasonWithdrawn] != 2 {
		t.Errorf("severities %v, reasons %v", s.Severities, s.Reasons)
	}

	meta, err := os.ReadFile(filepath.Join(root, MetadataFile))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Version":2,"NextUpdate":"2025-06-02T12:00:00Z","UpdatedAt":"2025-06-01T12:00:00Z","DownloadedAt":"2025-06-01T12:00:00Z"}` + "\n"
	if string(meta) != want {
		t.Errorf("metadata.json = %q, want %q", meta, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// synthetic makes n advisories over a few ecosystems, some packages with
// many vulnerabilities (package buckets too large to inline), some CVE
// aliases shared between advisories.
func synthetic(n int) []*Advisory {
	ecos := []string{"npm", "PyPI", "Go", "Maven", "crates.io", "RubyGems", "NuGet", "Packagist", "Pub", "Hex"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []*Advisory
	for i := range n {
		eco := ecos[i%len(ecos)]
		pkg := fmt.Sprintf("pkg-%d", (i/len(ecos))%(n/40+1))
		if k := i / len(ecos); k%3 == 0 {
			pkg = fmt.Sprintf("hot-%d", k%2)
		}
		if eco == "Maven" {
			pkg = "org.example:" + pkg
		}
		pub := base.Add(time.Duration(i) * time.Hour)
		a := &Advisory{
			ID:        fmt.Sprintf("OSV-%06d", i),
			Aliases:   []string{fmt.Sprintf("CVE-2024-%05d", i/2)},
			Modified:  base.Add(time.Duration(i%7) * time.Minute),
			Published: &pub,
			Summary:   fmt.Sprintf("problem %d", i),
			Details:   strings.Repeat("details ", 20),
			Severity:  []Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}},
			Affected: []Affected{{
				Package: Package{Ecosystem: eco, Name: pkg},
				Ranges:  []Range{{Type: "ECOSYSTEM", Events: ev("i", fmt.Sprintf("%d.0.0", i%5), "f", fmt.Sprintf("%d.%d.1", i%5, i%9))}},
			}},
			References: []Reference{{Type: "WEB", URL: fmt.Sprintf("https://example.com/%d", i)}},
			Source:     []string{"mirror-a", "mirror-b"}[i%2],
		}
		if i%13 == 0 {
			a.Affected = append(a.Affected, Affected{Package: Package{Ecosystem: "Debian:12", Name: "openssl"}})
		}
		if i%17 == 0 {
			w := base
			a.Withdrawn = &w
		}
		out = append(out, a)
	}
	return out
}

func fileBytes(t testing.TB, root string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestWriteDeterministic(t *testing.T) {
	advs := synthetic(3000)
	root, _ := build(t, advs)
	want := fileBytes(t, root)
	// The sample has several package buckets too large to be inlined in
	// one ecosystem: the case in which one bbolt transaction would place
	// them in Go map order.
	large := 0
	for path, kv := range dump(t, filepath.Join(root, DBFile)) {
		if strings.HasPrefix(path, "npm::") {
			size := 16
			for k, v := range kv {
				size += 16 + len(k) + len(v)
			}
			if size > pageSize/4 {
				large++
			}
		}
	}
	if large < 2 {
		t.Fatalf("only %d large npm package buckets: the test would not catch map-order page allocation", large)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 4 {
		shuffled := slices.Clone(advs)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		root, _ := build(t, shuffled)
		if got := fileBytes(t, root); !bytes.Equal(got, want) {
			t.Fatalf("write %d (shuffled input): %d bytes differ from the first write's %d", i, len(got), len(want))
		}
	}
}

func TestSchemaGate(t *testing.T) {
	for _, schema := range []int{1, 3, -2} {
		_, err := New(Options{Schema: schema})
		var se *SchemaError
		if !errors.As(err, &se) || se.Got != schema || exitcode.For(err) != exitcode.Invalid {
			t.Errorf("schema %d: err = %v (exit %d)", schema, err, exitcode.For(err))
		}
		if err != nil && err.Error() != fmt.Sprintf("trivy db schema %d is not supported (only 2)", schema) {
			t.Errorf("message %q", err)
		}
	}
	if b, err := New(Options{Schema: 2}); err != nil || b == nil {
		t.Errorf("schema 2: %v", err)
	}
}

func TestWriteRefusesExistingAndCancelled(t *testing.T) {
	b, err := New(Options{Metadata: pinned})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range synthetic(200) {
		b.Add(a)
	}
	root := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Write(ctx, root); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled write: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "db"))
	if len(entries) != 0 {
		t.Fatalf("cancelled write left %v", entries)
	}
	if _, err := b.Write(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(context.Background(), root); exitcode.For(err) != exitcode.Conflict {
		t.Fatalf("second write into the same root: %v (exit %d)", err, exitcode.For(err))
	}
}
