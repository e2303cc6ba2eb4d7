package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/encrypt"
	"github.com/stella-ops/stella-export/internal/events"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/metrics"
	"github.com/stella-ops/stella-export/internal/notify"
	"github.com/stella-ops/stella-export/internal/partial"
	"github.com/stella-ops/stella-export/internal/plan"
	runner "github.com/stella-ops/stella-export/internal/run"
	"github.com/stella-ops/stella-export/internal/safefile"
)

type runOptions struct {
	output           string
	pkg              string
	force            bool
	eventsFile       string
	mtime            string
	createdAt        string
	allowCrossTenant bool
	skipInvalid      bool
	applyDelta       string
	base             string
	signKey          string
	memoryBudget     byteSize
	keyring          string
	encSeed          string
	outbox           string
	metricsFile      string
	runID            string
	layout           string

	store      *objstoreRun // --layout objstore
	modTime    time.Time
	created    time.Time
	encryption *contract.Encryption // the contract's, set by loadWork

	logOnDone
}

// masterKeyEnv holds the master key of every alias when there is no
// keyring: 64 hex digits.
const masterKeyEnv = EnvPrefix + "KMS_MASTER_KEY_HEX"

func (o *runOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "export directory to create (written to a staging directory and renamed)")
	f.StringVar(&o.pkg, "package", "", "also write the export as a reproducible bundle (.tgz) in the same run")
	o.logOnDone.addFlags(cmd)
	f.BoolVar(&o.force, "force", false, "replace an earlier export directory (only one stella-export wrote, holding none of the inputs) or bundle (a regular file)")
	f.StringVar(&o.eventsFile, "events", "", "write run and adapter events as JSON lines to this file")
	f.StringVar(&o.mtime, "mtime", "", "pinned time of the bundle entries, RFC 3339 (default $SOURCE_DATE_EPOCH, else 2025-01-01T00:00:00Z)")
	f.StringVar(&o.createdAt, "created-at", "", "createdAtUtc in export.json, RFC 3339 (default $SOURCE_DATE_EPOCH, else the contract's selectors.until, else the latest time among the selected documents; a plan fixes it)")
	f.BoolVar(&o.allowCrossTenant, "allow-cross-tenant", false, "confirm a cross-tenant export the contract allows (allow_cross_tenant: true)")
	f.BoolVar(&o.skipInvalid, "skip-invalid", false, "record malformed evidence documents in export.json instead of failing (contracts only; a plan fixes it)")
	f.StringVar(&o.applyDelta, "apply-delta", "", "apply this mirror:delta bundle to --base and write the resulting mirror tree to -o")
	f.StringVar(&o.signKey, "sign-key", "", "sign export.json and provenance.json inside the bundle with this key (with --package; see 'stella-export sign --help' for key references)")
	f.StringVar(&o.base, "base", "", "the full mirror bundle a delta applies to (with --apply-delta)")
	o.memoryBudget = evidence.DefaultMemoryBudget
	f.Var(&o.memoryBudget, memoryFlag, memoryUsage)
	f.StringVar(&o.keyring, "keyring", "", "keyring of the contract's envelope encryption key (default $"+KeyringEnv+", or keyring: in the config file; without one, $"+masterKeyEnv+")")
	f.StringVar(&o.outbox, "outbox", "", "queue the export's notification in this emit outbox, for emit relay: export.ready.v1 when the export completes (with --package), export.failed.v1 with the error code when it fails; DatasetExport: the consent ledger entry, lineage and audit events (and the delivery descriptor of s3, presigned and snowflake delivery)")
	f.StringVar(&o.runID, "run-id", "", "run_id of the log records (default: the first 12 hex digits of the plan digest)")
	f.StringVar(&o.metricsFile, "metrics-file", "", metricsUsage)
	f.StringVar(&o.layout, "layout", "flat", "bundle layout: flat (--package names the .tgz), or objstore: --package names an object-store root and the bundle goes to exports/{tenant}/{exportId}/bundle.tgz, write once, recorded in distributions.json (and, with --outbox, a distribution event)")
	f.StringVar(&o.encSeed, "deterministic-encryption-seed", "", "draw envelope encryption's keys and nonces from this seed file instead of the system's random source, so that two runs give the same bytes: for tests and reproducibility checks only, never for real exports")
}

func (o *runOptions) validate(e *env, cmd *cobra.Command, args []string) error {
	if o.output == "" {
		return exitcode.Usagef("-o/--output (the export directory) is required")
	}
	if o.output == "-" {
		return exitcode.Usagef("-o -: run writes an export directory, not a stream; name the directory")
	}
	if o.pkg == "-" {
		return exitcode.Usagef("--package -: run writes the bundle to a file, not to standard output; name the .tgz")
	}
	if o.applyDelta != "" {
		if o.base == "" {
			return exitcode.Usagef("--apply-delta needs --base FULL.tgz (the mirror bundle the delta was made against)")
		}
		if len(args) != 0 {
			return exitcode.Usagef("--apply-delta takes no contract or plan argument")
		}
		for _, n := range []string{"package", "sign-key", "events", "mtime", "created-at", "allow-cross-tenant", "skip-invalid", memoryFlag, "deterministic-encryption-seed", "outbox", "metrics-file", "run-id", "layout"} {
			if cmd.Flags().Changed(n) {
				return exitcode.Usagef("--%s does not apply with --apply-delta", n)
			}
		}
		return nil
	}
	if err := checkBudget(o.memoryBudget); err != nil {
		return err
	}
	if err := checkLayout(o.layout); err != nil {
		return err
	}
	if o.layout == layoutObjstore && o.pkg == "" {
		return exitcode.Usagef("--layout objstore needs --package ROOT (the object-store root)")
	}
	if o.pkg != "" && o.layout != layoutObjstore {
		if err := runner.CheckPackage(o.pkg, o.output, nil); err != nil {
			return flagged(err, runFlags)
		}
	}
	if o.signKey != "" && o.pkg == "" {
		return exitcode.Usagef("--sign-key signs inside the bundle; it needs --package OUT.tgz")
	}
	if o.base != "" {
		return exitcode.Usagef("--base goes with --apply-delta (a delta contract names its base in the contract)")
	}
	if len(args) != 1 {
		return exitcode.Usagef("want one contract (.yaml) or plan (.json), got %d arguments", len(args))
	}
	var err error
	if o.modTime, err = pinnedTime(e, o.mtime); err != nil {
		return err
	}
	if err := checkMetricsFile(o.metricsFile); err != nil {
		return err
	}
	if o.runID != "" {
		if err := safefile.CheckToken("--run-id", o.runID); err != nil {
			return exitcode.WithCode(exitcode.Usage, err)
		}
	}
	o.created, err = exportTime(e, o.createdAt)
	return err
}

func newRunCmd(e *env) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run CONTRACT.yaml|PLAN.json -o OUTDIR [--package OUT.tgz] | run --apply-delta DELTA.tgz --base FULL.tgz -o OUTDIR",
		Short: "Execute a contract or plan through the profile's adapters into an export directory (and bundle)",
		Long: `run executes a contract (planning it first) or a plan written by ` + "`plan`" + `. The
profile's adapters write into a staging directory beside OUTDIR, then
provenance.json and export.json are added and the directory is renamed into
place; --package also writes the bundle (docs/format.md). A plan whose inputs
changed since planning is refused (exit 5, file named); a plan file is
untrusted, and an input outside its tenant's directories or reached through
a symbolic link is refused (exit 3). On error or Ctrl-C the staging directory
and partial bundle are removed (exit 130/143 for signals). --force replaces
only an export directory stella-export wrote, never one that is or holds the
evidence source, the contract, the plan or a bundle being read (exit 5).

--apply-delta rebuilds a full mirror tree from a mirror:full bundle and a
mirror:delta bundle made against it, checking the result file by file.`,
		Example: `  stella-export run contracts/json-raw.yaml -o out/raw --package out/raw.tgz
  stella-export plan contracts/json-raw.yaml -o plan.json && stella-export run plan.json -o out/raw
  stella-export run --apply-delta delta.tgz --base full.tgz -o mirror/`,
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.validate(e, cmd, args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			if o.applyDelta != "" {
				if o.logOnDone.dir != "" {
					return exitcode.Usagef("--log appends a bundle; --apply-delta writes none")
				}
				return runApply(cmd.Context(), e, cmd, o)
			}
			if o.logOnDone.dir != "" && o.layout == layoutObjstore {
				return exitcode.Usagef("--log writes a receipt beside the bundle, and --layout objstore stores bundles write once: append the stored bundle with 'stella-export log append' instead")
			}
			if err := o.logOnDone.validate(o.pkg, o.force); err != nil {
				return err
			}
			return runRun(cmd.Context(), e, cmd, o, args[0])
		},
	}
	o.addFlags(cmd)
	return cmd
}

type runResult struct {
	Event       string         `json:"event,omitempty"`
	Output      string         `json:"output"`
	Package     string         `json:"package,omitempty"`
	SHA256      string         `json:"sha256,omitempty"`
	Root        string         `json:"root,omitempty"`
	ExportID    string         `json:"exportId"`
	Profile     string         `json:"profile"`
	Counts      map[string]int `json:"counts"`
	Files       int            `json:"files"`
	PayloadRoot string         `json:"payloadRoot"`
	// Notification is the outbox entry of export.ready.v1 (--outbox).
	Notification string `json:"notification,omitempty"`
}

func runRun(ctx context.Context, e *env, cmd *cobra.Command, o *runOptions, arg string) (err error) {
	rec := newRecorder(e, o.metricsFile, metrics.KindRun)
	var written int64
	defer func() { rec.finish(e, err, written) }()
	lg := newRunLog(e, o.runID)
	// id names the export for its export.failed.v1 notification, once the
	// contract is read.
	var id struct{ exportID, tenant, profile string }
	if o.layout == layoutObjstore {
		if o.store, err = stageObjstore(o.pkg); err != nil {
			return err
		}
		defer o.store.remove()
		o.pkg = o.store.staged
	}
	if !strings.HasSuffix(arg, ".json") {
		// A DatasetExport has no plan; an EvidenceExport (or a contract
		// with mistakes) goes on to loadWork, which reports them.
		if c, err := contract.Load(arg); err == nil {
			if c.Kind == contract.KindDataset {
				lg.identify("", c.Tenant, "dataset:"+c.Dataset.Format)
				return runDataset(ctx, e, cmd, o, arg, c, lg)
			}
			id.exportID, id.tenant, id.profile = c.ExportID, c.Tenant, c.Profile
			lg.identify("", c.Tenant, c.Profile)
		}
	}
	if o.outbox != "" && o.pkg == "" {
		return withHint(exitcode.Usagef("--outbox announces the bundle (export.ready.v1): it needs --package OUT.tgz"),
			"stella-export run %s -o %s --package OUT.tgz --outbox %s", arg, o.output, o.outbox)
	}
	completed := false
	defer func() {
		if err == nil {
			return
		}
		lg.fail(err)
		if o.outbox != "" && !completed && id.exportID != "" && ctx.Err() == nil {
			err = queueFailed(ctx, e, lg, o.outbox, notify.NewFailed(id.exportID, id.tenant, id.profile, err, oneLine(err.Error()), e.global.log.correlationID), err)
		}
	}()
	signer, err := optionalSigner(e, o.signKey)
	if err != nil {
		return err
	}
	var ev *events.Writer
	switch {
	case o.eventsFile != "":
		f, ferr := createEvents(o.eventsFile, arg, o.force)
		if ferr != nil {
			return ferr
		}
		defer f.Close()
		ev = events.New(f)
	case e.global.json:
		// JSON lines: the events, then run.result or the error object.
		ev = events.New(e.stdout)
	default:
		ev = events.New(nil)
	}
	ev.Hook = func(kind string, f map[string]any) {
		rec.hook(kind, f)
		lg.hook(kind, f)
	}
	bar := newProgress(e)
	defer bar.finish()
	if bar != nil {
		done := map[string]int64{}
		ev.Hook = func(kind string, f map[string]any) {
			rec.hook(kind, f)
			lg.hook(kind, f)
			switch kind {
			case "run.state":
				if f["state"] == "running" {
					bar.Phase("exporting", 0)
				}
			case "adapter.chunk", "adapter.complete":
				key := fmt.Sprint(f["adapter"], f["output"])
				if n, ok := f["inputBytes"].(int64); ok {
					bar.Add(n - done[key])
					done[key] = n
				}
			}
		}
	}
	ev.State("planning", map[string]any{"input": filepath.ToSlash(arg)})
	spill := spillIn(filepath.Dir(o.output), o.memoryBudget)
	if o.pkg != "" && filepath.Dir(o.pkg) != filepath.Dir(o.output) {
		partial.CleanStale(filepath.Dir(o.pkg))
	}
	p, source, base, protect, err := loadWork(ctx, e, cmd, o, arg, spill)
	if err != nil {
		state := "failed"
		if ctx.Err() != nil {
			state = "aborted"
		}
		ev.State(state, map[string]any{"message": oneLine(err.Error())})
		return interrupted(ctx, err, "partial output")
	}
	defer p.Close()
	rec.begin(e, p.Contract.Tenant, p.Contract.Profile)
	id.exportID, id.tenant, id.profile = p.Contract.ExportID, p.Contract.Tenant, p.Contract.Profile
	pd, err := runner.PlanDigest(p)
	if err != nil {
		return err
	}
	lg.identify(shortDigest(pd), p.Contract.Tenant, p.Contract.Profile)
	lg.info("plan", "planned", slog.String("export_id", p.Contract.ExportID), slog.Int("documents", p.Inputs.Len()))
	lg.info("resolve", "resolving the encryption and signing keys", slog.Bool("encryption", o.encryption != nil), slog.Bool("signing", signer != nil))
	enc, err := runEncryption(e, o)
	if err != nil {
		ev.State("failed", map[string]any{"message": oneLine(err.Error())})
		return err
	}
	res, err := runner.Execute(ctx, p, source, base, runner.Options{
		OutDir: o.output, Package: o.pkg, Force: o.force, ModTime: o.modTime,
		Events: ev, Progress: bar.asProgress(), Signer: signer, Protect: protect, MemoryBudget: int64(o.memoryBudget),
		Encryption: enc, PlanDigest: pd,
	})
	if err != nil {
		if ctx.Err() != nil {
			return interrupted(ctx, err, "the staging directory and partial output")
		}
		return withRunHint(flagged(err, runFlags), o)
	}
	if err := o.stored(ctx, res); err != nil {
		return err
	}
	completed = true
	written = res.Manifest.PayloadBytes + fileSize(o.pkg)
	if signer != nil {
		lg.info("sign", "signed export.json and provenance.json in the bundle", slog.String("package", o.pkg))
	}
	lg.info("distribute", "export completed", slog.String("export_id", res.Manifest.ExportID), slog.String("output", o.output),
		slog.String("package", o.pkg), slog.String("root", rootString(res)), slog.String("sha256", res.BundleSHA))
	// The bundle goes into the transparency log (--log) before it is
	// announced, so that its notification names its entry.
	if signer != nil {
		o.logOnDone.signedBy = signer.Fingerprint()
	}
	rcpt, err := o.logOnDone.append(ctx, e, o.pkg)
	if err != nil {
		return err
	}
	var note string
	if o.outbox != "" {
		ready := notify.NewReady(res.Manifest, res.Root.String(), res.BundleSHA, fileSize(o.pkg), e.global.log.correlationID)
		if rcpt != nil {
			ready.Metadata.Log = &notify.ReadyLog{Index: rcpt.Index, Checkpoint: rcpt.Checkpoint}
		}
		q, qerr := notify.Outbox{Dir: o.outbox}.Queue(ctx, ready)
		if qerr != nil {
			return withHint(fmt.Errorf("queue %s: %w", notify.ReadyType, qerr),
				"the export is complete; queue its notification with: stella-export emit %s --outbox %s", o.pkg, o.outbox)
		}
		note = q.Path
		lg.info("emit", "notification queued", slog.String("type", notify.ReadyType), slog.String("key", q.Key), slog.String("path", q.Path))
	}
	out := runResult{Notification: note, Output: o.output, Package: o.pkg, SHA256: res.BundleSHA, ExportID: res.Manifest.ExportID,
		Profile: res.Manifest.Profile, Counts: res.Manifest.Counts, Files: res.Manifest.FileCount, PayloadRoot: res.Manifest.PayloadRoot}
	if o.pkg != "" {
		out.Root = res.Root.String()
	}
	if e.global.json {
		if o.eventsFile != "" {
			return printResult(e, cmd, out, nil)
		}
		out.Event = "run.result"
		fields := map[string]any{"output": out.Output, "package": out.Package, "sha256": out.SHA256, "root": out.Root,
			"exportId": out.ExportID, "profile": out.Profile, "counts": out.Counts, "files": out.Files, "payloadRoot": out.PayloadRoot}
		if note != "" {
			fields["notification"] = note
		}
		ev.Emit("run.result", fields)
		return ev.Err()
	}
	if err := ev.Err(); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	return printResult(e, cmd, out, func(w io.Writer) {
		fmt.Fprintf(w, "%s: %s export %s, %d files, payload root %s\n", out.Output, out.Profile, out.ExportID, out.Files, out.PayloadRoot)
		if out.Package != "" {
			fmt.Fprintf(w, "%s: root %s\n", out.Package, out.Root)
		}
		if note != "" {
			fmt.Fprintf(w, "%s: %s queued\n", note, notify.ReadyType)
		}
	})
}

// queueFailed queues the export.failed.v1 notification of a failed run
// and returns the run's error; an outbox that cannot take it is said on
// stderr, the run's own error stays the one reported.
func queueFailed(ctx context.Context, e *env, lg *runLog, outbox string, f *notify.Failed, runErr error) error {
	q, err := notify.Outbox{Dir: outbox}.Queue(ctx, f)
	if err != nil {
		warner(e)(fmt.Sprintf("%s not queued in %s: %s", notify.FailedType, outbox, oneLine(err.Error())))
		return runErr
	}
	lg.log(slog.LevelInfo, "emit", "", f.ErrorCode, "failure notification queued", slog.String("type", notify.FailedType), slog.String("key", q.Key), slog.String("path", q.Path))
	return runErr
}

// shortDigest is the short form of a "sha256:<hex>" digest: 12 hex digits.
func shortDigest(d string) string {
	h := strings.TrimPrefix(d, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

func rootString(res *runner.Result) string {
	if res.Package == "" {
		return ""
	}
	return res.Root.String()
}

// stored puts the bundle into the object store, with --layout objstore,
// and points --package at it.
func (o *runOptions) stored(ctx context.Context, res *runner.Result) error {
	if o.store == nil {
		return nil
	}
	m := res.Manifest
	obj, err := o.store.store(ctx, m.Tenant, m.ExportID, m.CreatedAtUTC, m.ExpiresAtUTC, o.outbox)
	if err != nil {
		return err
	}
	o.pkg, res.Package = obj.Path, obj.Path
	return nil
}

// runEncryption resolves the contract's encryption: its key (keyring,
// else the environment key) or recipients, and the seed file.
func runEncryption(e *env, o *runOptions) (*encrypt.Config, error) {
	if o.encryption == nil {
		if o.encSeed != "" {
			return nil, exitcode.Usagef("--deterministic-encryption-seed: the contract has no encryption; leave the flag out")
		}
		return nil, nil
	}
	return encrypt.Resolve(o.encryption, encrypt.Keys{Keyring: o.keyring, EnvHex: e.getenv(masterKeyEnv)}, o.encSeed)
}

// runFlags names the flags behind runner's options in its errors.
var runFlags = map[string]string{"Package": "--package"}

func withRunHint(err error, o *runOptions) error {
	var ce *runner.ChangedError
	var re *runner.ReplaceError
	switch {
	case asErr(err, &ce):
		return withHint(err, "run `stella-export plan` again to plan the current evidence")
	case asErr(err, &re):
		return withHint(err, "pick another -o, or remove %s yourself if nothing in it is needed", re.Path)
	}
	return err
}

// loadWork returns the plan to execute, the evidence directory, for a
// delta the verified base mirror, and the inputs the run must not delete.
func loadWork(ctx context.Context, e *env, cmd *cobra.Command, o *runOptions, arg string, spill evidence.Spill) (_ *plan.Plan, _ string, _ *adapters.BaseMirror, _ []runner.Protected, err error) {
	if strings.HasSuffix(arg, ".json") {
		p, err := plan.Read(ctx, arg, spill)
		if err != nil {
			return nil, "", nil, nil, err
		}
		defer func() {
			if err != nil {
				p.Close()
			}
		}()
		if o.skipInvalid || o.allowCrossTenant || o.createdAt != "" {
			return nil, "", nil, nil, exitcode.Usagef("--skip-invalid, --allow-cross-tenant and --created-at are fixed by the plan; give them to `stella-export plan`")
		}
		cpath := filepath.Join(filepath.Dir(arg), filepath.FromSlash(p.Contract.Path))
		c, err := contract.Load(cpath)
		if err != nil {
			return nil, "", nil, nil, printErrors(e, cmd, contractErrors(err))
		}
		if c.Digest != p.Contract.Digest {
			return nil, "", nil, nil, exitcode.Conflictf("%s: the contract changed since planning (%s, the plan says %s); plan again", cpath, c.Digest, p.Contract.Digest)
		}
		if err := p.Check(c); err != nil {
			return nil, "", nil, nil, fmt.Errorf("%s: %w", arg, err)
		}
		var base *adapters.BaseMirror
		if p.Base != nil {
			base, err = plan.LoadBase(ctx, c.BasePath)
			if err != nil {
				return nil, "", nil, nil, err
			}
			if base.SHA256 != p.Base.SHA256 {
				return nil, "", nil, nil, exitcode.Conflictf("%s: the base mirror changed since planning (%s, the plan says %s); plan again", c.BasePath, base.SHA256, p.Base.SHA256)
			}
		}
		o.encryption = c.Encryption
		return p, c.SourceDir, base, protected(c, arg, cpath), nil
	}
	c, err := contract.Load(arg)
	if err != nil {
		return nil, "", nil, nil, printErrors(e, cmd, contractErrors(err))
	}
	p, _, base, err := plan.Build(ctx, c, plan.Options{PlanDir: filepath.Dir(arg), AllowCrossTenant: o.allowCrossTenant, SkipInvalid: o.skipInvalid, CreatedAt: o.created,
		Spill: spill, KeepCanonical: true})
	if err != nil {
		return nil, "", nil, nil, err
	}
	o.encryption = c.Encryption
	return p, c.SourceDir, base, protected(c, "", arg), nil
}

// protected lists what a run reads and must never delete: the evidence
// source, the contract, the plan and the base bundle.
func protected(c *contract.Contract, planPath, contractPath string) []runner.Protected {
	ps := []runner.Protected{{What: "evidence source", Path: c.SourceDir}, {What: "contract", Path: contractPath}}
	if planPath != "" {
		ps = append(ps, runner.Protected{What: "plan", Path: planPath})
	}
	if c.BasePath != "" {
		ps = append(ps, runner.Protected{What: "base bundle", Path: c.BasePath})
	}
	return ps
}

type applyResult struct {
	Output  string `json:"output"`
	Files   int    `json:"files"`
	Added   int    `json:"added"`
	Changed int    `json:"changed"`
	Removed int    `json:"removed"`
}

func runApply(ctx context.Context, e *env, cmd *cobra.Command, o *runOptions) error {
	res, err := runner.ApplyDelta(ctx, o.applyDelta, o.base, o.output, o.force)
	if err != nil {
		return withRunHint(interrupted(ctx, err, "partial output"), o)
	}
	out := applyResult{Output: o.output, Files: res.Files, Added: res.Added, Changed: res.Changed, Removed: res.Removed}
	return printResult(e, cmd, out, func(w io.Writer) {
		fmt.Fprintf(w, "%s: mirror tree of %d files (%d added, %d changed, %d removed), checked against manifests/mirror.json\n",
			out.Output, out.Files, out.Added, out.Changed, out.Removed)
	})
}

// createEvents opens the --events file for a stream of JSON lines. It is
// written as the run goes (a reader may follow it), so it is not atomic;
// instead an existing file is kept unless --force is given, --force
// replaces only a regular file, and the file may not be the contract or
// plan being run.
func createEvents(path, input string, force bool) (*os.File, error) {
	if st, err := os.Stat(path); err == nil {
		if in, ierr := os.Stat(input); ierr == nil && os.SameFile(st, in) {
			return nil, exitcode.Usagef("--events %s is the contract or plan being run", path)
		}
	}
	flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL | syscall.O_NOFOLLOW
	if force {
		if err := safefile.Replaceable(path); err != nil {
			return nil, err
		}
		flag = os.O_WRONLY | os.O_CREATE | os.O_TRUNC | syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil, &atomicfile.ExistsError{Path: path}
	}
	if err != nil {
		return nil, fmt.Errorf("create events file: %w", err)
	}
	return f, nil
}
