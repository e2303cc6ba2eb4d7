package trivydb

import (
	"crypto/sha256"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestIDs(t *testing.T) {
	tests := []struct {
		id             string
		aliases        []string
		vulns, vendors []string
	}{
		{"GHSA-aaaa-bbbb-cccc", []string{"CVE-2024-0001"}, []string{"CVE-2024-0001"}, []string{"GHSA-aaaa-bbbb-cccc"}},
		{"GO-2022-0493", []string{"GHSA-p782-xgp4-8hr8", "CVE-2022-29526"}, []string{"CVE-2022-29526"}, []string{"GHSA-p782-xgp4-8hr8", "GO-2022-0493"}},
		{"PYSEC-2021-1", []string{"CVE-2021-2", "CVE-2021-1"}, []string{"CVE-2021-1", "CVE-2021-2"}, []string{"PYSEC-2021-1"}},
		{"RUSTSEC-2024-0003", []string{"GHSA-8r5v-vm4m-4g25"}, []string{"RUSTSEC-2024-0003"}, []string{"GHSA-8r5v-vm4m-4g25"}},
		{"RUSTSEC-2024-0370", nil, []string{"RUSTSEC-2024-0370"}, nil},
	}
	for _, tt := range tests {
		v, o := ids(&Advisory{ID: tt.id, Aliases: tt.aliases})
		if !slices.Equal(v, tt.vulns) || !slices.Equal(o, tt.vendors) {
			t.Errorf("%s: got %q %q, want %q %q", tt.id, v, o, tt.vulns, tt.vendors)
		}
	}
}

func TestSeverity(t *testing.T) {
	const v31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" // 9.8
	const v30 = "CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N" // 5.4
	const v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N"
	tests := []struct {
		name  string
		word  string
		sev   []Severity
		want  string
		score float64
	}{
		{"word wins over score", "MODERATE", []Severity{{"CVSS_V3", v31}}, "MEDIUM", 9.8},
		{"github words", "CRITICAL", nil, "CRITICAL", 0},
		{"v3.1 base score", "", []Severity{{"CVSS_V3", v31}}, "CRITICAL", 9.8},
		{"v3.0 base score", "", []Severity{{"CVSS_V3", v30}}, "MEDIUM", 5.4},
		{"trailing slash", "", []Severity{{"CVSS_V3", v30 + "/"}}, "MEDIUM", 5.4},
		{"v4 before v3", "", []Severity{{"CVSS_V3", v31}, {"CVSS_V4", v4}}, "MEDIUM", 9.8},
		{"bad vector ignored", "", []Severity{{"CVSS_V3", "CVSS:3.1/AV:X"}}, "UNKNOWN", 0},
		{"v2 ignored", "", []Severity{{"CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P"}}, "UNKNOWN", 0},
		{"unknown word", "informational", nil, "UNKNOWN", 0},
	}
	for _, tt := range tests {
		c := parseCVSS(tt.sev)
		if got := severityNames[severityOf(tt.word, c)]; got != tt.want || c.V3Score != tt.score {
			t.Errorf("%s: got %s %.1f, want %s %.1f", tt.name, got, c.V3Score, tt.want, tt.score)
		}
	}
}

func adv(id, source string, modified int, aliases []string, eco, pkg string, ranges ...Range) *Advisory {
	a := &Advisory{
		ID: id, Aliases: aliases, Source: source,
		Modified: time.Date(2025, 1, modified, 0, 0, 0, 0, time.UTC),
		Summary:  "title of " + id + "@" + source, Details: "details of " + id,
		Affected: []Affected{{Package: Package{Ecosystem: eco, Name: pkg}, Ranges: ranges}},
	}
	a.Digest = sha256.Sum256([]byte(id + source))
	return a
}

func TestMergeRule(t *testing.T) {
	ghsa := adv("GHSA-1111-2222-3333", "mirror-a", 5, []string{"CVE-2025-0001"}, "PyPI", "Requests_OAuth",
		Range{"ECOSYSTEM", ev("i", "0", "f", "2.0")})
	ghsa.DatabaseSpecific = DatabaseSpecific{Severity: "HIGH", CWEIDs: []string{"CWE-79"}}
	ghsa.References = []Reference{{"WEB", "https://a.example"}}
	pysec := adv("PYSEC-2025-7", "mirror-b", 9, []string{"CVE-2025-0001"}, "PyPI", "requests-oauth",
		Range{"ECOSYSTEM", ev("i", "3.0", "f", "3.1")})
	pysec.DatabaseSpecific = DatabaseSpecific{CWEIDs: []string{"CWE-20", "CWE-79"}}
	pysec.References = []Reference{{"WEB", "https://b.example"}, {"WEB", "https://a.example"}}
	// The same record in two sources, with equal modified times: the
	// smaller source name wins the metadata.
	dupA := adv("GHSA-9999-8888-7777", "mirror-a", 3, nil, "npm", "left-pad", Range{"SEMVER", ev("i", "0", "f", "1.0.0")})
	dupB := adv("GHSA-9999-8888-7777", "mirror-b", 3, nil, "npm", "left-pad", Range{"SEMVER", ev("i", "0", "f", "1.0.1")})

	orders := [][]*Advisory{{ghsa, pysec, dupA, dupB}, {dupB, pysec, dupA, ghsa}}
	var first map[string]map[string]string
	for i, order := range orders {
		root, s := build(t, order)
		got := dump(t, filepath.Join(root, DBFile))
		if i == 0 {
			first = got
		} else if !deepEqual(got, first) {
			t.Fatalf("order %d gives another database", i)
		}
		pip := got["pip::stella-export OSV advisories/requests-oauth"]["CVE-2025-0001"]
		if want := `{"PatchedVersions":["2.0","3.1"],"VendorIDs":["GHSA-1111-2222-3333","PYSEC-2025-7"],"VulnerableVersions":["<2.0",">=3.0, <3.1"]}`; pip != want {
			t.Errorf("merged package entry = %s, want %s", pip, want)
		}
		var v vulnerabilityValue
		if err := json.Unmarshal([]byte(got["vulnerability"]["CVE-2025-0001"]), &v); err != nil {
			t.Fatal(err)
		}
		// PYSEC is newer: its title wins; it has no severity, so GHSA's
		// HIGH is kept; references and CWE ids are unions.
		if v.Title != "title of PYSEC-2025-7@mirror-b" || v.Severity != "HIGH" ||
			!slices.Equal(v.CweIDs, []string{"CWE-20", "CWE-79"}) ||
			!slices.Equal(v.References, []string{"https://a.example", "https://b.example"}) ||
			!v.LastModifiedDate.Equal(pysec.Modified) {
			t.Errorf("merged vulnerability = %+v", v)
		}
		if err := json.Unmarshal([]byte(got["vulnerability"]["GHSA-9999-8888-7777"]), &v); err != nil {
			t.Fatal(err)
		}
		if v.Title != "title of GHSA-9999-8888-7777@mirror-a" {
			t.Errorf("tie: title %q", v.Title)
		}
		if lp := got["npm::stella-export OSV advisories/left-pad"]["GHSA-9999-8888-7777"]; lp != `{"PatchedVersions":["1.0.0","1.0.1"],"VulnerableVersions":["<1.0.0","<1.0.1"]}` {
			t.Errorf("left-pad = %s", lp)
		}
		if s.Packages["pip"] != 1 || s.Packages["npm"] != 1 || s.Vulnerabilities != 2 || s.Severities["HIGH"] != 1 || s.Severities["UNKNOWN"] != 1 {
			t.Errorf("summary = %+v", s)
		}
	}
}

func deepEqual(a, b map[string]map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !mapsEqual(a[k], b[k]) {
			return false
		}
	}
	return true
}

func TestLeftOut(t *testing.T) {
	w := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	withdrawn := adv("GHSA-w", "s", 1, nil, "npm", "a", Range{"SEMVER", ev("i", "0", "f", "1.0.0")})
	withdrawn.Withdrawn = &w
	debian := adv("DSA-1", "s", 1, nil, "Debian:12", "openssl", Range{"ECOSYSTEM", ev("i", "0", "f", "3.0.1")})
	git := adv("OSV-GIT", "s", 1, nil, "npm", "b", Range{"GIT", ev("i", "abc", "f", "def")})
	mixed := adv("GHSA-mixed", "s", 1, nil, "npm", "c", Range{"SEMVER", ev("i", "0", "f", "1.0.0")})
	mixed.Affected = append(mixed.Affected, Affected{Package: Package{Ecosystem: "Alpine:v3.20", Name: "musl"}})
	empty := &Advisory{ID: "OSV-EMPTY", Source: "s"}

	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*Advisory{withdrawn, debian, git, mixed, empty} {
		b.Add(a)
	}
	s := b.Summary()
	want := []Skip{
		{Advisory: "DSA-1", Source: "s", Ecosystem: "Debian:12", Package: "openssl", Reason: ReasonUnsupportedEcosystem},
		{Advisory: "GHSA-mixed", Source: "s", Ecosystem: "Alpine:v3.20", Package: "musl", Reason: ReasonUnsupportedEcosystem},
		{Advisory: "GHSA-w", Source: "s", Reason: ReasonWithdrawn, Detail: "2024-01-01T00:00:00Z"},
		{Advisory: "OSV-EMPTY", Source: "s", Reason: ReasonNoAffected},
		{Advisory: "OSV-GIT", Source: "s", Ecosystem: "npm", Package: "b", Reason: ReasonGitOnly, Detail: "only GIT ranges and no versions list"},
	}
	if !slices.Equal(s.Skipped, want) {
		t.Errorf("skipped =\n%+v\nwant\n%+v", s.Skipped, want)
	}
	if s.Advisories != 5 || s.Included != 1 || s.LeftOut != 4 || s.Reasons[ReasonUnsupportedEcosystem] != 2 {
		t.Errorf("summary = %+v", s)
	}
}

func TestParseOSV(t *testing.T) {
	for _, bad := range []string{`[]`, `{"id":""}`, `{"id":"X","affected":{}}`, `not json`} {
		if _, err := ParseOSV([]byte(bad), "s"); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	a, err := ParseOSV([]byte(`{"id":"X","database_specific":null,"affected":[{"package":{"ecosystem":"npm","name":"a"},"database_specific":{"cvss":null}}]}`), "s")
	if err != nil || a.ID != "X" || a.Source != "s" || a.Digest == [32]byte{} {
		t.Errorf("got %+v, %v", a, err)
	}
	a, err = ParseOSV([]byte(`{"id":"Y","database_specific":{"severity":7,"cwe_ids":["CWE-1"]}}`), "s")
	if err != nil || a.DatabaseSpecific.Severity != "" || !slices.Equal(a.DatabaseSpecific.CWEIDs, []string{"CWE-1"}) {
		t.Errorf("got %+v, %v", a, err)
	}
}
