// Package evidence reads an evidence source, the offline stand-in for the
// Findings Ledger and the Policy Engine, and resolves an export's selectors
// against it. The layout (docs/evidence.md):
//
//	<source>/<tenant>/advisories/**/*.json       OSV 1.x advisories
//	<source>/<tenant>/vex/**/*.json              OpenVEX documents
//	<source>/<tenant>/sboms/**/*.json            CycloneDX 1.5/1.6 or SPDX 2.3 JSON
//	<source>/<tenant>/policy/<snapshot>/snapshot.json
//	<source>/<tenant>/policy/<snapshot>/findings/**/*.json
//	<source>/<tenant>/java-index/**/*.jsonl      Maven artefact index (trivy:java-db)
//
// Every document is read once, as a stream, to hash it and to pick the few
// fields selectors and ordering need. The selected documents are a stream
// too (Docs): compact records sorted into plan order by an external merge
// sort (internal/extsort) that spills beyond a memory budget, so memory
// grows neither with the documents' size nor with their number.
package evidence

import (
	"strings"
	"time"
)

// Type is a kind of evidence document.
type Type string

const (
	Advisory Type = "advisory"
	VEX      Type = "vex"
	SBOM     Type = "sbom"
	Finding  Type = "finding"
	// JavaIndex is a file of the Maven artefact index (JSON lines), read
	// only by the trivy:java-db profile.
	JavaIndex Type = "java-index"
)

// Types in output order.
var Types = []Type{Advisory, VEX, SBOM, Finding, JavaIndex}

// Dir is the directory of a type below a tenant (findings live below a
// policy snapshot).
func (t Type) Dir() string {
	switch t {
	case Advisory:
		return "advisories"
	case VEX:
		return "vex"
	case SBOM:
		return "sboms"
	case JavaIndex:
		return "java-index"
	}
	return "findings"
}

func (t Type) order() int {
	for i, x := range Types {
		if x == t {
			return i
		}
	}
	return len(Types)
}

// Doc is one resolved document. Subject and ID order documents within a
// type and tenant (docs/evidence.md defines both per type).
type Doc struct {
	Type    Type
	Tenant  string
	ID      string
	Subject string
	Path    string // slash-separated, relative to the source directory
	SHA256  string // "sha256:<hex>" of the file's bytes
	Size    int64
	Time    time.Time // the document's own time (zero when it has none)
	// Ecosystems are the purl types the document touches, sorted.
	Ecosystems []string
	// Products are the packages the document is about (purls without
	// version), sorted: advisories' affected packages, VEX products, the
	// SBOM's subject, the finding's package.
	Products []string
	// Format names the document format: "osv", "openvex", "cyclonedx",
	// "spdx", "finding".
	Format string
	// CanonOff and CanonLen locate the document's canonical form in the
	// temporary store of a Resolve with Config.KeepCanonical (CanonLen 0:
	// none kept); see SortedDocs.Canonical. Plans do not carry them.
	CanonOff, CanonLen int64
}

// Less orders documents by type, tenant, subject, id, path.
func Less(a, b *Doc) int {
	if c := a.Type.order() - b.Type.order(); c != 0 {
		return c
	}
	for _, p := range [][2]string{{a.Tenant, b.Tenant}, {a.Subject, b.Subject}, {a.ID, b.ID}, {a.Path, b.Path}} {
		if c := strings.Compare(p[0], p[1]); c != 0 {
			return c
		}
	}
	return 0
}
