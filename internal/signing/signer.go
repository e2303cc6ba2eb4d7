// Package signing makes and checks the signatures stella-export writes:
// detached cosign-compatible signatures of any artefact, Sigstore bundles
// v0.3 with a public-key hint and no transparency-log entry, DSSE envelopes
// over in-toto Statements (SLSA provenance v1), and the in-bundle
// export.json.sig / provenance.json.sig.
//
// Keys are loaded and generated with github.com/sigstore/sigstore
// (cosign's own key format), signatures are verified with its verifiers.
// ECDSA signatures are made with the standard library's deterministic
// RFC 6979 nonces, so the same key and bytes always give the same
// signature and a signed bundle stays bit-reproducible.
package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// Opener returns the message bytes for algorithms that sign the message
// itself rather than its digest (Ed25519).
type Opener func() (io.ReadCloser, error)

// MaxMessage bounds the message an Ed25519 key signs or verifies: pure
// Ed25519 needs the whole message in memory. ECDSA works on the digest and
// has no bound.
const MaxMessage = 1 << 30

// ErrTooLarge is returned when an Ed25519 message exceeds MaxMessage.
var ErrTooLarge = exitcode.Invalidf("Ed25519 signs the whole message in memory and it is larger than 1 GiB; use an ECDSA P-256 key")

// Signer signs messages known by their SHA-256 digest. Implementations
// today: ECDSA (P-256, P-384, P-521) and Ed25519 private keys. A KMS key
// (sigstore's kms URIs) fits the same interface through Wrap.
type Signer interface {
	Public() crypto.PublicKey
	// Sign returns the ASN.1 (ECDSA) or raw (Ed25519) signature of the
	// message whose SHA-256 is d; open is used only when the algorithm
	// needs the message itself.
	Sign(d digest.SHA256, open Opener) ([]byte, error)
	// Deterministic reports whether the same message always gives the
	// same signature (true for ECDSA with RFC 6979 and for Ed25519).
	Deterministic() bool
	// Algorithm names the key, e.g. "ecdsa-p256-sha256".
	Algorithm() string
}

// DocSigner signs documents into the bytes of .sig files: the in-bundle
// signatures of bundle.Write (it is a bundle.Signer).
type DocSigner struct{ Signer }

// SigFile signs the document whose SHA-256 is d and returns the text of its
// .sig file (EncodeSig).
func (s DocSigner) SigFile(d digest.SHA256, open func() (io.ReadCloser, error)) ([]byte, error) {
	sig, err := s.Sign(d, open)
	if err != nil {
		return nil, err
	}
	return EncodeSig(sig), nil
}

// Fingerprint names the key: Fingerprint of its public key.
func (s DocSigner) Fingerprint() string { return Fingerprint(s.Public()) }

// NewSigner returns the Signer of a private key.
func NewSigner(priv crypto.PrivateKey) (Signer, error) {
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		alg, err := ecdsaAlgorithm(&k.PublicKey)
		if err != nil {
			return nil, err
		}
		return &ecdsaSigner{priv: k, alg: alg}, nil
	case ed25519.PrivateKey:
		s, err := signature.LoadED25519Signer(k)
		if err != nil {
			return nil, err
		}
		return &ed25519Signer{s: s, pub: k.Public()}, nil
	case *ed25519.PrivateKey:
		return NewSigner(*k)
	}
	return nil, fmt.Errorf("unsupported private key type %T (want ECDSA or Ed25519)", priv)
}

func ecdsaAlgorithm(pub *ecdsa.PublicKey) (string, error) {
	switch pub.Curve {
	case elliptic.P256():
		return "ecdsa-p256-sha256", nil
	case elliptic.P384():
		return "ecdsa-p384-sha256", nil
	case elliptic.P521():
		return "ecdsa-p521-sha256", nil
	}
	return "", fmt.Errorf("unsupported ECDSA curve %s", pub.Curve.Params().Name)
}

type ecdsaSigner struct {
	priv *ecdsa.PrivateKey
	alg  string
}

func (s *ecdsaSigner) Public() crypto.PublicKey { return &s.priv.PublicKey }
func (s *ecdsaSigner) Deterministic() bool      { return true }
func (s *ecdsaSigner) Algorithm() string        { return s.alg }

// Sign uses ecdsa.PrivateKey.Sign with a nil random source, which Go
// (1.24 and later) answers with RFC 6979 deterministic nonces.
// TestECDSADeterministic pins that behaviour.
func (s *ecdsaSigner) Sign(d digest.SHA256, _ Opener) ([]byte, error) {
	return s.priv.Sign(nil, d[:], crypto.SHA256)
}

type ed25519Signer struct {
	s   *signature.ED25519Signer
	pub crypto.PublicKey
}

func (s *ed25519Signer) Public() crypto.PublicKey { return s.pub }
func (s *ed25519Signer) Deterministic() bool      { return true }
func (s *ed25519Signer) Algorithm() string        { return "ed25519" }

func (s *ed25519Signer) Sign(d digest.SHA256, open Opener) ([]byte, error) {
	msg, err := readMessage(d, open)
	if err != nil {
		return nil, err
	}
	return s.s.SignMessage(bytes.NewReader(msg))
}

// readMessage reads a message for Ed25519 and checks it still has digest d.
func readMessage(d digest.SHA256, open Opener) ([]byte, error) {
	if open == nil {
		return nil, errors.New("Ed25519 needs the message itself, not only its digest")
	}
	rc, err := open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	msg, err := io.ReadAll(io.LimitReader(rc, MaxMessage+1))
	if err != nil {
		return nil, err
	}
	if len(msg) > MaxMessage {
		return nil, ErrTooLarge
	}
	if sha256.Sum256(msg) != d {
		return nil, errors.New("the message changed while it was signed")
	}
	return msg, nil
}

// Wrap adapts a sigstore SignerVerifier (for instance a KMS key from
// sigstore's kms package) that signs SHA-256 digests. Its signatures are
// as deterministic as the provider makes them; stella-export assumes not.
func Wrap(sv signature.Signer, alg string) Signer { return &wrapped{sv: sv, alg: alg} }

type wrapped struct {
	sv  signature.Signer
	alg string
}

func (w *wrapped) Public() crypto.PublicKey {
	pub, err := w.sv.PublicKey()
	if err != nil {
		return nil
	}
	return pub
}
func (w *wrapped) Deterministic() bool { return false }
func (w *wrapped) Algorithm() string   { return w.alg }
func (w *wrapped) Sign(d digest.SHA256, _ Opener) ([]byte, error) {
	return w.sv.SignMessage(nil, options.WithDigest(d[:]), options.WithCryptoSignerOpts(crypto.SHA256))
}

// KeyID is the key hint cosign writes into Sigstore bundles: the standard
// base64 of the SHA-256 of the public key's PKIX DER.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// Fingerprint is "sha256:" and the hex SHA-256 of the public key's PKIX DER,
// for reports.
func Fingerprint(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("sha256:%x", sha256.Sum256(der))
}

// ErrBadSignature is wrapped by every failed signature check.
var ErrBadSignature = errors.New("signature does not verify")

// Verify checks sig (raw bytes: ASN.1 for ECDSA, 64 bytes for Ed25519)
// over the message with SHA-256 d; open is used only for Ed25519.
func Verify(pub crypto.PublicKey, sig []byte, d digest.SHA256, open Opener) error {
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	if _, ok := pub.(ed25519.PublicKey); ok {
		msg, err := readMessage(d, open)
		if err != nil {
			return err
		}
		if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
			return ErrBadSignature
		}
		return nil
	}
	if err := v.VerifySignature(bytes.NewReader(sig), nil, options.WithDigest(d[:])); err != nil {
		return ErrBadSignature
	}
	return nil
}

// EncodeSig is the text of a .sig file as cosign writes it: standard
// base64, no newline.
func EncodeSig(sig []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(sig))
}

// DecodeSig reads a .sig file: base64 (surrounding whitespace allowed, as
// cosign accepts it), or raw signature bytes if it is not base64.
func DecodeSig(b []byte) ([]byte, error) {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return nil, errors.New("empty signature file")
	}
	sig, err := base64.StdEncoding.DecodeString(string(t))
	if err != nil {
		return nil, errors.New("not a base64 signature (cosign sign-blob --output-signature format)")
	}
	return sig, nil
}
