package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/dataset/deliver"
	"github.com/stella-ops/stella-export/internal/dataset/export"
	"github.com/stella-ops/stella-export/internal/dataset/redact"
	"github.com/stella-ops/stella-export/internal/events"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/keyring"
	"github.com/stella-ops/stella-export/internal/notify"
	runner "github.com/stella-ops/stella-export/internal/run"
)

// HashSaltEnv holds the salt of hashed identifiers in hex when the
// keyring has no alias/hash-<tenant> (docs/dataset.md#hashing).
const HashSaltEnv = EnvPrefix + "HASH_SALT_HEX"

// hashSaltAlias is the keyring alias whose current key salts a tenant's
// hashes.
func hashSaltAlias(tenant string) string { return keyring.Prefix + "hash-" + tenant }

// datasetHasher returns the hasher of tenant's identifiers: the salt from
// $STELLA_EXPORT_HASH_SALT_HEX, else the keyring's alias/hash-<tenant>.
func datasetHasher(e *env, keyringDir, tenant string) (*redact.Hasher, error) {
	if h := e.getenv(HashSaltEnv); h != "" {
		salt, err := hex.DecodeString(h)
		if err != nil {
			return nil, exitcode.Invalidf("%s: not hex digits (want at least %d bytes, %d hex digits)", HashSaltEnv, redact.MinSaltBytes, 2*redact.MinSaltBytes)
		}
		// the key id names the variable and a fingerprint of the salt, so
		// that an export hashed under another salt is told apart (purge)
		fp := sha256.Sum256(append([]byte("stella-export/hash-salt-id/v1\x00"), salt...))
		return redact.NewHasher(salt, tenant, HashSaltEnv+"/"+hex.EncodeToString(fp[:8]))
	}
	if keyringDir != "" {
		k, err := keyring.Dir(keyringDir).Resolve(hashSaltAlias(tenant))
		if err != nil {
			return nil, fmt.Errorf("hash salt: %w", err)
		}
		return redact.NewHasher(k.Secret, tenant, k.ID)
	}
	return nil, withHint(exitcode.Usagef("the contract hashes identifiers, which needs a salt: none given"),
		"set $%s to at least %d hex digits, or create %s in the keyring (stella-export keys create %s) and give --keyring",
		HashSaltEnv, 2*redact.MinSaltBytes, hashSaltAlias(tenant), hashSaltAlias(tenant))
}

type datasetResult struct {
	Delivered   string   `json:"delivered,omitempty"`
	Queued      []string `json:"queued,omitempty"`
	Event       string   `json:"event,omitempty"`
	Output      string   `json:"output"`
	Package     string   `json:"package,omitempty"`
	SHA256      string   `json:"sha256,omitempty"`
	Root        string   `json:"root,omitempty"`
	ExportID    string   `json:"exportId"`
	Profile     string   `json:"profile"`
	Records     int64    `json:"records"`
	SourceRows  int64    `json:"sourceRows"`
	Suppressed  int64    `json:"suppressed"`
	DataFiles   int      `json:"dataFiles"`
	Files       int      `json:"files"`
	Warnings    int64    `json:"warnings"`
	PayloadRoot string   `json:"payloadRoot"`
}

// runDataset runs a DatasetExport contract.
func runDataset(ctx context.Context, e *env, cmd *cobra.Command, o *runOptions, arg string, c *contract.Contract, lg *runLog) (err error) {
	// Logged and announced as an EvidenceExport run is: an error record
	// with its code, export.failed.v1 in the outbox on failure (not on
	// interruption), export.ready.v1 for a completed bundle.
	profile := "dataset:" + c.Dataset.Format
	defer func() {
		if err == nil {
			return
		}
		lg.fail(err)
		if o.outbox != "" && ctx.Err() == nil {
			err = queueFailed(ctx, e, lg, o.outbox, notify.NewFailed(c.ExportID, c.Tenant, profile, err, oneLine(err.Error()), e.global.log.correlationID), err)
		}
	}()
	lg.info("plan", "dataset export", slog.String("export_id", c.ExportID))
	for _, n := range []string{"skip-invalid", "allow-cross-tenant"} {
		if cmd.Flags().Changed(n) {
			return exitcode.Usagef("--%s applies to EvidenceExport contracts, not %s", n, contract.KindDataset)
		}
	}
	if m := c.Dataset.DeliveryMethod; m != contract.DeliverLocal && o.outbox == "" {
		return withHint(exitcode.Usagef("delivery_method %s writes a delivery descriptor into the emit outbox: give --outbox DIR", m),
			"stella-export run %s -o %s --outbox outbox; then stella-export emit relay --outbox outbox ...", arg, o.output)
	}
	signer, err := optionalSigner(e, o.signKey)
	if err != nil {
		return err
	}
	var ev *events.Writer
	if o.eventsFile != "" {
		f, ferr := createEvents(o.eventsFile, arg, o.force)
		if ferr != nil {
			return ferr
		}
		defer f.Close()
		ev = events.New(f)
	} else {
		ev = events.New(nil)
	}
	ev.Hook = lg.hook
	var hasher *redact.Hasher
	s, serr := export.LoadSchema(c)
	if serr == nil && redact.NeedsHasher(s, c.Dataset) {
		if hasher, err = datasetHasher(e, o.keyring, c.Tenant); err != nil {
			return err
		}
	} // a schema error is reported by ExecuteDataset, with its position
	o.encryption = c.Encryption
	enc, err := runEncryption(e, o)
	if err != nil {
		return err
	}
	protect := []runner.Protected{{What: "contract", Path: arg}, {What: "dataset source", Path: c.Dataset.SourcePath},
		{What: "schema", Path: c.Dataset.SchemaPath}}
	res, err := runner.ExecuteDataset(ctx, c, runner.Options{
		OutDir: o.output, Package: o.pkg, Force: o.force, CreatedAt: o.created, ModTime: o.modTime,
		Events: ev, Signer: signer, Protect: protect, MemoryBudget: int64(o.memoryBudget), Encryption: enc,
	}, runner.DatasetOptions{Hasher: hasher, Report: e.stderr})
	if err != nil {
		if ctx.Err() != nil {
			return interrupted(ctx, err, "the staging directory and partial output")
		}
		return withRunHint(flagged(err, runFlags), o)
	}
	if err := o.stored(ctx, &res.Result); err != nil {
		return err
	}
	xm := res.Dataset.Manifest
	delivered, queued, err := deliverDataset(ctx, c, o, res)
	if err != nil {
		return err
	}
	lg.info("distribute", "export completed", slog.String("export_id", c.ExportID), slog.String("output", o.output),
		slog.String("package", o.pkg), slog.String("sha256", res.BundleSHA))
	if signer != nil {
		o.logOnDone.signedBy = signer.Fingerprint()
	}
	rcpt, err := o.logOnDone.append(ctx, e, o.pkg)
	if err != nil {
		return err
	}
	if o.outbox != "" && o.pkg != "" {
		ready := notify.NewReady(res.Manifest, res.Root.String(), res.BundleSHA, fileSize(o.pkg), e.global.log.correlationID)
		if rcpt != nil {
			ready.Metadata.Log = &notify.ReadyLog{Index: rcpt.Index, Checkpoint: rcpt.Checkpoint}
		}
		q, qerr := notify.Outbox{Dir: o.outbox}.Queue(ctx, ready)
		if qerr != nil {
			return withHint(fmt.Errorf("queue %s: %w", notify.ReadyType, qerr),
				"the export is complete; queue its notification with: stella-export emit %s --outbox %s", o.pkg, o.outbox)
		}
		queued = append(queued, q.Path)
		lg.info("emit", "notification queued", slog.String("type", notify.ReadyType), slog.String("key", q.Key), slog.String("path", q.Path))
	}
	out := datasetResult{Delivered: delivered, Queued: queued, Output: o.output, Package: o.pkg, SHA256: res.BundleSHA, ExportID: c.ExportID, Profile: res.Manifest.Profile,
		Records: xm.Totals.Records, SourceRows: xm.Totals.SourceRows, Suppressed: xm.Redaction.SuppressedRows,
		DataFiles: xm.Totals.Files, Files: res.Manifest.FileCount, Warnings: xm.Validation.Warnings, PayloadRoot: res.Manifest.PayloadRoot}
	if o.pkg != "" {
		out.Root = res.Root.String()
	}
	if err := ev.Err(); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	return printResult(e, cmd, out, func(w io.Writer) {
		fmt.Fprintf(w, "%s: %s export %s, %d records of %d source rows (%d suppressed) in %d data files, payload root %s\n",
			out.Output, out.Profile, out.ExportID, out.Records, out.SourceRows, out.Suppressed, out.DataFiles, out.PayloadRoot)
		if out.Package != "" {
			fmt.Fprintf(w, "%s: root %s\n", out.Package, out.Root)
		}
		if out.Delivered != "" {
			fmt.Fprintf(w, "delivered: %s\n", out.Delivered)
		}
		if len(out.Queued) > 0 {
			fmt.Fprintf(w, "%s: %d events queued\n", o.outbox, len(out.Queued))
		}
	})
}

// deliverDataset delivers a finished export (delivery_method local) and
// queues its events in the outbox. A local destination is relative to the
// contract's directory, like the contract's other paths.
func deliverDataset(ctx context.Context, c *contract.Contract, o *runOptions, res *runner.DatasetResult) (string, []string, error) {
	xm := res.Dataset.Manifest
	var b *deliver.Bundle
	if o.pkg != "" {
		b = &deliver.Bundle{Path: o.pkg, SHA256: res.BundleSHA, Root: res.Root.String()}
	}
	var delivered, recorded string
	var desc *deliver.Descriptor
	switch {
	case xm.Destination == "":
	case c.Dataset.DeliveryMethod == contract.DeliverLocal:
		dest := xm.Destination
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(c.Path), filepath.FromSlash(dest))
		}
		src := o.output
		if o.pkg != "" {
			src = o.pkg
		}
		var err error
		if delivered, err = deliver.Local(ctx, src, dest); err != nil {
			return "", nil, err
		}
		m := res.Manifest
		if recorded, err = recordLocal(ctx, o.output, delivered, o.pkg, res.BundleSHA, m.PayloadBytes, m.ExportID, c.Tenant, m.CreatedAtUTC, m.ExpiresAtUTC, o.outbox); err != nil {
			return delivered, nil, err
		}
	default:
		var err error
		if desc, err = deliver.NewDescriptor(c, res.Dataset, xm.Destination, b); err != nil {
			return "", nil, err
		}
	}
	if o.outbox == "" {
		return delivered, nil, nil
	}
	evs, err := deliver.Events(o.output, c, xm.ExportedAt, desc)
	if err != nil {
		return delivered, nil, err
	}
	rs, err := deliver.Queue(ctx, o.outbox, evs)
	var keys []string
	for _, r := range rs {
		keys = append(keys, r.Key)
	}
	if recorded != "" {
		keys = append(keys, recorded)
	}
	return delivered, keys, err
}

type datasetPlanResult struct {
	Contract   string   `json:"contract"`
	ExportID   string   `json:"exportId"`
	Kind       string   `json:"kind"`
	DatasetRef string   `json:"datasetRef"`
	Format     string   `json:"format"`
	Schema     string   `json:"schema"`
	Columns    []string `json:"columns"`
	Dropped    []string `json:"dropped"`
	Masked     []string `json:"masked"`
	Hashed     []string `json:"hashed"`
}

// planDataset checks a DatasetExport as far as it can without reading
// rows: a dataset export has no plan file, run takes the contract.
func planDataset(e *env, cmd *cobra.Command, o *planOptions, c *contract.Contract) error {
	if o.output != "" {
		return withHint(exitcode.Usagef("-o: a %s has no plan file; the contract is run directly", contract.KindDataset),
			"stella-export run %s -o OUTDIR", c.Path)
	}
	ck, err := export.Check(c)
	if err != nil {
		return err
	}
	out := datasetPlanResult{Contract: c.Path, ExportID: c.ExportID, Kind: c.Kind, DatasetRef: c.Dataset.DatasetRef, Format: c.Dataset.Format,
		Schema: ck.Schema.Name + " " + ck.Schema.Version, Dropped: ck.Summary.Dropped, Masked: ck.Summary.Masked, Hashed: ck.Summary.Hashed}
	for _, col := range ck.Output.Columns {
		out.Columns = append(out.Columns, col.Name)
	}
	return printResult(e, cmd, out, func(w io.Writer) {
		fmt.Fprintf(w, "%s: %s %s: %s as %s, schema %s, %d output columns (%d dropped, %d masked, %d hashed); run it with: stella-export run %s -o OUTDIR\n",
			c.Path, c.Kind, c.ExportID, out.DatasetRef, out.Format, out.Schema, len(out.Columns), len(out.Dropped), len(out.Masked), len(out.Hashed), c.Path)
	})
}
