// Package contract reads export contracts: versioned YAML files that say
// what to export (tenant, profile, evidence source, selectors) and how
// (compression, output name, retention). Parsing is strict and keeps
// positions: every mistake in a file is reported as a *FieldError naming
// file:line:column, the field path and the fix, and all of a file's
// mistakes are returned together as Errors.
package contract

import (
	"time"
)

// The versions and kinds this build understands.
const (
	APIVersion   = "stella-export/v1"
	KindEvidence = "EvidenceExport"
)

// Profiles of EvidenceExport contracts.
const (
	ProfileJSONRaw     = "json:raw"
	ProfileJSONPolicy  = "json:policy"
	ProfileMirrorFull  = "mirror:full"
	ProfileMirrorDelta = "mirror:delta"
	ProfileTrivyDB     = "trivy:db"
	ProfileTrivyJavaDB = "trivy:java-db"
)

// TrivySchemas are the database schema versions the trivy profiles write
// (trivy_schema), each profile's only and default one: Trivy's DB schema
// for trivy:db, its Java DB schema for trivy:java-db.
var TrivySchemas = map[string]int{ProfileTrivyDB: 2, ProfileTrivyJavaDB: 1}

// Contract is a validated contract. Paths are resolved against the
// contract's directory; the fields as written are kept for the plan, so
// that plan bytes do not depend on the working directory.
type Contract struct {
	Path   string // the file as given on the command line
	Digest string // "sha256:<hex>" of the file's bytes

	APIVersion string
	Kind       string
	ExportID   string // a URN (RFC 8141)
	Tenant     string
	Profile    string

	Source    string // as written
	SourceDir string // resolved against the contract's directory, cleaned

	Selectors Selectors

	PolicySnapshot string // json:policy (required), mirror:* (optional)

	Base     string // mirror:delta: the base mirror bundle, as written
	BasePath string // resolved

	// TrivySchema is the Trivy database schema to write (trivy:db and
	// trivy:java-db): as written, or the profile's TrivySchemas entry.
	TrivySchema int

	Compression   Compression
	RetentionDays int    // 0 when not set
	Output        string // bundle file name; empty when not set

	AllowCrossTenant bool

	// Encryption says how run encrypts the export; nil for none.
	Encryption *Encryption

	// Dataset holds the fields of a DatasetExport; nil for other kinds.
	Dataset *Dataset

	// positions of fields as written, keyed by dotted path
	// ("selectors.since", "selectors.products[1]").
	pos map[string]Pos
}

// Selectors choose documents from the source.
type Selectors struct {
	Tenants      []string  // default: the contract's tenant
	Since        time.Time // zero: unbounded; inclusive
	Until        time.Time // zero: unbounded; exclusive
	Products     []string  // purl prefixes
	SBOMSubjects []string
	Ecosystems   []string
}

// Compression of the JSON lines outputs.
type Compression struct {
	Codec string // "zstd"
	Level int    // 1..22; default 3
}

// Pos is a position in a contract file.
type Pos struct {
	Line, Column int
}

// Where returns "file:line:column" for a field path as written, or the
// file alone when the field was not written (a default). Paths are those
// of FieldError.Field: "source", "selectors.since", "compression.level",
// "selectors.products[1]". A scalar is located at its value, a mapping or
// list at its key, so that a later stage can say
// "contracts/a.yaml:6:9: source: directory ../evidence does not exist".
func (c *Contract) Where(field string) string {
	if p, ok := c.pos[field]; ok {
		return c.Path + ":" + itoa(p.Line) + ":" + itoa(p.Column)
	}
	return c.Path
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
