package trivydb

import (
	"regexp"
	"strings"
)

// ecosystem is how one OSV ecosystem maps onto Trivy.
type ecosystem struct {
	// prefix is Trivy's bucket prefix (trivy-db pkg/ecosystem), the part of
	// the bucket name before "::".
	prefix string
	// normalise maps an OSV package name to the name Trivy looks up
	// (trivy-db vulnsrc/vulnerability.NormalizePkgName).
	normalise func(string) string
	// version is the grammar of a version Trivy's comparer for this
	// ecosystem can parse in a constraint; a version outside it would make
	// Trivy drop every advisory of the package, so such entries are left out.
	version *regexp.Regexp
	// goPrefix adds Go's leading "v" to versions that lack it.
	goPrefix bool
}

var (
	// aquasecurity/go-version (Trivy's GenericComparer: Go, crates.io, NuGet,
	// Packagist, Pub, Hex, Julia, SwiftURL).
	genericVersion = regexp.MustCompile(`^v?[0-9]+(\.[0-9]+)*` +
		`(-([0-9]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)|(-?([A-Za-z\-~]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)))?` +
		`(\+([0-9A-Za-z\-~]+(\.[0-9A-Za-z\-~]+)*))?$`)
	// aquasecurity/go-npm-version constraints.
	npmVersion = regexp.MustCompile(`^v?[0-9]+(\.[0-9]+)?(\.[0-9]+)?` +
		`(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?` +
		`(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$`)
	// PEP 440 (aquasecurity/go-pep440-version), Maven
	// (masahiro331/go-mvn-version) and RubyGems (aquasecurity/go-gem-version)
	// parse richer grammars; this excludes only what breaks a constraint
	// string: spaces, commas, "|" and operator characters.
	looseVersion = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_~!-]*$`)
)

func lower(s string) string { return strings.ToLower(s) }
func keep(s string) string  { return s }

// ecosystems maps the lower-cased OSV ecosystem (the part before any ":")
// to Trivy's, as trivy-db's vulnsrc/osv resolveBucket and Trivy's
// pkg/detector/library/driver.go pair them.
var ecosystems = map[string]ecosystem{
	"npm":       {prefix: "npm", normalise: lower, version: npmVersion},
	"pypi":      {prefix: "pip", normalise: func(s string) string { return strings.ReplaceAll(lower(s), "_", "-") }, version: looseVersion},
	"go":        {prefix: "go", normalise: keep, version: genericVersion, goPrefix: true},
	"maven":     {prefix: "maven", normalise: lower, version: looseVersion},
	"crates.io": {prefix: "cargo", normalise: lower, version: genericVersion},
	"rubygems":  {prefix: "rubygems", normalise: lower, version: looseVersion},
	"nuget":     {prefix: "nuget", normalise: lower, version: genericVersion},
	"packagist": {prefix: "composer", normalise: lower, version: genericVersion},
	"pub":       {prefix: "pub", normalise: lower, version: genericVersion},
	"hex":       {prefix: "erlang", normalise: lower, version: genericVersion},
	"julia":     {prefix: "julia", normalise: keep, version: genericVersion},
	"swifturl": {prefix: "swift", normalise: func(s string) string {
		return strings.TrimSuffix(strings.TrimPrefix(s, "https://"), ".git")
	}, version: genericVersion},
}

// lookupEcosystem resolves an OSV ecosystem string ("PyPI", "npm",
// "Maven:https://repo.example") case-insensitively.
func lookupEcosystem(osv string) (ecosystem, bool) {
	name, _, _ := strings.Cut(strings.ToLower(osv), ":")
	e, ok := ecosystems[name]
	return e, ok
}

// Ecosystems lists the supported OSV ecosystems, lower-cased, sorted.
func Ecosystems() []string {
	names := make([]string, 0, len(ecosystems))
	for n := range ecosystems {
		names = append(names, n)
	}
	sortStrings(names)
	return names
}
