package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// PassFunc returns the password of an encrypted key; confirm asks twice
// (for a new key). It is cryptoutils.PassFunc.
type PassFunc = cryptoutils.PassFunc

// PasswordEnv lists the variables a key password is read from, in order.
var PasswordEnv = []string{"STELLA_EXPORT_PASSWORD", "COSIGN_PASSWORD"}

// Passwords builds the PassFunc commands use: the first of PasswordEnv that
// is set (even to the empty string, as cosign does), else prompt (a TTY
// prompt that does not echo), else an error telling the user what to set.
// prompt may be nil when there is no terminal.
func Passwords(getenv func(string) (string, bool), prompt func(confirm bool) ([]byte, error)) PassFunc {
	return func(confirm bool) ([]byte, error) {
		for _, name := range PasswordEnv {
			if v, ok := getenv(name); ok {
				return []byte(v), nil
			}
		}
		if prompt == nil {
			return nil, exitcode.WithCode(exitcode.IO, errors.New("a password is needed for the key and none was given: set STELLA_EXPORT_PASSWORD (or COSIGN_PASSWORD), or run on a terminal to be asked"))
		}
		return prompt(confirm)
	}
}

// KeyError is a key that could not be loaded. Ref is the key reference as
// given (a path or env://VAR, empty when none was); Err says why and
// carries the exit code. Its message reads "key REF: why"; internal/commands
// names the flag the reference came from instead of "key".
type KeyError struct {
	Ref string
	Err error
}

func (e *KeyError) Error() string {
	if e.Ref == "" {
		return "key: " + e.Err.Error()
	}
	return "key " + e.Ref + ": " + e.Err.Error()
}

func (e *KeyError) Unwrap() error { return e.Err }

// ErrKeyRef is in the chain of a KeyError whose reference cannot name a key
// at all (empty, env:// without a variable, a KMS reference this build
// does not support), as opposed to a key that is missing or unusable. On
// its own it is invalid input (exit 3).
var ErrKeyRef = errors.New("unusable key reference")

func keyErr(ref string, err error) error { return &KeyError{Ref: ref, Err: err} }

// badRef is a reason that wraps ErrKeyRef without adding its words.
type badRef string

func (e badRef) Error() string   { return string(e) }
func (e badRef) Unwrap() []error { return []error{ErrKeyRef, exitcode.ErrInvalid} }

// Key reference schemes that name keys held elsewhere. They fit the Signer
// interface (Wrap) but this build does not link the KMS clients.
var kmsSchemes = []string{"awskms://", "gcpkms://", "azurekms://", "hashivault://", "k8s://", "pkcs11:"}

// readRef reads the PEM a key reference names: a file path or env://VAR.
// A file must be a regular file (a FIFO or device is refused without
// blocking, exit 3) of at most safefile.MaxSecret bytes. With warn set
// (private keys), a file its group or others can read is reported to it.
// Errors are *KeyError.
func readRef(ref string, warn func(string)) ([]byte, error) {
	for _, s := range kmsSchemes {
		if strings.HasPrefix(ref, s) {
			return nil, keyErr(ref, badRef("KMS and hardware key references are not supported by this build; use a key file or env://VAR"))
		}
	}
	if name, ok := strings.CutPrefix(ref, "env://"); ok {
		if name == "" {
			return nil, keyErr(ref, badRef("name the variable, as in env://STELLA_EXPORT_KEY"))
		}
		v, set := os.LookupEnv(name)
		if !set || v == "" {
			return nil, keyErr(ref, exitcode.WithCode(exitcode.IO, fmt.Errorf("the variable %s is not set", name)))
		}
		if len(v) > safefile.MaxSecret {
			return nil, keyErr(ref, exitcode.Invalidf("larger than %s", safefile.Size(safefile.MaxSecret)))
		}
		return []byte(v), nil
	}
	if ref == "" {
		return nil, keyErr(ref, badRef("empty key reference"))
	}
	f, err := safefile.Open(ref)
	var nr *safefile.NotRegularError
	switch {
	case errors.As(err, &nr):
		return nil, keyErr(ref, exitcode.Invalidf("is a %s, not a regular file", nr.Kind))
	case err != nil:
		return nil, keyErr(ref, exitcode.WithCode(exitcode.IO, errors.Unwrap(err)))
	}
	defer f.Close()
	if warn != nil {
		if w := safefile.PrivateWarning(f, ref); w != "" {
			warn(w)
		}
	}
	b, err := safefile.ReadFrom(f, ref, safefile.MaxSecret)
	var tl *safefile.TooLargeError
	var pe *fs.PathError
	switch {
	case errors.As(err, &tl):
		return nil, keyErr(ref, exitcode.Invalidf("larger than %s, too large for a PEM key", safefile.Size(tl.Limit)))
	case errors.As(err, &pe):
		return nil, keyErr(ref, exitcode.WithCode(exitcode.IO, fmt.Errorf("read: %w", pe.Err)))
	case err != nil:
		return nil, keyErr(ref, exitcode.WithCode(exitcode.IO, err))
	}
	return b, nil
}

// LoadSigner loads a private key: a cosign key ("ENCRYPTED SIGSTORE
// PRIVATE KEY", or the older "ENCRYPTED COSIGN PRIVATE KEY"), or a PKCS#8
// ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY") PEM, from a file or env://VAR.
// Encrypted keys ask pf for their password. Errors are *KeyError. warn,
// when not nil, receives a one-line warning when the key file can be read
// by its group or others.
func LoadSigner(ref string, pf PassFunc, warn func(string)) (Signer, error) {
	b, err := readRef(ref, warn)
	if err != nil {
		return nil, err
	}
	if isPublicPEM(b) {
		return nil, keyErr(ref, exitcode.Invalidf("this is a public key; signing needs the private key (the .key file)"))
	}
	var pfErr error
	guarded := func(confirm bool) ([]byte, error) {
		p, err := pf(confirm)
		pfErr = err
		return p, err
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(b, guarded)
	if pfErr != nil {
		return nil, keyErr(ref, pfErr)
	}
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "decrypt"):
			return nil, keyErr(ref, exitcode.WithCode(exitcode.IO, fmt.Errorf("wrong password, or the key is damaged (%v)", err)))
		case strings.Contains(msg, "PEM decoding failed"):
			return nil, keyErr(ref, exitcode.Invalidf("not a PEM private key"))
		}
		return nil, keyErr(ref, exitcode.Invalidf("%v", err))
	}
	s, err := NewSigner(priv)
	if err != nil {
		return nil, keyErr(ref, exitcode.Invalidf("%v", err))
	}
	return s, nil
}

func isPublicPEM(b []byte) bool {
	return strings.Contains(string(b), "-----BEGIN PUBLIC KEY-----") && !strings.Contains(string(b), "PRIVATE KEY-----")
}

// LoadPublicKey loads a PEM public key ("PUBLIC KEY", PKIX) from a file or
// env://VAR. Only ECDSA and Ed25519 keys are accepted. Errors are
// *KeyError.
func LoadPublicKey(ref string) (crypto.PublicKey, error) {
	b, err := readRef(ref, nil)
	if err != nil {
		return nil, err
	}
	if strings.Contains(string(b), "PRIVATE KEY-----") {
		return nil, keyErr(ref, exitcode.Invalidf("this is a private key; verification takes the public key (the .pub file)"))
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(b)
	if err != nil {
		return nil, keyErr(ref, exitcode.Invalidf("not a PEM public key: %v", err))
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if _, err := ecdsaAlgorithm(k); err != nil {
			return nil, keyErr(ref, exitcode.Invalidf("%v", err))
		}
	case ed25519.PublicKey:
	default:
		return nil, keyErr(ref, exitcode.Invalidf("unsupported public key type %T (want ECDSA or Ed25519)", pub))
	}
	return pub, nil
}

// GenerateKeyPair makes a new ECDSA P-256 key pair in cosign's format: the
// private key encrypted with the password from pf (asked with
// confirmation) as "ENCRYPTED SIGSTORE PRIVATE KEY", the public key as a
// PKIX "PUBLIC KEY" PEM, and the public key's Fingerprint.
func GenerateKeyPair(pf PassFunc) (privPEM, pubPEM []byte, fingerprint string, err error) {
	var pfErr error
	always := func(confirm bool) ([]byte, error) {
		p, err := pf(confirm)
		pfErr = err
		if p == nil && err == nil {
			p = []byte{} // encrypt even with an empty password, as cosign does
		}
		return p, err
	}
	privPEM, pubPEM, err = cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), always)
	if pfErr != nil {
		return nil, nil, "", pfErr
	}
	if err != nil {
		return nil, nil, "", err
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		return nil, nil, "", err
	}
	return privPEM, pubPEM, Fingerprint(pub), nil
}
