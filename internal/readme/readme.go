// Package readme renders the operator README.md placed in every bundle. The
// text depends only on the manifest fields passed in, so it is as
// reproducible as the rest of the bundle.
package readme

import (
	"bytes"
	_ "embed"
	"text/template"
)

//go:embed directory.md.tmpl
var directoryText string

//go:embed portable.md.tmpl
var portableText string

//go:embed run.md.tmpl
var runText string

//go:embed dataset.md.tmpl
var datasetText string

var (
	directoryTmpl = template.Must(template.New("directory").Parse(directoryText))
	portableTmpl  = template.Must(template.New("portable").Parse(portableText))
	runTmpl       = template.Must(template.New("run").Parse(runText))
	datasetTmpl   = template.Must(template.New("dataset").Parse(datasetText))
)

// MaxListed is how many payload files a directory README names.
const MaxListed = 50

// Directory holds the fields of a directory bundle's README.
type Directory struct {
	ExportID        string
	Profile         string
	ExporterVersion string
	FileCount       int
	PayloadBytes    int64
	ModTime         string
	Files           []string // the first payload file paths in order (at least MaxListed when there are that many); FileCount counts them all
	Signing
}

// Signing describes in-bundle signatures, when the bundle has them.
type Signing struct {
	SignedBy   string // the signing key's fingerprint, sha256:<hex>; empty when unsigned
	SignedProv bool   // provenance.json.sig is present too
}

// Portable holds the fields of a portable evidence export's README.
type Portable struct {
	ExportID, BundleID, Tenant, ExporterVersion, PortableVersion string
	CreatedAtUTC, RootHash, SourceURI                            string
	PortableSizeBytes                                            int64
}

// RenderDirectory returns README.md for a directory bundle.
func RenderDirectory(d Directory) ([]byte, error) {
	data := struct {
		Directory
		Listed []string
		More   int
	}{Directory: d, Listed: d.Files}
	if len(d.Files) > MaxListed {
		data.Listed = d.Files[:MaxListed]
	}
	data.More = max(0, d.FileCount-len(data.Listed))
	var buf bytes.Buffer
	err := directoryTmpl.Execute(&buf, data)
	return buf.Bytes(), err
}

// RenderPortable returns README.md for a portable evidence export.
func RenderPortable(p Portable) ([]byte, error) {
	var buf bytes.Buffer
	err := portableTmpl.Execute(&buf, p)
	return buf.Bytes(), err
}

// Run holds the fields of a `stella-export run` bundle's README.
type Run struct {
	ExportID, Tenant, Profile, ExporterVersion, ModTime string
	Documents, FileCount                                int
	PayloadBytes                                        int64
	Counts                                              []string // e.g. "3 advisories"
	Raw, Policy, Mirror, Delta                          bool
	TrivyDB, JavaDB                                     bool
	Signing
	Encryption *Encryption // nil when nothing is encrypted
}

// Encryption describes the encrypted files of a run bundle.
type Encryption struct {
	Mode, Scope, Suffix, KeyID, PlaintextManifest string
	Files                                         int
}

// RenderRun returns README.md for a run bundle.
func RenderRun(r Run) ([]byte, error) {
	var buf bytes.Buffer
	err := runTmpl.Execute(&buf, r)
	return buf.Bytes(), err
}

// Dataset holds the fields of a DatasetExport bundle's README.
type Dataset struct {
	ExportID, Tenant, ExporterVersion, ModTime string
	Schema, Format, Codec                      string
	Records                                    int64
	DataFiles, FileCount                       int
	PayloadBytes                               int64
	Signing
}

// RenderDataset returns README.md for a DatasetExport bundle.
func RenderDataset(d Dataset) ([]byte, error) {
	var buf bytes.Buffer
	err := datasetTmpl.Execute(&buf, d)
	return buf.Bytes(), err
}
