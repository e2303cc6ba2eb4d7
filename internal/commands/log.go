package commands

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/exitcode"
	htmlreport "github.com/stella-ops/stella-export/internal/report"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/signing"
	"github.com/stella-ops/stella-export/internal/tarball"
	"github.com/stella-ops/stella-export/internal/tlog"
	"github.com/stella-ops/stella-export/internal/verify"
)

// ReceiptSuffix names a bundle's log receipt: BUNDLE.tlog.json.
const ReceiptSuffix = ".tlog.json"

const maxNoteKey = 4 << 10

func newLogCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Keep an offline transparency log of exports (C2SP tlog-tiles, signed checkpoints)",
		Long: `log keeps an append-only Merkle log of export records in a directory
(C2SP tlog-tiles layout, written by tessera's POSIX driver) that can be
copied across an air gap or served as static files. Its checkpoints
(C2SP tlog-checkpoint) are signed notes, Ed25519; the note's name is the
log's origin. Each append writes BUNDLE.tlog.json beside the bundle: the
entry, its index, its inclusion proof and the signed checkpoint it was
proven against. An auditor checks it offline with
  stella-export verify BUNDLE --receipt BUNDLE.tlog.json --log-key PREFIX.vkey
and, holding a later checkpoint, that the log only grew (--checkpoint).`,
		Example: `  stella-export log init /srv/exportlog --origin example.org/exports --key keys/exportlog
  stella-export log append out/export.tgz --log /srv/exportlog --key keys/exportlog.key
  stella-export log checkpoint --log /srv/exportlog
  stella-export log prove --log /srv/exportlog --from 12 > proof.json
  stella-export log fsck --log /srv/exportlog --log-key keys/exportlog.vkey`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newLogInitCmd(e), newLogAppendCmd(e), newLogCheckpointCmd(e), newLogProveCmd(e), newLogFsckCmd(e))
	return cmd
}

func newLogInitCmd(e *env) *cobra.Command {
	var origin, prefix string
	cmd := &cobra.Command{
		Use:   "init DIR --origin NAME --key PREFIX",
		Short: "Create a log with an empty signed checkpoint",
		Long: `init creates the log in DIR and publishes its first, empty, checkpoint. It
signs with the note signer key PREFIX.key when it exists (its name must be
NAME), else writes a new Ed25519 one (mode 0600) and its verifier key
PREFIX.vkey, which auditors need. PREFIX may not be inside DIR: the log
directory is meant to be copied, the signer key is not.`,
		Args: cobra.ExactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if origin == "" || prefix == "" {
				return exitcode.Usagef("log init needs --origin NAME and --key PREFIX")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			dir := args[0]
			if inside(prefix, dir) {
				return withHint(exitcode.Usagef("--key %s: inside the log directory %s, which is meant to be copied", prefix, dir), "keep the signer key outside DIR, e.g. --key keys/exportlog")
			}
			s, vkey, err := loadOrCreateNoteKey(prefix, origin)
			if err != nil {
				return err
			}
			raw, err := tlog.Init(cmd.Context(), dir, s)
			if err != nil {
				return fmt.Errorf("log init %s: %w", dir, err)
			}
			res := struct {
				Log         string `json:"log"`
				Origin      string `json:"origin"`
				VerifierKey string `json:"verifierKey"`
				Checkpoint  string `json:"checkpoint"`
			}{dir, origin, vkey, string(raw)}
			return printResult(e, cmd, res, func(w io.Writer) { _, _ = w.Write(raw) })
		},
	}
	cmd.Flags().StringVar(&origin, "origin", "", "the log's name, the checkpoints' origin line (e.g. example.org/exports)")
	cmd.Flags().StringVar(&prefix, "key", "", "note signer key PREFIX.key (made, with PREFIX.vkey, when missing)")
	return cmd
}

// inside reports whether path is dir or below it.
func inside(path, dir string) bool {
	ap, err1 := filepath.Abs(path)
	ad, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(ad, ap)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// loadOrCreateNoteKey returns the signer in PREFIX.key (written, with
// PREFIX.vkey, when missing) and the verifier key.
func loadOrCreateNoteKey(prefix, origin string) (note.Signer, string, error) {
	kp, vp := prefix+".key", prefix+".vkey"
	if _, err := os.Lstat(kp); errors.Is(err, fs.ErrNotExist) {
		skey, vkey, err := tlog.GenerateKey(origin)
		if err != nil {
			return nil, "", fmt.Errorf("--origin: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(kp), 0o700); err != nil {
			return nil, "", exitcode.WithCode(exitcode.IO, err)
		}
		if err := atomicfile.WriteFile(kp, []byte(skey+"\n"), 0o600, false); err != nil {
			return nil, "", fmt.Errorf("write %s: %w", kp, err)
		}
		if err := atomicfile.WriteFile(vp, []byte(vkey+"\n"), 0o644, false); err != nil {
			return nil, "", fmt.Errorf("write %s: %w", vp, err)
		}
		s, err := tlog.NewSigner(skey)
		return s, vkey, err
	}
	s, skey, err := readNoteSigner(kp)
	if err != nil {
		return nil, "", err
	}
	if s.Name() != origin {
		return nil, "", exitcode.Invalidf("--key %s: signs for origin %q, not %q", kp, s.Name(), origin)
	}
	vkey, err := verifierKeyOf(skey)
	if err != nil {
		return nil, "", fmt.Errorf("--key %s: %w", kp, err)
	}
	if b, err := safefile.ReadAll(vp, maxNoteKey); err == nil {
		if strings.TrimSpace(string(b)) != vkey {
			return nil, "", exitcode.Conflictf("%s is not the verifier key of %s", vp, kp)
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		if err := atomicfile.WriteFile(vp, []byte(vkey+"\n"), 0o644, false); err != nil {
			return nil, "", fmt.Errorf("write %s: %w", vp, err)
		}
	} else {
		return nil, "", fmt.Errorf("read %s: %w", vp, err)
	}
	return s, vkey, nil
}

// verifierKeyOf derives the verifier key of an Ed25519 note signer key
// (PRIVATE+KEY+name+hash+base64(0x01 || seed)).
func verifierKeyOf(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 {
		return "", exitcode.Invalidf("not a note signer key")
	}
	b, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(b) != 1+ed25519.SeedSize || b[0] != 1 {
		return "", exitcode.Invalidf("not an Ed25519 note signer key")
	}
	pub := ed25519.NewKeyFromSeed(b[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}

func readNoteSigner(path string) (note.Signer, string, error) {
	b, err := safefile.ReadAll(path, maxNoteKey)
	if err != nil {
		return nil, "", fmt.Errorf("--key %s: %w", path, err)
	}
	skey := strings.TrimSpace(string(b))
	s, err := tlog.NewSigner(skey)
	if err != nil {
		return nil, "", fmt.Errorf("--key %s: %w", path, err)
	}
	return s, skey, nil
}

func readNoteVerifier(flag, path string) (note.Verifier, error) {
	b, err := safefile.ReadAll(path, maxNoteKey)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	v, err := tlog.NewVerifier(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return v, nil
}

type logAppendOptions struct {
	log, key  string
	bundleKey string
	force     bool
}

func newLogAppendCmd(e *env) *cobra.Command {
	o := &logAppendOptions{}
	cmd := &cobra.Command{
		Use:   "append BUNDLE... --log DIR --key PREFIX.key",
		Short: "Verify bundles, append an entry for each, write BUNDLE.tlog.json receipts",
		Long: `append verifies each bundle (as verify does; with --bundle-key its signature
must verify too), appends one entry per bundle, in order, and writes each
receipt BUNDLE.tlog.json: the entry (canonical JSON: exportId, tenant,
profile, root, sha256, createdAtUtc, signingKey), its index, its inclusion
proof and the signed checkpoint covering all of them. Nothing is appended
when a bundle fails or a receipt already exists (--force replaces it).`,
		Args: cobra.MinimumNArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if o.log == "" || o.key == "" {
				return exitcode.Usagef("log append needs --log DIR and --key PREFIX.key")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			rs, err := logAppend(cmd.Context(), o, args)
			if err != nil {
				return err
			}
			return printResult(e, cmd, rs, func(w io.Writer) {
				for i, r := range rs {
					fmt.Fprintf(w, "%s: entry %d, receipt %s\n", args[i], r.Index, args[i]+ReceiptSuffix)
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.log, "log", "", "log directory (made by log init)")
	f.StringVar(&o.key, "key", "", "the log's note signer key, PREFIX.key")
	f.StringVar(&o.bundleKey, "bundle-key", "", "public key the bundles must be signed with; its fingerprint goes into the entry")
	f.BoolVar(&o.force, "force", false, "replace existing receipts")
	return cmd
}

func logAppend(ctx context.Context, o *logAppendOptions, bundles []string) ([]tlog.Receipt, error) {
	s, _, err := readNoteSigner(o.key)
	if err != nil {
		return nil, err
	}
	return appendBundles(ctx, o.log, s, o.bundleKey, "", o.force, bundles)
}

// appendBundles verifies bundles, appends their entries to the log in dir
// and writes their receipts. The entries' signingKey is the fingerprint of
// bundleKey (the bundles must be signed with it), else signedBy (the key
// this process just signed them with), else empty.
func appendBundles(ctx context.Context, dir string, s note.Signer, bundleKey, signedBy string, force bool, bundles []string) ([]tlog.Receipt, error) {
	fp := signedBy
	var so *verify.SignatureOptions
	if bundleKey != "" {
		pub, err := signing.LoadPublicKey(bundleKey)
		if err != nil {
			return nil, keyFlag(err, "--bundle-key")
		}
		fp = signing.Fingerprint(pub)
		so = &verify.SignatureOptions{Key: pub, Require: true}
	}
	entries := make([]tlog.Entry, len(bundles))
	for i, b := range bundles {
		rp := b + ReceiptSuffix
		if force {
			if err := safefile.Replaceable(rp); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("receipt %s: %w", rp, err)
			}
		} else if _, err := os.Lstat(rp); err == nil {
			return nil, withHint(exitcode.Conflictf("receipt %s already exists", rp), "this bundle is already in a log; --force replaces the receipt")
		}
		e, err := entryOf(ctx, b, so, fp)
		if err != nil {
			return nil, err
		}
		entries[i] = e
	}
	rs, err := tlog.Append(ctx, dir, s, entries)
	if err != nil {
		return nil, fmt.Errorf("log append %s: %w", dir, err)
	}
	for i, r := range rs {
		data, err := r.Marshal()
		if err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(bundles[i]+ReceiptSuffix, data, 0o644, true); err != nil {
			return nil, fmt.Errorf("write receipt of entry %d: %w", r.Index, err)
		}
	}
	return rs, nil
}

func entryOf(ctx context.Context, path string, so *verify.SignatureOptions, fp string) (tlog.Entry, error) {
	f, err := safefile.Open(path)
	if err != nil {
		return tlog.Entry{}, fmt.Errorf("open bundle: %w", err)
	}
	defer f.Close()
	if so != nil {
		so.OpenArtifact = func() (io.ReadCloser, error) { return safefile.Open(path) }
		so.Detached = nil
		for _, d := range []struct{ kind, suffix string }{{verify.DetachedSignature, ".sig"}} {
			if b, err := readLimited(path+d.suffix, 64<<10); err == nil {
				so.Detached = append(so.Detached, verify.Detached{Kind: d.kind, Path: path + d.suffix, Data: b})
			}
		}
	}
	rep, err := verify.Verify(ctx, f, verify.Options{Limits: tarball.DefaultLimits, Signatures: so})
	if err != nil {
		return tlog.Entry{}, withHint(fmt.Errorf("%s: %w", path, err), "only a bundle that verifies is logged; see stella-export verify %s", path)
	}
	e, err := tlog.EntryFor(rep, fp)
	if err != nil {
		return tlog.Entry{}, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}

func newLogCheckpointCmd(e *env) *cobra.Command {
	var dir, vkey string
	cmd := &cobra.Command{
		Use:   "checkpoint --log DIR [--log-key PREFIX.vkey]",
		Short: "Print the log's latest signed checkpoint",
		Args:  cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return exitcode.Usagef("log checkpoint needs --log DIR")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			d := tlog.Dir(dir)
			raw, err := d.ReadCheckpoint(cmd.Context())
			if err != nil {
				return fmt.Errorf("log %s: read checkpoint: %w", dir, err)
			}
			if vkey != "" {
				v, err := readNoteVerifier("--log-key", vkey)
				if err != nil {
					return err
				}
				if _, err := tlog.OpenCheckpoint(raw, v); err != nil {
					return fmt.Errorf("log %s: %w", dir, err)
				}
			}
			_, err = e.stdout.Write(raw)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "log", "", "log directory")
	cmd.Flags().StringVar(&vkey, "log-key", "", "check the checkpoint's signature with this note verifier key")
	return cmd
}

func newLogProveCmd(e *env) *cobra.Command {
	var dir string
	var from uint64
	cmd := &cobra.Command{
		Use:   "prove --log DIR --from SIZE",
		Short: "Print a consistency proof from an earlier size to the latest checkpoint, as JSON",
		Long: `prove prints, as canonical JSON, the RFC 6962 consistency proof that the
log of size SIZE is a prefix of the log at its latest checkpoint, with
that checkpoint. An auditor holding a checkpoint of size SIZE checks it
with verify --checkpoint ... --consistency FILE, without the log.`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" || !cmd.Flags().Changed("from") {
				return exitcode.Usagef("log prove needs --log DIR and --from SIZE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			d := tlog.Dir(dir)
			raw, err := d.ReadCheckpoint(cmd.Context())
			if err != nil {
				return fmt.Errorf("log %s: read checkpoint: %w", dir, err)
			}
			n, err := note.Open(raw, note.VerifierList())
			var unv *note.UnverifiedNoteError
			switch {
			case errors.As(err, &unv):
				n = unv.Note
			case err != nil:
				return exitcode.Invalidf("log %s: checkpoint: %v", dir, err)
			}
			size, err := checkpointSize(n.Text)
			if err != nil {
				return fmt.Errorf("log %s: %w", dir, err)
			}
			if from > size {
				return exitcode.Usagef("--from %d: the log has %d entries", from, size)
			}
			p := &tlog.Proof{From: from, To: size, Checkpoint: string(raw), Consistency: [][]byte{}}
			if from > 0 && from < size {
				if p.Consistency, err = d.ConsistencyProof(cmd.Context(), from, size); err != nil {
					return fmt.Errorf("log %s: %w", dir, err)
				}
			}
			b, err := canonjson.MarshalLine(p)
			if err != nil {
				return err
			}
			_, err = e.stdout.Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "log", "", "log directory")
	cmd.Flags().Uint64Var(&from, "from", 0, "the size of the earlier checkpoint")
	return cmd
}

func checkpointSize(text string) (uint64, error) {
	lines := strings.SplitN(text, "\n", 3)
	var n uint64
	if len(lines) < 3 {
		return 0, exitcode.Invalidf("checkpoint: too short")
	}
	if _, err := fmt.Sscan(lines[1], &n); err != nil {
		return 0, exitcode.Invalidf("checkpoint: size %q: %v", lines[1], err)
	}
	return n, nil
}

func newLogFsckCmd(e *env) *cobra.Command {
	var dir, vkey string
	cmd := &cobra.Command{
		Use:   "fsck --log DIR --log-key PREFIX.vkey",
		Short: "Recompute every tile and the checkpoint's root from the entries",
		Long: `fsck checks the latest checkpoint's signature, recomputes every tile from the
entry bundles and the root from them, and compares. Exit 1 names the
first tile that is wrong or missing.`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" || vkey == "" {
				return exitcode.Usagef("log fsck needs --log DIR and --log-key PREFIX.vkey")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			v, err := readNoteVerifier("--log-key", vkey)
			if err != nil {
				return err
			}
			cp, err := tlog.Dir(dir).Fsck(cmd.Context(), v)
			if err != nil {
				return fmt.Errorf("log fsck %s: %w", dir, err)
			}
			res := struct {
				OK     bool   `json:"ok"`
				Origin string `json:"origin"`
				Size   uint64 `json:"size"`
				Root   string `json:"root"`
			}{true, cp.Origin, cp.Size, tlog.RootString(cp.Hash)}
			return printResult(e, cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "OK log %s: %d entries, root %s\n", cp.Origin, cp.Size, res.Root)
			})
		},
	}
	cmd.Flags().StringVar(&dir, "log", "", "log directory")
	cmd.Flags().StringVar(&vkey, "log-key", "", "the log's note verifier key")
	return cmd
}

// logVerify are verify's transparency-log flags.
type logVerify struct {
	receipt     string
	logKey      string
	checkpoint  string
	logDir      string
	consistency string
}

func (o *logVerify) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.receipt, "receipt", "", "log receipt of the bundle (default BUNDLE"+ReceiptSuffix+", when present); needs --log-key")
	f.StringVar(&o.logKey, "log-key", "", "the log's note verifier key (PREFIX.vkey): check the receipt's entry, inclusion proof and checkpoint")
	f.StringVar(&o.checkpoint, "checkpoint", "", "a checkpoint of the log you hold (e.g. from a later notification): the log must have only grown between it and the receipt's")
	f.StringVar(&o.logDir, "log", "", "log directory to take the consistency proof for --checkpoint from")
	f.StringVar(&o.consistency, "consistency", "", "consistency proof for --checkpoint (JSON from log prove)")
}

func (o *logVerify) validate(bundle string) error {
	if o.logKey == "" {
		for _, f := range []struct{ name, v string }{{"--receipt", o.receipt}, {"--checkpoint", o.checkpoint}, {"--log", o.logDir}, {"--consistency", o.consistency}} {
			if f.v != "" {
				return exitcode.Usagef("%s needs --log-key PREFIX.vkey", f.name)
			}
		}
		return nil
	}
	if o.receipt == "" && bundle == "-" {
		return exitcode.Usagef("--log-key with a bundle on stdin needs --receipt FILE")
	}
	if (o.logDir != "" || o.consistency != "") && o.checkpoint == "" {
		return exitcode.Usagef("--log and --consistency go with --checkpoint")
	}
	if o.logDir != "" && o.consistency != "" {
		return exitcode.Usagef("--log and --consistency both give the consistency proof; pick one")
	}
	return nil
}

// check sets rep.Log: the receipt's verdict. The error is for what could
// not be read or checked (exit 2, 3, 4).
func (o *logVerify) check(ctx context.Context, rep *verify.Report, bundle string) error {
	rp := o.receipt
	if rp == "" {
		rp = bundle + ReceiptSuffix
	}
	v, err := readNoteVerifier("--log-key", o.logKey)
	if err != nil {
		return err
	}
	b, err := safefile.ReadAll(rp, tlog.MaxReceipt)
	if err != nil {
		return fmt.Errorf("--receipt %s: %w", rp, err)
	}
	r, err := tlog.ParseReceipt(b)
	if err != nil {
		return fmt.Errorf("--receipt %s: %w", rp, err)
	}
	a := tlog.Audit{Name: rp, Receipt: r, Verifier: v, Log: tlog.Dir(o.logDir)}
	if o.checkpoint != "" {
		if a.Held, err = safefile.ReadAll(o.checkpoint, tlog.MaxCheckpoint); err != nil {
			return fmt.Errorf("--checkpoint %s: %w", o.checkpoint, err)
		}
	}
	if o.consistency != "" {
		b, err := safefile.ReadAll(o.consistency, tlog.MaxReceipt)
		if err != nil {
			return fmt.Errorf("--consistency %s: %w", o.consistency, err)
		}
		if a.Proof, err = tlog.ParseProof(b); err != nil {
			return fmt.Errorf("--consistency %s: %w", o.consistency, err)
		}
	}
	lc, err := a.Check(ctx, rep)
	if err != nil {
		return fmt.Errorf("--receipt %s: %w", rp, err)
	}
	rep.Log = lc
	return nil
}

// writeHTMLReport writes verify --html: replacing only a regular file.
func writeHTMLReport(path string, rep *verify.Report, c *htmlreport.Collector) error {
	if err := safefile.Replaceable(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("--html %s: %w", path, err)
	}
	var b strings.Builder
	if err := htmlreport.Write(&b, rep, c); err != nil {
		return fmt.Errorf("--html %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, []byte(b.String()), 0o644, true); err != nil {
		return fmt.Errorf("--html %s: %w", path, err)
	}
	return nil
}

// logOnDone is run's and package's --log/--log-signer: append the bundle
// written to a log once it is complete.
type logOnDone struct {
	dir, signer string
	s           note.Signer
	// signedBy is the fingerprint of the key run signed the bundle with
	// (--sign-key), recorded as the entry's signingKey.
	signedBy string
}

func (o *logOnDone) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.dir, "log", "", "append the bundle to this transparency log when done, writing BUNDLE"+ReceiptSuffix+" (see 'stella-export log --help'); needs --log-signer")
	f.StringVar(&o.signer, "log-signer", "", "the log's note signer key, PREFIX.key")
}

// validate checks the flags and reads the signer key before any work, and
// that the bundle has no receipt yet (unless force).
func (o *logOnDone) validate(bundle string, force bool) error {
	if (o.dir == "") != (o.signer == "") {
		return exitcode.Usagef("--log DIR and --log-signer PREFIX.key go together")
	}
	if o.dir == "" {
		return nil
	}
	if bundle == "" || bundle == "-" {
		return exitcode.Usagef("--log appends a bundle file; it needs --package OUT.tgz (run) or -o OUT.tgz (package)")
	}
	s, _, err := readNoteSigner(o.signer)
	if err != nil {
		return fmt.Errorf("--log-signer: %w", err)
	}
	o.s = s
	if _, err := os.Lstat(bundle + ReceiptSuffix); err == nil && !force {
		return withHint(exitcode.Conflictf("receipt %s already exists", bundle+ReceiptSuffix), "--force replaces the bundle and its receipt")
	}
	return nil
}

// append logs the finished bundle, saying so on stderr.
func (o *logOnDone) append(ctx context.Context, e *env, bundle string) (*tlog.Receipt, error) {
	if o.dir == "" {
		return nil, nil
	}
	rs, err := appendBundles(ctx, o.dir, o.s, "", o.signedBy, true, []string{bundle})
	if err != nil {
		return nil, err
	}
	if !e.global.quiet {
		fmt.Fprintf(e.stderr, "stella-export: %s: entry %d in log %s, receipt %s\n", bundle, rs[0].Index, o.dir, bundle+ReceiptSuffix)
	}
	return &rs[0], nil
}
