package contract

import "strings"

// ecosystem is one OSV ecosystem and the purl type of its packages.
type ecosystem struct {
	osv  string // the OSV ecosystem name, as the OSV schema spells it
	purl string // the purl type, lower case
}

// ecosystemTable lists the ecosystems a contract can select, in the order
// docs/contract.md and the JSON Schema list them. Several OSV ecosystems
// share a purl type (Debian and Ubuntu both ship deb packages); selecting
// one of them selects the type.
var ecosystemTable = []ecosystem{
	{"npm", "npm"},
	{"PyPI", "pypi"},
	{"Go", "golang"},
	{"Maven", "maven"},
	{"crates.io", "cargo"},
	{"RubyGems", "gem"},
	{"NuGet", "nuget"},
	{"Packagist", "composer"},
	{"Hex", "hex"},
	{"Pub", "pub"},
	{"Hackage", "hackage"},
	{"CRAN", "cran"},
	{"ConanCenter", "conan"},
	{"SwiftURL", "swift"},
	{"GitHub Actions", "github"},
	{"Bitnami", "bitnami"},
	{"Debian", "deb"},
	{"Ubuntu", "deb"},
	{"Alpine", "apk"},
	{"Wolfi", "apk"},
	{"Chainguard", "apk"},
	{"Red Hat", "rpm"},
	{"Rocky Linux", "rpm"},
	{"AlmaLinux", "rpm"},
	{"SUSE", "rpm"},
	{"openSUSE", "rpm"},
	{"openEuler", "rpm"},
	{"Mageia", "rpm"},
	{"Photon OS", "rpm"},
}

// ecosystemIndex maps the lower-cased OSV names and purl types to purl types.
var ecosystemIndex = func() map[string]string {
	m := make(map[string]string, 2*len(ecosystemTable))
	for _, e := range ecosystemTable {
		m[asciiLower(e.osv)] = e.purl
		m[e.purl] = e.purl
	}
	return m
}()

// NormalizeEcosystem maps an ecosystem name, either an OSV ecosystem
// ("PyPI", "crates.io", "GitHub Actions") or a purl type ("pypi", "cargo",
// "github"), to its purl type in lower case. Letter case is ignored. An
// OSV release suffix is dropped ("Debian:12" and "Alpine:v3.19" name deb
// and apk), so the function can be applied to OSV documents as written.
// ok is false for names it does not know.
func NormalizeEcosystem(s string) (purlType string, ok bool) {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	purlType, ok = ecosystemIndex[asciiLower(s)]
	return purlType, ok
}

// asciiLower lower-cases ASCII letters only: strings.ToLower would also
// fold the Kelvin sign to 'k', and the JSON Schema cannot follow that.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// ecosystemNames returns every accepted spelling (OSV names, then the purl
// types not already listed), for suggestions.
func ecosystemNames() []string {
	var names []string
	seen := map[string]bool{}
	for _, e := range ecosystemTable {
		names = append(names, e.osv)
		seen[asciiLower(e.osv)] = true
	}
	for _, e := range ecosystemTable {
		if !seen[e.purl] {
			names = append(names, e.purl)
			seen[e.purl] = true
		}
	}
	return names
}
