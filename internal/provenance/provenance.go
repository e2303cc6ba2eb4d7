// Package provenance writes and reads provenance.json
// (docs/format.md#provenance-json), the record stella-export run keeps of
// what an export was made from: the contract, selectors, adapters, policy
// snapshot and base, every input document and every payload file, each
// named with its SHA-256 as an in-toto resource descriptor.
//
// Write streams the document as canonical JSON, so that exports of
// millions of files never hold it in memory. Summarize reads it back the
// same way, in one pass and bounded memory, into what stella-export sign
// --attest and verify need to build and check SLSA attestations: the head,
// the counts, and the inputs root, the RFC 6962 Merkle root of the inputs'
// sha256sum lines in plan order. From a provenance.json, in shell:
//
//	jq -r '.inputs[] | .digest.sha256 + "  " + .name' provenance.json
//
// gives those lines, whose root is computed as checksums.txt's is
// (docs/format.md#merkle-root).
package provenance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/merkle"
	"github.com/stella-ops/stella-export/internal/safepath"
)

// Format is the format field of provenance.json.
const Format = "stella-export/provenance/v1"

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
	// SigningKey names the key that signs the bundle, when run signs it.
	SigningKey *SigningKey `json:"signingKey,omitempty"`
	// Encryption, when set, is written as the "encryption" member, its
	// files streamed (Summarize skips it).
	Encryption *Encryption `json:"-"`
}

// SigningKey is provenance.json's signingKey: the key id of the signing
// key, "sha256:" and the hex SHA-256 of its public key's DER
// SubjectPublicKeyInfo (what `verify --key` is given).
type SigningKey struct {
	KeyID string `json:"keyId"`
}

// Encryption is provenance.json's encryption member
// (docs/encryption.md#what-a-bundle-records): the mode and scope, the key
// id of the master key (envelope) or the recipients' fingerprints (age),
// the encrypted plaintext manifest's name, and every encrypted file of the
// bundle with, in envelope mode, its wrapped data key.
type Encryption struct {
	Mode              string   `json:"mode"`
	Scope             string   `json:"scope"`
	KeyID             string   `json:"keyId,omitempty"`
	Recipients        []string `json:"recipients,omitempty"`
	PlaintextManifest string   `json:"plaintextManifest"`
	// Files yields the encrypted files sorted by name.
	Files iter.Seq2[EncryptedFile, error] `json:"-"`
}

// EncryptedFile is one entry of Encryption's files: the file's name in
// the bundle and, in envelope mode, the standard base64 of its header's
// wrap nonce and wrapped data key (60 bytes).
type EncryptedFile struct {
	Name       string `json:"name"`
	WrappedKey string `json:"wrappedKey,omitempty"`
}

// AppendCanonical appends f's canonical JSON (canonjson.Appender).
func (f EncryptedFile) AppendCanonical(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = canonjson.AppendString(b, f.Name)
	if f.WrappedKey != "" {
		b = append(b, `,"wrappedKey":`...)
		b = canonjson.AppendString(b, f.WrappedKey)
	}
	return append(b, '}')
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
	arrays := map[string]canonjson.Array{"subject": item(subject), "inputs": item(inputs)}
	if e := h.Encryption; e != nil {
		files := canonjson.Array{Seq: func(yield func(any, error) bool) {
			for f, err := range e.Files {
				if !yield(f, err) || err != nil {
					return
				}
			}
		}}
		arrays["encryption"] = canonjson.Array{Object: &canonjson.Object{Head: e, Arrays: map[string]canonjson.Array{"files": files}}}
	}
	return canonjson.WriteObject(w, h, arrays)
}

// Summary is what stella-export sign --attest and verify need of a
// provenance.json: its head, how many subjects and inputs it lists, and the
// inputs root. It is the same size for ten inputs and ten million.
type Summary struct {
	Head
	Subjects int
	Inputs   int
	// InputsRoot is the RFC 6962 Merkle root (internal/merkle) whose
	// leaves are the InputLeaf lines of the inputs, in provenance.json
	// order (plan order): the root a checksums.txt listing the inputs
	// would have.
	InputsRoot digest.SHA256
}

// InputLeaf appends to dst the Merkle leaf of an input: "<hex>  <name>",
// its line in sha256sum and checksums.txt format, without the LF.
func InputLeaf(dst []byte, d Descriptor) []byte {
	dst = append(dst, d.Digest.SHA256...)
	dst = append(dst, "  "...)
	return append(dst, d.Name...)
}

// MaxValue bounds each value Summarize reads: a field of the head, or one
// subject or input (16 MiB). The document as a whole is not bounded, since
// it is read as a stream.
const MaxValue = 16 << 20

// MaxSize bounds the provenance.json verify keeps in memory, which it does
// only to check an Ed25519 signature of it (pure Ed25519 signs the whole
// message), 512 MiB.
const MaxSize = 512 << 20

// Summarize reads provenance.json in one pass and in memory bounded by
// MaxValue, whatever the number of inputs. It checks the format, the
// export_id, the contract digest, and each input (a safe path and 64
// lower-case hex digits: the leaves of the inputs root must be the plan's
// lines); a key that appears twice, a missing inputs array or data after
// the object are refused; unknown fields are ignored. An error reading r
// is returned as a *ReadError.
func Summarize(r io.Reader) (*Summary, error) {
	lr := &valueReader{r: r}
	dec := json.NewDecoder(lr)
	// Each value may take MaxValue bytes from where it starts.
	next := func() { lr.limit = dec.InputOffset() + MaxValue }
	s, err := summarize(dec, next)
	if lr.err != nil {
		return nil, &ReadError{Err: lr.err}
	}
	return s, err
}

// ReadError is a failure of the reader Summarize reads, as opposed to a
// malformed document.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

func summarize(dec *json.Decoder, next func()) (*Summary, error) {
	next()
	if err := canonjson.ExpectDelim(dec, '{'); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	var (
		s     Summary
		root  merkle.Builder
		leaf  []byte
		seen  = map[string]bool{}
		head  = map[string]json.RawMessage{}
		items = map[string]*int{"subject": &s.Subjects, "inputs": &s.Inputs}
	)
	for {
		next()
		if !dec.More() {
			break
		}
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not valid JSON: %v", err)
		}
		key, _ := t.(string)
		if seen[key] {
			return nil, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		next()
		if key == "encryption" {
			// A list of every encrypted file: skipped token by token, in
			// bounded memory.
			if err := canonjson.SkipValue(dec, next); err != nil {
				return nil, fmt.Errorf("not valid JSON: %s: %v", key, err)
			}
			continue
		}
		count, isList := items[key]
		if !isList {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("not valid JSON: %s: %v", key, err)
			}
			head[key] = raw
			continue
		}
		if err := canonjson.ExpectDelim(dec, '['); err != nil {
			return nil, fmt.Errorf("%s: not an array: %v", key, err)
		}
		for {
			next()
			if !dec.More() {
				break
			}
			var d Descriptor
			if err := dec.Decode(&d); err != nil {
				return nil, fmt.Errorf("%s[%d]: %v", key, *count, err)
			}
			if key == "inputs" {
				if err := checkInput(d); err != nil {
					return nil, fmt.Errorf("inputs[%d]: %v", *count, err)
				}
				leaf = InputLeaf(leaf[:0], d)
				root.Add(leaf)
			}
			*count++
		}
		if err := canonjson.ExpectDelim(dec, ']'); err != nil {
			return nil, fmt.Errorf("%s: %v", key, err)
		}
	}
	if err := canonjson.ExpectDelim(dec, '}'); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the provenance object")
	}
	if !seen["inputs"] {
		return nil, errors.New(`no "inputs" array`)
	}
	hb, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(hb, &s.Head); err != nil {
		return nil, fmt.Errorf("not a provenance.json: %v", err)
	}
	if s.Format != Format {
		return nil, fmt.Errorf("format %q is not %s", s.Format, Format)
	}
	if s.ExportID == "" || s.Contract.Digest.SHA256 == "" {
		return nil, errors.New("export_id or contract digest missing")
	}
	if _, err := digest.ParseHex(s.Contract.Digest.SHA256); err != nil {
		return nil, fmt.Errorf("contract digest: %v", err)
	}
	s.InputsRoot = root.Root()
	return &s, nil
}

func checkInput(d Descriptor) error {
	if err := safepath.Check(d.Name, false); err != nil {
		return fmt.Errorf("name: %v", err)
	}
	if _, err := digest.ParseHex(d.Digest.SHA256); err != nil {
		return fmt.Errorf("digest: sha256 %v", err)
	}
	return nil
}

// valueReader reads r up to an absolute offset the decoder moves as it
// goes, and keeps r's own error apart from the document's.
type valueReader struct {
	r     io.Reader
	n     int64 // bytes read
	limit int64 // bytes that may be read
	err   error // r's error other than EOF
}

var errTooLarge = fmt.Errorf("a value is larger than %d MiB", MaxValue>>20)

func (v *valueReader) Read(p []byte) (int, error) {
	if v.n >= v.limit {
		return 0, errTooLarge
	}
	if rest := v.limit - v.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	if err != nil && err != io.EOF {
		v.err = err
	}
	return n, err
}
