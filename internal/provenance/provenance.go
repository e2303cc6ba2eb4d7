// Package provenance writes and reads provenance.json
// (docs/format.md#provenance-json), the record stella-export run keeps of
// what an export was made from: the contract, selectors, adapters, policy
// snapshot and base, every input document and every payload file, each
// named with its SHA-256 as an in-toto resource descriptor.
//
// Write streams the document as canonical JSON, so that exports of
// millions of files never hold it in memory. Read accepts only a
// provenance.json of this format (format, export_id and the contract
// digest are required); stella-export sign --attest and verify read it
// back to build and check SLSA attestations.
package provenance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/stella-ops/stella-export/internal/canonjson"
)

// Format is the format field of provenance.json.
const Format = "stella-export/provenance/v1"

// MaxSize bounds the provenance.json Read reads (512 MiB).
const MaxSize = 512 << 20

// Descriptor is an in-toto v1 resource descriptor (a subject, an input, a
// resolved dependency): a name and digests. Only SHA-256 is written or
// compared; a struct rather than a map keeps an export of a million inputs
// affordable.
type Descriptor struct {
	Name   string    `json:"name"`
	Digest DigestSet `json:"digest"`
}

// AppendCanonical appends d's canonical JSON (canonjson.Appender).
func (d Descriptor) AppendCanonical(b []byte) []byte {
	b = append(b, `{"digest":{"sha256":`...)
	b = canonjson.AppendString(b, d.Digest.SHA256)
	b = append(b, `},"name":`...)
	b = canonjson.AppendString(b, d.Name)
	return append(b, '}')
}

// DigestSet is the digest object of a resource descriptor: bare lower-case
// hex, as in-toto writes it.
type DigestSet struct {
	SHA256 string `json:"sha256"`
}

// Head is provenance.json without its two arrays, subject and inputs,
// which can hold millions of entries.
type Head struct {
	Format          string          `json:"format"`
	ExportID        string          `json:"export_id"`
	Profile         string          `json:"profile"`
	Tenant          string          `json:"tenant"`
	ExporterVersion string          `json:"exporter_version"`
	Adapters        json.RawMessage `json:"adapters"`  // name and version of each adapter
	Contract        Descriptor      `json:"contract"`  // named "contract"
	Selectors       json.RawMessage `json:"selectors"` // as in the plan
	PolicySnapshot  *Descriptor     `json:"policy_snapshot,omitempty"`
	Base            *Descriptor     `json:"base,omitempty"` // named by its export id
}

// Document is a whole provenance.json.
type Document struct {
	Head
	Subject []Descriptor `json:"subject"` // every payload file but provenance.json
	Inputs  []Descriptor `json:"inputs"`  // every input document, in plan order
}

// List is a list of descriptors given one at a time, so that Write streams
// it. An error ends the list and Write returns it.
type List = iter.Seq2[Descriptor, error]

// Write writes provenance.json to w as canonical JSON and one LF: h, with
// its Format set to Format, and the subject and inputs arrays.
func Write(w io.Writer, h Head, subject, inputs List) error {
	h.Format = Format
	item := func(l List) canonjson.Array {
		return canonjson.Array{Seq: func(yield func(any, error) bool) {
			for d, err := range l {
				if !yield(d, err) {
					return
				}
			}
		}}
	}
	return canonjson.WriteObject(w, h, map[string]canonjson.Array{"subject": item(subject), "inputs": item(inputs)})
}

// Read reads provenance.json, at most MaxSize bytes of it, and checks its
// format, export_id and contract digest.
func Read(r io.Reader) (*Document, error) {
	var d Document
	if err := json.NewDecoder(io.LimitReader(r, MaxSize)).Decode(&d); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if d.Format != Format {
		return nil, fmt.Errorf("format %q is not %s", d.Format, Format)
	}
	if d.ExportID == "" || d.Contract.Digest.SHA256 == "" {
		return nil, errors.New("export_id or contract digest missing")
	}
	return &d, nil
}

// Materials are the resolved dependencies of an export: its contract, its
// policy snapshot and base bundle when it has them, then every input
// document, in provenance.json order.
func (d *Document) Materials() []Descriptor {
	out := make([]Descriptor, 0, len(d.Inputs)+3)
	out = append(out, Descriptor{Name: "contract", Digest: d.Contract.Digest})
	if d.PolicySnapshot != nil {
		out = append(out, *d.PolicySnapshot)
	}
	if d.Base != nil {
		out = append(out, Descriptor{Name: "base:" + d.Base.Name, Digest: d.Base.Digest})
	}
	return append(out, d.Inputs...)
}
