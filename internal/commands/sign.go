package commands

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/signing"
)

type signOptions struct {
	key         string
	generateKey string
	attest      bool
	provenance  string
	signature   string
	bundle      string
	attestation string
	force       bool
}

func (o *signOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.key, "key", "", "private key: a cosign key file, a PKCS#8 PEM (ECDSA or Ed25519), or env://VAR holding one")
	f.StringVar(&o.generateKey, "generate-key", "", "write a new cosign-compatible ECDSA P-256 key pair PREFIX.key (encrypted) and PREFIX.pub")
	f.BoolVar(&o.attest, "attest", false, "also write ARTIFACT.intoto.jsonl: a DSSE-signed in-toto Statement with SLSA provenance v1")
	f.StringVar(&o.provenance, "provenance", "", "provenance.json to attest from (default: the one inside the bundle being signed)")
	f.StringVar(&o.signature, "output-signature", "", "where to write the detached signature (default ARTIFACT.sig)")
	f.StringVar(&o.bundle, "bundle", "", "where to write the Sigstore bundle (default ARTIFACT.sigstore.json)")
	f.StringVar(&o.attestation, "output-attestation", "", "where to write the attestation (default ARTIFACT.intoto.jsonl)")
	f.BoolVar(&o.force, "force", false, "replace existing signature files (or key files) that hold other bytes")
}

func (o *signOptions) validate(cmd *cobra.Command, args []string) error {
	if o.generateKey != "" {
		for _, n := range []string{"key", "attest", "provenance", "output-signature", "bundle", "output-attestation"} {
			if cmd.Flags().Changed(n) {
				return exitcode.Usagef("--generate-key only writes a key pair; --%s does not apply", n)
			}
		}
		if len(args) != 0 {
			return exitcode.Usagef("--generate-key takes no artefact argument")
		}
		return nil
	}
	if len(args) != 1 {
		return exitcode.Usagef("want one artefact to sign, got %d arguments", len(args))
	}
	if o.key == "" {
		return exitcode.Usagef("--key is required (or --generate-key PREFIX to make one)")
	}
	if !o.attest && (o.provenance != "" || o.attestation != "") {
		return exitcode.Usagef("--provenance and --output-attestation go with --attest")
	}
	return nil
}

func newSignCmd(e *env) *cobra.Command {
	o := &signOptions{}
	cmd := &cobra.Command{
		Use:   "sign ARTIFACT --key KEY [--attest] | sign --generate-key PREFIX",
		Short: "Sign an artefact cosign-compatibly (detached .sig, Sigstore bundle, SLSA attestation), offline",
		Long: `sign writes, next to ARTIFACT (typically a bundle):
  ARTIFACT.sig            base64 signature of the artefact's bytes, as
                          cosign sign-blob --output-signature writes it
  ARTIFACT.sigstore.json  a Sigstore bundle v0.3 holding that signature and
                          the key's hint, with no transparency-log entry
  ARTIFACT.intoto.jsonl   with --attest: a DSSE envelope over an in-toto
                          Statement v1 whose subject is the artefact and whose
                          predicate is SLSA provenance v1 built from the
                          bundle's provenance.json
ECDSA signatures use RFC 6979 nonces, so signing the same bytes with the same
key again gives the same files (and is a no-op). Nothing touches the network:
no Fulcio certificate, no Rekor entry.

Keys: --key takes a cosign key (ENCRYPTED SIGSTORE or the older ENCRYPTED
COSIGN PRIVATE KEY PEM), a PKCS#8 PEM with an ECDSA or Ed25519 key, or
env://VAR with such a PEM in the variable. KMS references are not supported by
this build. The password of an encrypted key comes from STELLA_EXPORT_PASSWORD
(else COSIGN_PASSWORD), else from a prompt on the terminal; it is never echoed
or read from a pipe. --generate-key PREFIX writes PREFIX.key (ECDSA P-256,
encrypted with that password, the format of cosign generate-key-pair) and
PREFIX.pub.

Check the result with stella-export verify ARTIFACT --key PREFIX.pub, or with
cosign verify-blob --key PREFIX.pub --signature ARTIFACT.sig
--insecure-ignore-tlog ARTIFACT (docs/signing.md).`,
		Example: `  STELLA_EXPORT_PASSWORD=... stella-export sign --generate-key stella
  stella-export sign export.tgz --key stella.key --attest
  stella-export verify export.tgz --key stella.pub --require-signature`,
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.validate(cmd, args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			if o.generateKey != "" {
				return runGenerateKey(e, cmd, o)
			}
			return runSign(e, cmd, o, args[0])
		},
	}
	o.addFlags(cmd)
	return cmd
}

// passwords is the password source of every command that opens a key.
func passwords(e *env) signing.PassFunc {
	lookup := func(k string) (string, bool) {
		v := e.getenv(k)
		return v, v != ""
	}
	var prompt func(bool) ([]byte, error)
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		prompt = func(confirm bool) ([]byte, error) {
			fmt.Fprint(e.stderr, "Enter password for private key: ")
			p, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(e.stderr)
			if err != nil {
				return nil, exitcode.WithCode(exitcode.IO, fmt.Errorf("read password: %w", err))
			}
			if confirm {
				fmt.Fprint(e.stderr, "Enter password for private key again: ")
				q, err := term.ReadPassword(int(f.Fd()))
				fmt.Fprintln(e.stderr)
				if err != nil {
					return nil, exitcode.WithCode(exitcode.IO, fmt.Errorf("read password: %w", err))
				}
				if !bytes.Equal(p, q) {
					return nil, exitcode.Usagef("the passwords do not match")
				}
			}
			return p, nil
		}
	}
	return signing.Passwords(lookup, prompt)
}

// warner prints one warning line to stderr, unless --quiet.
func warner(e *env) func(string) {
	return func(msg string) {
		if !e.global.quiet {
			fmt.Fprintf(e.stderr, "stella-export: %s\n", msg)
		}
	}
}

// optionalSigner loads --sign-key, when it is given, as the signer of
// in-bundle signatures; nil when it is not.
func optionalSigner(e *env, ref string) (bundle.Signer, error) {
	if ref == "" {
		return nil, nil
	}
	s, err := signing.LoadSigner(ref, passwords(e), warner(e))
	if err != nil {
		return nil, keyFlag(err, "--sign-key")
	}
	return signing.DocSigner{Signer: s}, nil
}

func runGenerateKey(e *env, cmd *cobra.Command, o *signOptions) error {
	privPath, pubPath := o.generateKey+".key", o.generateKey+".pub"
	if !o.force {
		for _, p := range []string{privPath, pubPath} {
			if _, err := os.Lstat(p); err == nil {
				return withHint(exitcode.Conflictf("%s already exists", p), "choose another prefix, or pass --force to replace the key pair")
			}
		}
	}
	priv, pub, fingerprint, err := signing.GenerateKeyPair(passwords(e))
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	// The public key first: a .key without its .pub is the worse half.
	for _, out := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{pubPath, pub, 0o644}, {privPath, priv, 0o600}} {
		if err := atomicfile.WriteFile(out.path, out.data, out.mode, o.force); err != nil {
			return err
		}
	}
	res := struct {
		PrivateKey string `json:"privateKey"`
		PublicKey  string `json:"publicKey"`
		Algorithm  string `json:"algorithm"`
		KeyID      string `json:"keyId"`
	}{privPath, pubPath, "ecdsa-p256-sha256", fingerprint}
	return printResult(e, cmd, res, func(w io.Writer) {
		fmt.Fprintf(w, "wrote %s (private, encrypted) and %s (public), key %s\n", privPath, pubPath, res.KeyID)
	})
}

func runSign(e *env, cmd *cobra.Command, o *signOptions, artifact string) error {
	s, err := signing.LoadSigner(o.key, passwords(e), warner(e))
	if err != nil {
		return keyFlag(err, "--key")
	}
	res, err := signing.SignFile(cmd.Context(), signing.FileOptions{
		Artifact: artifact, Signer: s, Signature: o.signature, Bundle: o.bundle,
		Attest: o.attest, Attestation: o.attestation, Provenance: o.provenance, Force: o.force,
	})
	if err != nil {
		var ex *atomicfile.ExistsError
		if errors.As(err, &ex) {
			return withHint(err, "pass --force to replace it")
		}
		return err
	}
	return printResult(e, cmd, res, func(w io.Writer) {
		state := "wrote"
		if res.Unchanged {
			state = "unchanged"
		}
		fmt.Fprintf(w, "%s %s and %s", state, res.Signature, res.Bundle)
		if res.Attestation != "" {
			fmt.Fprintf(w, " and %s", res.Attestation)
		}
		fmt.Fprintf(w, " (sha256 %s, %s key %s)\n", res.SHA256, res.Algorithm, res.KeyID)
	})
}
