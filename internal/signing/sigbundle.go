package signing

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/digest"
)

// Sigstore bundle media types. We write v0.3; we read what cosign writes.
const (
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
)

var readableBundleTypes = map[string]bool{
	BundleMediaType: true,
	"application/vnd.dev.sigstore.bundle+json;version=0.3": true,
	"application/vnd.dev.sigstore.bundle+json;version=0.2": true,
	"application/vnd.dev.sigstore.bundle+json;version=0.1": true,
}

// SigstoreBundle is the subset of the Sigstore bundle (protobuf-specs
// dev.sigstore.bundle.v1.Bundle, JSON form) that key-based, offline
// signing uses: a public-key hint and either a message signature or a DSSE
// envelope. Transparency-log entries and timestamps are read past.
type SigstoreBundle struct {
	MediaType            string               `json:"mediaType"`
	VerificationMaterial verificationMaterial `json:"verificationMaterial"`
	MessageSignature     *MessageSignature    `json:"messageSignature,omitempty"`
	DSSEEnvelope         *Envelope            `json:"dsseEnvelope,omitempty"`
}

type verificationMaterial struct {
	PublicKey   *publicKeyID    `json:"publicKey,omitempty"`
	TlogEntries json.RawMessage `json:"tlogEntries,omitempty"`
	// Certificate and x509CertificateChain are keyless material; a bundle
	// carrying them is refused when read (see ParseBundle).
	Certificate          json.RawMessage `json:"certificate,omitempty"`
	X509CertificateChain json.RawMessage `json:"x509CertificateChain,omitempty"`
	TimestampData        json.RawMessage `json:"timestampVerificationData,omitempty"`
}

type publicKeyID struct {
	Hint string `json:"hint"`
}

// MessageSignature is a signature over an artefact and its digest.
type MessageSignature struct {
	MessageDigest messageDigest `json:"messageDigest"`
	Signature     string        `json:"signature"` // base64
}

type messageDigest struct {
	Algorithm string `json:"algorithm"`
	Digest    string `json:"digest"` // base64
}

// NewBundle returns the Sigstore bundle v0.3 of one message signature, with
// the key's hint and no transparency-log entry, as canonical JSON and LF.
func NewBundle(pub crypto.PublicKey, d digest.SHA256, sig []byte) ([]byte, error) {
	hint, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	b := SigstoreBundle{
		MediaType:            BundleMediaType,
		VerificationMaterial: verificationMaterial{PublicKey: &publicKeyID{Hint: hint}},
		MessageSignature: &MessageSignature{
			MessageDigest: messageDigest{Algorithm: "SHA2_256", Digest: base64.StdEncoding.EncodeToString(d[:])},
			Signature:     base64.StdEncoding.EncodeToString(sig),
		},
	}
	return canonjson.MarshalLine(b)
}

// ParseBundle reads a Sigstore bundle as cosign and stella-export write it
// for key-based signing.
func ParseBundle(data []byte) (*SigstoreBundle, error) {
	var b SigstoreBundle
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("not a Sigstore bundle (JSON): %v", err)
	}
	if !readableBundleTypes[b.MediaType] {
		return nil, fmt.Errorf("mediaType %q is not a Sigstore bundle this tool reads", b.MediaType)
	}
	vm := b.VerificationMaterial
	if vm.PublicKey == nil {
		if len(vm.Certificate) > 0 || len(vm.X509CertificateChain) > 0 {
			return nil, errors.New("verificationMaterial holds a certificate (keyless signing); stella-export checks key-based signatures only")
		}
		return nil, errors.New("verificationMaterial has no publicKey")
	}
	switch {
	case b.MessageSignature != nil && b.DSSEEnvelope != nil:
		return nil, errors.New("has both messageSignature and dsseEnvelope")
	case b.MessageSignature == nil && b.DSSEEnvelope == nil:
		return nil, errors.New("has neither messageSignature nor dsseEnvelope")
	}
	return &b, nil
}

// Digest returns the bundle's message digest (SHA2_256 only).
func (m *MessageSignature) Digest() (digest.SHA256, error) {
	var d digest.SHA256
	if m.MessageDigest.Algorithm != "SHA2_256" {
		return d, fmt.Errorf("messageDigest.algorithm %q is not SHA2_256", m.MessageDigest.Algorithm)
	}
	raw, err := base64.StdEncoding.DecodeString(m.MessageDigest.Digest)
	if err != nil || len(raw) != len(d) {
		return d, errors.New("messageDigest.digest is not a base64 SHA-256")
	}
	copy(d[:], raw)
	return d, nil
}

// Sig returns the raw signature bytes.
func (m *MessageSignature) Sig() ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(raw) == 0 {
		return nil, errors.New("messageSignature.signature is not base64")
	}
	return raw, nil
}

// Hint returns the bundle's public-key hint.
func (b *SigstoreBundle) Hint() string { return b.VerificationMaterial.PublicKey.Hint }
