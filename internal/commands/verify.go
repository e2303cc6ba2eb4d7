package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/decrypt"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	htmlreport "github.com/stella-ops/stella-export/internal/report"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/signing"
	"github.com/stella-ops/stella-export/internal/tarball"
	"github.com/stella-ops/stella-export/internal/verify"
)

type verifyOptions struct {
	root         string
	expectSHA256 string
	prove        string
	proof        string
	file         string
	maxDepth     int
	maxEntries   int
	maxBytes     int64
	maxRatio     int64
	maxNameBytes int64
	keyOptions

	keys        []string
	requireSig  bool
	signature   string
	sigBundle   string
	attestation string
	logVerify
	html string
}

func (o *verifyOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.root, "root", "", "expected Merkle root, sha256:<hex> (e.g. from a notification)")
	f.StringVar(&o.expectSHA256, "expect-sha256", "", "expected SHA-256 of the archive file, bare hex")
	f.StringVar(&o.prove, "prove", "", "after verifying, print the RFC 6962 inclusion proof of this file as JSON")
	f.StringVar(&o.proof, "proof", "", "check an inclusion proof (JSON from --prove) with --file and --root, without the bundle")
	f.StringVar(&o.file, "file", "", "the file whose membership --proof shows")
	f.IntVar(&o.maxDepth, "max-depth", verify.DefaultMaxDepth, "how deep inner .tgz bundles are verified")
	f.IntVar(&o.maxEntries, "max-entries", tarball.DefaultLimits.MaxEntries, "refuse archives with more entries")
	f.Int64Var(&o.maxBytes, "max-bytes", tarball.DefaultLimits.MaxBytes, "refuse archives that inflate to more bytes")
	f.StringArrayVar(&o.keys, "key", nil, "public key (PEM file or env://VAR) to check signatures with: in-bundle ones and BUNDLE.sig, BUNDLE.sigstore.json, BUNDLE.intoto.jsonl next to the bundle; repeatable, any one verifying a signature passes it")
	f.BoolVar(&o.requireSig, "require-signature", false, "fail unless a signature of the bundle (detached, or export.json.sig inside it) verifies with --key")
	f.StringVar(&o.signature, "signature", "", "detached signature to check (default BUNDLE.sig, when present)")
	f.StringVar(&o.sigBundle, "bundle", "", "Sigstore bundle to check (default BUNDLE.sigstore.json, when present)")
	f.StringVar(&o.attestation, "attestation", "", "DSSE attestation to check: subject and materials (default BUNDLE.intoto.jsonl, when present)")
	f.Int64Var(&o.maxRatio, "max-ratio", tarball.DefaultLimits.MaxRatio, "refuse archives whose compression ratio exceeds this (decompression bombs)")
	o.keyOptions.addFlags(cmd)
	o.logVerify.addFlags(cmd)
	f.StringVar(&o.html, "html", "", "also write a self-contained HTML report to this file (verdict, facts, failed checks, signatures, provenance, log receipt, file tree)")
	f.Int64Var(&o.maxNameBytes, "max-name-bytes", tarball.DefaultLimits.MaxNameBytes, "refuse archives whose entry names total more bytes (verify's memory grows with them)")
}

func (o *verifyOptions) validate(args []string) error {
	if o.proof != "" {
		if len(args) != 0 || o.file == "" || o.root == "" {
			return exitcode.Usagef("--proof needs --file FILE and --root sha256:<hex>, and no bundle argument")
		}
		if o.prove != "" || o.expectSHA256 != "" {
			return exitcode.Usagef("--proof checks one file without the bundle; --prove and --expect-sha256 do not apply")
		}
		return nil
	}
	if o.file != "" {
		return exitcode.Usagef("--file goes with --proof")
	}
	if len(args) != 1 {
		return exitcode.Usagef("want one bundle (a .tgz path, or - for stdin), got %d arguments", len(args))
	}
	sigFlags := o.signature != "" || o.sigBundle != "" || o.attestation != "" || o.requireSig
	if sigFlags && len(o.keys) == 0 {
		return exitcode.Usagef("--require-signature, --signature, --bundle and --attestation need --key PUB")
	}
	if err := o.logVerify.validate(args[0]); err != nil {
		return err
	}
	if o.maxDepth < 0 || o.maxEntries <= 0 || o.maxBytes <= 0 || o.maxRatio <= 0 || o.maxNameBytes <= 0 {
		return exitcode.Usagef("--max-* limits must be positive")
	}
	return nil
}

func newVerifyCmd(e *env) *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify BUNDLE.tgz | verify --proof proof.json --file FILE --root sha256:<hex>",
		Short: "Check a bundle offline: format, every digest, the Merkle root, inner bundles",
		Long: `verify reads a bundle in one streaming pass, extracting nothing: the archive
format (docs/format.md#archive), every line of checksums.txt, the Merkle root,
missing and extra files, the documents every bundle carries, and inner .tgz
bundles that carry a checksums.txt (to --max-depth). Unsafe archives (path
traversal, links, devices, duplicates, bombs, malformed or truncated data)
are refused with exit 3. Exit 0 means every check held; exit 1 names each
check that failed.

An encrypted bundle verifies without keys: the checksums and the Merkle
root cover the ciphertext. With --identity FILE (age) or --keyring DIR (or
$STELLA_EXPORT_KEYRING, or $STELLA_EXPORT_KMS_MASTER_KEY_HEX) verify also
decrypts every encrypted file as it streams past, writing no plaintext, and
checks each plaintext's SHA-256 and size against the plaintext manifest.

--key may be given more than once (key rotation): a signature passes when
any one of the keys verifies it, and the report names that key.

--prove PATH prints the inclusion proof of one file; an auditor checks it
later with only that file and the root:
  stella-export verify --proof proof.json --file data/x.json --root sha256:...`,
		Example: `  stella-export verify export.tgz
  stella-export verify export.tgz --root sha256:3f2a... --json
  stella-export verify export.tgz --prove data/advisories.jsonl.zst > proof.json`,
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.validate(args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			if o.proof != "" {
				return runCheckProof(e, cmd, o)
			}
			return runVerify(cmd.Context(), e, cmd, o, args[0])
		},
	}
	o.addFlags(cmd)
	return cmd
}

func runVerify(ctx context.Context, e *env, cmd *cobra.Command, o *verifyOptions, path string) error {
	var r io.Reader
	if path == "-" {
		r = e.stdin
	} else {
		f, err := safefile.Open(path)
		if err != nil {
			return fmt.Errorf("open bundle: %w", err)
		}
		defer f.Close()
		r = f
	}
	depth := o.maxDepth
	if depth == 0 {
		depth = -1 // verify.Options treats 0 as "default"
	}
	opt := verify.Options{
		ExpectRoot: o.root, ExpectSHA256: o.expectSHA256, MaxDepth: depth,
		Limits: tarball.Limits{MaxEntries: o.maxEntries, MaxBytes: o.maxBytes, MaxRatio: o.maxRatio, MaxNameBytes: o.maxNameBytes},
	}
	if p := newProgress(e); p != nil {
		if st, err := os.Stat(path); err == nil {
			p.Phase("verifying", st.Size())
			opt.Progress = p.Add
			defer p.finish()
		}
	}
	if len(o.keys) > 0 || path != "-" {
		so, serr := o.signatureOptions(path)
		if serr != nil {
			return serr
		}
		opt.Signatures = so
	}
	if o.identities != nil || o.keyring != "" || e.getenv(MasterKeyEnv) != "" {
		keys, kerr := o.load(e)
		if kerr != nil {
			return kerr
		}
		c := decrypt.NewChecker(keys)
		opt.Extract = c.Extract
		opt.After = func(rep *verify.Report) ([]verify.Problem, error) {
			n, _, ps, err := c.Finish()
			rep.Decrypted = n
			var out []verify.Problem
			for _, p := range ps {
				out = append(out, verify.Problem{Path: p.Path, Check: "decrypt", Detail: p.Detail})
			}
			return out, keyHint(err)
		}
	}
	var col *htmlreport.Collector
	if o.html != "" {
		col = htmlreport.NewCollector()
		opt.Extract = col.Extract(opt.Extract)
	}
	rep, err := verify.Verify(ctx, r, opt)
	err = flagged(err, verifyFlags)
	if rep != nil {
		rep.Path = path
	}
	if err != nil && rep == nil || err != nil && exitcode.For(err) != exitcode.Verify {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", path, exitcode.Cause(ctx, err))
		}
		if errors.Is(err, tarball.ErrTooLarge) {
			return withHint(fmt.Errorf("%s: %w", path, err), "if the archive is trusted, raise --max-entries, --max-bytes, --max-name-bytes or --max-ratio")
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	if o.logKey != "" && rep.Root != "" {
		if lerr := o.logVerify.check(ctx, rep, path); lerr != nil {
			return lerr
		}
		if rep.Log.Status != "verified" {
			rep.Problems = append(rep.Problems, verify.Problem{Path: rep.Log.Receipt, Check: "log", Detail: rep.Log.Detail})
			rep.OK = false
			if err == nil {
				err = &verify.FailedError{Report: rep}
			}
		}
	}
	if o.html != "" {
		if herr := writeHTMLReport(o.html, rep, col); herr != nil {
			return herr
		}
	}
	if o.prove != "" && err == nil {
		p, perr := verify.Prove(rep.Checksums(), o.prove)
		if perr != nil {
			return flagged(perr, verifyFlags)
		}
		b, perr := canonjson.MarshalLine(p)
		if perr != nil {
			return perr
		}
		_, perr = e.stdout.Write(b)
		return perr
	}
	switch {
	case e.global.json:
		markJSON(cmd)
		if werr := verify.WriteJSON(e.stdout, rep); werr != nil {
			return werr
		}
	case !e.global.quiet || err != nil:
		if werr := verify.WriteText(e.stdout, rep); werr != nil {
			return werr
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// signatureOptions loads --key and the detached files: those named by
// flags (which must exist) and, for the rest, the ones next to the bundle.
// Without --key the files found are only listed (as unchecked).
func (o *verifyOptions) signatureOptions(path string) (*verify.SignatureOptions, error) {
	so := &verify.SignatureOptions{Require: o.requireSig}
	for _, k := range o.keys {
		pub, err := signing.LoadPublicKey(k)
		if err != nil {
			return nil, keyFlag(err, "--key")
		}
		so.Keys = append(so.Keys, pub)
	}
	if path != "-" {
		so.OpenArtifact = func() (io.ReadCloser, error) { return safefile.Open(path) }
	}
	for _, d := range []struct {
		kind, flag, explicit, suffix string
		limit                        int64
	}{
		{verify.DetachedSignature, "--signature", o.signature, layout.SigSuffix, 64 << 10},
		{verify.DetachedBundle, "--bundle", o.sigBundle, layout.SigstoreBundleSuffix, 16 << 20},
		{verify.DetachedAttestation, "--attestation", o.attestation, layout.AttestationSuffix, signing.MaxAttestation},
	} {
		p := d.explicit
		if p == "" {
			if path == "-" {
				continue
			}
			p = path + d.suffix
			if _, err := os.Stat(p); err != nil {
				continue
			}
		}
		var data []byte
		if len(so.Keys) > 0 { // without a key the file is only listed
			var err error
			if data, err = readLimited(p, d.limit); err != nil {
				return nil, fmt.Errorf("%s %s: %w", d.flag, p, err)
			}
		}
		so.Detached = append(so.Detached, verify.Detached{Kind: d.kind, Path: p, Data: data})
	}
	return so, nil
}

// readLimited reads a detached signature file: a regular file (a FIFO or
// device beside the bundle is refused without blocking, exit 3) of at most
// limit bytes (exit 3).
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := safefile.Open(path)
	var nr *safefile.NotRegularError
	switch {
	case errors.As(err, &nr):
		return nil, exitcode.Invalidf("is a %s, not a regular file", nr.Kind)
	case err != nil:
		return nil, exitcode.WithCode(exitcode.IO, errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, exitcode.WithCode(exitcode.IO, err)
	}
	if int64(len(b)) > limit {
		return nil, exitcode.Invalidf("larger than %d bytes", limit)
	}
	return b, nil
}

// verifyFlags are the flags behind the options verify's errors name.
var verifyFlags = map[string]string{"ExpectRoot": "--root", "ExpectSHA256": "--expect-sha256", "path": "--prove", "root": "--root"}

func runCheckProof(e *env, cmd *cobra.Command, o *verifyOptions) error {
	pf, err := safefile.Open(o.proof)
	if err != nil {
		return fmt.Errorf("open proof: %w", err)
	}
	defer pf.Close()
	p, err := verify.ParseProof(pf)
	if err != nil {
		return fmt.Errorf("%s: %w", o.proof, err)
	}
	f, err := safefile.Open(o.file)
	if err != nil {
		return fmt.Errorf("open file: %w", err)
	}
	defer f.Close()
	if err := verify.CheckProof(p, f, o.root); err != nil {
		return flagged(err, verifyFlags)
	}
	// The proof binds the file and its path to the root, not the tree size
	// or the leaf index (other sizes fit the same audit path): only what was
	// checked is printed.
	res := struct {
		OK   bool   `json:"ok"`
		Path string `json:"path"`
		Root string `json:"root"`
	}{true, p.Path, o.root}
	return printResult(e, cmd, res, func(w io.Writer) {
		fmt.Fprintf(w, "OK %s is in the tree of root %s\n", p.Path, o.root)
	})
}
