// Package digest is the SHA-256 digest every package passes around: of a
// payload file, a bundle, a document to sign, a Merkle node or root.
//
// Its text form is "sha256:" and 64 lower-case hex digits, as in
// checksums.txt's root line and export.json's payloadRoot
// (docs/format.md#checksums); Hex is the bare form of checksums.txt's lines
// and of wire fields that carry bare hex (artifact_sha256, in-toto digest
// sets). Parse accepts only the prefixed form and ParseHex only the bare
// one, so a reader states which one its field holds; neither accepts upper
// case, so a digest has one spelling.
//
// The shell equivalent of Sum is `sha256sum FILE | cut -d' ' -f1` (Hex).
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// Size is the length of a digest in bytes.
const Size = sha256.Size

// Prefix starts the text form of a digest.
const Prefix = "sha256:"

// SHA256 is one SHA-256 digest.
type SHA256 [Size]byte

// Sum returns the SHA-256 of b.
func Sum(b []byte) SHA256 { return sha256.Sum256(b) }

// Of returns the digest h has computed so far; h must be a SHA-256.
func Of(h hash.Hash) SHA256 {
	var d SHA256
	h.Sum(d[:0])
	return d
}

// String formats d as "sha256:<hex>".
func (d SHA256) String() string { return Prefix + hex.EncodeToString(d[:]) }

// Hex formats d as 64 lower-case hex digits, without the prefix.
func (d SHA256) Hex() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is all zero bytes (no digest was set).
func (d SHA256) IsZero() bool { return d == SHA256{} }

// Parse reads "sha256:<64 lower-case hex>".
func Parse(s string) (SHA256, error) {
	raw, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return SHA256{}, fmt.Errorf("%q is not sha256:<64 lowercase hex>", s)
	}
	d, err := ParseHex(raw)
	if err != nil {
		return SHA256{}, fmt.Errorf("%q is not sha256:<64 lowercase hex>", s)
	}
	return d, nil
}

// ParseHex reads 64 lower-case hex digits, without a prefix.
func ParseHex(s string) (SHA256, error) {
	var d SHA256
	if len(s) != 2*Size || strings.ToLower(s) != s {
		return d, fmt.Errorf("%q is not 64 lowercase hex digits", s)
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("%q is not 64 lowercase hex digits", s)
	}
	return d, nil
}

// MarshalText writes the text form, "sha256:<hex>".
func (d SHA256) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads the text form, as Parse does.
func (d *SHA256) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
