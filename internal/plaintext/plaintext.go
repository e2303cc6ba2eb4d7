// Package plaintext is the plaintext manifest of an encrypted export
// (docs/encryption.md#the-plaintext-manifest): the one definition that run
// writes (internal/encrypt) and decrypt and verify read (internal/decrypt),
// with the suffixes of the two modes' encrypted files.
package plaintext

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/safepath"
)

// Suffixes of encrypted files: the plaintext name and one of these.
const (
	SuffixEnvelope = ".enc"
	SuffixAge      = ".age"
)

// Base is the plaintext manifest's name without its encryption suffix;
// Format the value of its "format".
const (
	Base   = "manifests/plaintext.json"
	Format = "stella-export/plaintext/v1"
)

// MaxSize bounds the decrypted plaintext manifest (about a million files).
const MaxSize = 256 << 20

// Manifest is the decrypted plaintext manifest.
type Manifest struct {
	Files  []Entry `json:"files"`
	Format string  `json:"format"`
}

// Entry is one encrypted file: its name in the export, the plaintext's
// name, SHA-256 (bare hex) and size.
type Entry struct {
	Encrypted string `json:"encrypted"`
	Name      string `json:"name"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
}

// AppendCanonical appends e's canonical JSON (canonjson.Appender).
func (e Entry) AppendCanonical(b []byte) []byte {
	b = append(b, `{"encrypted":`...)
	b = canonjson.AppendString(b, e.Encrypted)
	b = append(b, `,"name":`...)
	b = canonjson.AppendString(b, e.Name)
	b = append(b, `,"sha256":"`...)
	b = append(b, e.SHA256...)
	b = append(b, `","size":`...)
	b = strconv.AppendInt(b, e.Size, 10)
	return append(b, '}')
}

// Name returns the name of the plaintext manifest among names (the
// files of an export), or "" when there is none; two (one per mode) are
// invalid.
func Name(has func(string) bool) (string, error) {
	env, ag := has(Base+SuffixEnvelope), has(Base+SuffixAge)
	switch {
	case env && ag:
		return "", exitcode.Invalidf("both %s%s and %s%s: an export is encrypted in one mode", Base, SuffixEnvelope, Base, SuffixAge)
	case env:
		return Base + SuffixEnvelope, nil
	case ag:
		return Base + SuffixAge, nil
	}
	return "", nil
}

// Parse reads a decrypted plaintext manifest strictly: canonical
// JSON (one trailing LF allowed), no unknown or duplicate keys, the format,
// and entries sorted by name, each a safe path named once, whose encrypted
// name is the name and suffix, with a SHA-256 of 64 lower-case hex digits
// and a size of zero or more. Errors are invalid input (exit 3).
func Parse(b []byte, suffix string) (*Manifest, error) {
	m, err := parse(b, suffix)
	if err != nil {
		return nil, exitcode.Invalidf("%s%s: %v", Base, suffix, err)
	}
	return m, nil
}

func parse(b []byte, suffix string) (*Manifest, error) {
	body := bytes.TrimSuffix(b, []byte("\n"))
	c, err := canonjson.Canonicalize(body)
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if !bytes.Equal(c, body) {
		return nil, errors.New("not in canonical form (RFC 8785)")
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	if m.Format != Format {
		return nil, fmt.Errorf("format %q, want %s", m.Format, Format)
	}
	if m.Files == nil {
		return nil, errors.New(`"files" must be a list`)
	}
	for i, e := range m.Files {
		at := fmt.Sprintf("files[%d]", i)
		if err := safepath.Check(e.Name, false); err != nil {
			return nil, fmt.Errorf("%s: name: %w", at, err)
		}
		if i > 0 && e.Name <= m.Files[i-1].Name {
			return nil, fmt.Errorf("%s: %q comes after %q: names must be sorted byte-wise and unique", at, e.Name, m.Files[i-1].Name)
		}
		if e.Encrypted != e.Name+suffix {
			return nil, fmt.Errorf("%s: encrypted %q, want %q", at, e.Encrypted, e.Name+suffix)
		}
		if layout.Reserved(e.Name) || layout.Reserved(e.Encrypted) || e.Name == Base || e.Encrypted == Base+suffix {
			return nil, fmt.Errorf("%s: %q is a document stella-export generates, never an encrypted file", at, e.Encrypted)
		}
		if _, err := digest.ParseHex(e.SHA256); err != nil {
			return nil, fmt.Errorf("%s: sha256 %q is not 64 lower-case hex digits", at, e.SHA256)
		}
		if e.Size < 0 {
			return nil, fmt.Errorf("%s: size %d is negative", at, e.Size)
		}
	}
	return &m, nil
}
