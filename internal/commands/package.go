package commands

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/metrics"
	"github.com/stella-ops/stella-export/internal/notify"
	"github.com/stella-ops/stella-export/internal/partial"
	"github.com/stella-ops/stella-export/internal/portable"
	runner "github.com/stella-ops/stella-export/internal/run"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/tarball"
)

type packageOptions struct {
	output      string
	mtime       string
	createdAt   string
	exportID    string
	profile     string
	level       int
	force       bool
	followLinks bool
	signKey     string

	// portable evidence export v1 (docs/format.md#portable)
	portable     string
	bundleID     string
	tenant       string
	sourceURI    string
	expectSHA256 string
	layout       string
	acknowledge  bool
	retention    int
	metricsFile  string
	outbox       string

	// set with --layout objstore (without --portable)
	store *objstoreRun

	// resolved by validate
	modTime time.Time
	created time.Time

	logOnDone
}

func (o *packageOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "output .tgz (directory mode) or output directory (--portable)")
	f.StringVar(&o.mtime, "mtime", "", "pinned time of every entry, RFC 3339 (default $SOURCE_DATE_EPOCH, else 2025-01-01T00:00:00Z)")
	f.StringVar(&o.createdAt, "created-at", "", "createdAtUtc in export.json, RFC 3339 (default: the pinned time)")
	f.StringVar(&o.exportID, "export-id", "", "export id (default: exp- and 32 hex digits of the payload root)")
	f.StringVar(&o.profile, "profile", "", "profile recorded in export.json (default \"directory\"; \"airgap-evidence\" with --portable)")
	f.IntVar(&o.level, "level", tarball.DefaultLevel, "gzip level 1-9 (part of the reproducibility inputs)")
	f.BoolVar(&o.force, "force", false, "replace an existing output file")
	o.logOnDone.addFlags(cmd)
	f.BoolVar(&o.followLinks, "follow-links", false, "follow symbolic links and accept hard links in the input instead of refusing them")
	f.StringVar(&o.signKey, "sign-key", "", "sign export.json (and provenance.json, if the payload has one) inside the bundle with this key; see 'stella-export sign --help'")
	f.StringVar(&o.portable, "portable", "", "sealed portable evidence bundle to export (airgap-evidence profile)")
	f.StringVar(&o.bundleID, "bundle-id", "", "evidence bundle id (--portable)")
	f.StringVar(&o.tenant, "tenant", "", "tenant id (--portable)")
	f.StringVar(&o.sourceURI, "source-uri", "", "where the portable bundle came from (--portable; default /evidence/{bundleId}/portable)")
	f.StringVar(&o.expectSHA256, "expect-sha256", "", "expected SHA-256 of the portable bundle; a mismatch marks the export FAILED (--portable)")
	f.StringVar(&o.layout, "layout", portable.LayoutFlat, "output layout: flat, or objstore: -o names an object-store root and the bundle goes to exports/{tenant}/{exportId}/bundle.tgz, write once (with --portable: exports/{tenant}/{bundleId}/{exportId}/)")
	f.StringVar(&o.metricsFile, "metrics-file", "", metricsUsage+" (--portable)")
	f.IntVar(&o.retention, "retention-days", 0, "write expiresAtUtc, createdAtUtc plus this many days (1-36500), in export.json (--portable; default: no expiry)")
	f.StringVar(&o.outbox, "outbox", "", "queue notifications in this emit outbox: with --portable export.airgap.ready.v1 once the export completes (export.failed.v1 when it fails); with --layout objstore the distribution event")
	f.BoolVar(&o.acknowledge, "acknowledge-failure", false, "proceed with an export marked FAILED, keeping its marker as .failed.acknowledged (--portable)")
}

func parseTime(flag, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, exitcode.Usagef("%s: %q is not an RFC 3339 time such as 2025-01-01T00:00:00Z", flag, s)
	}
	return t.UTC(), nil
}

// pinnedTime resolves --mtime, then SOURCE_DATE_EPOCH, then the default.
func pinnedTime(e *env, flag string) (time.Time, error) {
	if flag != "" {
		return parseTime("--mtime", flag)
	}
	if s := e.getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, exitcode.Usagef("SOURCE_DATE_EPOCH: %q is not a non-negative number of seconds", s)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return tarball.DefaultModTime, nil
}

// exportTime resolves the export time the user gave: --created-at, else
// SOURCE_DATE_EPOCH; zero when neither is set, so that the plan chooses
// (plan.CreatedAt).
func exportTime(e *env, flag string) (time.Time, error) {
	if flag != "" {
		return parseTime("--created-at", flag)
	}
	if e.getenv("SOURCE_DATE_EPOCH") == "" {
		return time.Time{}, nil
	}
	return pinnedTime(e, "")
}

func (o *packageOptions) validate(e *env, cmd *cobra.Command, args []string) error {
	portableOnly := []string{"bundle-id", "tenant", "source-uri", "expect-sha256", "layout", "acknowledge-failure", "retention-days", "metrics-file", "outbox"}
	if o.portable == "" {
		if o.profile == manifest.ProfilePortable {
			return exitcode.Usagef("--profile %s needs --portable FILE (the sealed portable bundle)", manifest.ProfilePortable)
		}
		if err := checkLayout(o.layout); err != nil {
			return err
		}
		if o.layout == layoutObjstore {
			portableOnly = slices.DeleteFunc(slices.Clone(portableOnly), func(n string) bool { return n == "tenant" || n == "layout" || n == "outbox" })
			if o.force {
				return exitcode.Usagef("--force does not apply with --layout objstore (objects are written once)")
			}
			if o.tenant != "" {
				if err := checkID("--tenant", o.tenant); err != nil {
					return err
				}
			} else if len(args) == 1 && !runner.IsExportDir(args[0]) {
				return exitcode.Usagef("--layout objstore: a directory bundle has no tenant: give --tenant T (the prefix exports/T/EXPORT_ID/)")
			}
		} else if cmd.Flags().Changed("outbox") {
			return exitcode.Usagef("--outbox applies with --portable (the ready notification) or --layout objstore (the distribution event)")
		}
		for _, name := range portableOnly {
			if cmd.Flags().Changed(name) {
				return exitcode.Usagef("--%s only applies with --portable", name)
			}
		}
		if len(args) != 1 {
			return exitcode.Usagef("want one input directory, got %d arguments", len(args))
		}
		for _, id := range []struct{ flag, v string }{{"--export-id", o.exportID}, {"--profile", o.profile}} {
			if id.v != "" {
				if err := checkID(id.flag, id.v); err != nil {
					return err
				}
			}
		}
	} else {
		if o.profile != "" && o.profile != manifest.ProfilePortable {
			return exitcode.Usagef("--portable writes profile %s, not %q", manifest.ProfilePortable, o.profile)
		}
		if len(args) != 0 {
			return exitcode.Usagef("--portable takes no input directory argument")
		}
		if o.followLinks || o.force {
			return exitcode.Usagef("--follow-links and --force do not apply with --portable (outputs are write-once)")
		}
		if cmd.Flags().Changed("retention-days") && (o.retention < 1 || o.retention > 36500) {
			return exitcode.Usagef("--retention-days: %d is not a number of days from 1 to 36500; leave the flag out for no expiry", o.retention)
		}
		if err := checkMetricsFile(o.metricsFile); err != nil {
			return err
		}
		for _, id := range []struct{ flag, v string }{{"--bundle-id", o.bundleID}, {"--export-id", o.exportID}, {"--tenant", o.tenant}, {"--source-uri", o.sourceURI}} {
			if id.v == "" && id.flag != "--source-uri" {
				return exitcode.Usagef("%s is required with --portable", id.flag)
			}
			if err := safefile.CheckToken(id.flag, id.v); err != nil {
				return exitcode.WithCode(exitcode.Usage, err)
			}
		}
	}
	if o.output == "" {
		return exitcode.Usagef("-o/--output is required")
	}
	if o.output == "-" {
		// A bundle is written whole or not at all; on a pipe a failed or
		// interrupted package could not take back what it had sent.
		return exitcode.Usagef("-o -: package writes a file, not standard output (pipe the finished file instead)")
	}
	if o.level < 1 || o.level > 9 {
		return exitcode.Usagef("--level: %d is not in 1..9", o.level)
	}
	var err error
	o.modTime, o.created, err = bundleTimes(e, o.mtime, o.createdAt)
	return err
}

// checkID checks an id given as a flag: first its length, so that a huge
// value is refused without being echoed, then its form (exit 2).
func checkID(flag, v string) error {
	if err := safefile.CheckToken(flag, v); err != nil {
		return exitcode.WithCode(exitcode.Usage, err)
	}
	return exitcode.WithCode(exitcode.Usage, manifest.CheckID(flag, v))
}

// bundleTimes resolves --mtime (with SOURCE_DATE_EPOCH and the default)
// and --created-at (zero when not given).
func bundleTimes(e *env, mtime, createdAt string) (mod, created time.Time, err error) {
	if mod, err = pinnedTime(e, mtime); err != nil {
		return
	}
	if createdAt != "" {
		created, err = parseTime("--created-at", createdAt)
	}
	return
}

func newPackageCmd(e *env) *cobra.Command {
	o := &packageOptions{}
	cmd := &cobra.Command{
		Use:   "package DIR -o OUT.tgz | package --portable IN.tgz --bundle-id B --export-id E --tenant T -o OUTDIR",
		Short: "Bundle a directory, or a sealed portable evidence bundle, into a reproducible .tgz",
		Long: `package writes a bit-reproducible bundle (docs/format.md): the files of DIR
at the top of a sorted PAX tar.gz with pinned mtimes, plus checksums.txt (with
its RFC 6962 Merkle root), verify-export.sh, README.md and export.json.
Symbolic links, hard links and special files are refused unless
--follow-links; names that stella-export generates are refused in DIR.

With --portable (profile airgap-evidence, portable evidence export v1) it exports a sealed
portable evidence bundle as OUTDIR/export-portable-bundle-v1.tgz, copying the
input bit for bit. The input must be sealed (its checksums.txt root verifies)
or the command exits 5 (SealedRequired). Outputs are write-once: a re-run with
identical inputs is a no-op, different bytes exit 5. --expect-sha256 pins the
input digest: a mismatch keeps the artefact, writes a .failed status file
beside it, exits 1, and later runs exit 5 until --acknowledge-failure.`,
		Example: `  stella-export package staging/ -o export.tgz
  SOURCE_DATE_EPOCH=1735689600 stella-export package staging/ -o export.tgz --export-id exp-42
  stella-export package --portable portable-bundle-v1.tgz --bundle-id b1 --export-id e1 --tenant acme -o out/`,
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.validate(e, cmd, args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			if err := o.logOnDone.validate(o.output, o.force); err != nil {
				return err
			}
			if o.logOnDone.dir != "" && o.layout == layoutObjstore {
				return exitcode.Usagef("--log writes a receipt beside the bundle, and --layout objstore stores bundles write once: append the stored bundle with 'stella-export log append' instead")
			}
			var err error
			if o.portable != "" {
				err = runPortable(cmd.Context(), e, cmd, o)
			} else {
				if o.layout == layoutObjstore {
					st, serr := stageObjstore(o.output)
					if serr != nil {
						return serr
					}
					defer st.remove()
					o.store, o.output = st, st.staged
				}
				err = runPackage(cmd.Context(), e, cmd, o, args[0])
			}
			if err != nil {
				return err
			}
			_, err = o.logOnDone.append(cmd.Context(), e, o.output)
			return err
		},
	}
	o.addFlags(cmd)
	return cmd
}

type packageResult struct {
	Path         string `json:"path"`
	Key          string `json:"key,omitempty"`       // --layout objstore: the object key
	Unchanged    bool   `json:"unchanged,omitempty"` // --layout objstore: the same bytes were stored already
	Root         string `json:"root"`
	SHA256       string `json:"sha256"`
	ExportID     string `json:"exportId"`
	Files        int    `json:"files"`
	PayloadBytes int64  `json:"payloadBytes"`
	PayloadRoot  string `json:"payloadRoot"`
}

func runPackage(ctx context.Context, e *env, cmd *cobra.Command, o *packageOptions, dir string) error {
	partial.CleanStale(filepath.Dir(o.output))
	f, err := atomicfile.Create(o.output, o.force)
	if err != nil {
		return err
	}
	defer f.Abort()
	defer partial.Track(ctx, f.TempName())()
	signer, err := optionalSigner(e, o.signKey)
	if err != nil {
		return err
	}
	if runner.IsExportDir(dir) {
		return runPackageExport(ctx, e, cmd, o, dir, f, signer)
	}
	h := sha256.New()
	bar := newProgress(e)
	cfg := bundle.DirConfig{
		Dir: dir, FollowLinks: o.followLinks, Exclude: []string{f.TempName(), o.output}, Profile: o.profile, ExportID: o.exportID, CreatedAt: o.created,
		Options: bundle.Options{ModTime: o.modTime, Level: o.level, Progress: bar.asProgress(), Signer: signer,
			TempDir: filepath.Dir(f.TempName())},
	}
	res, err := bundle.WriteDir(ctx, io.MultiWriter(f, h), cfg)
	bar.finish()
	if err != nil {
		err = cleanupError(ctx, f, err)
		if errors.Is(err, bundle.ErrLink) {
			err = withHint(err, "pass --follow-links to package what links point to")
		}
		return err
	}
	if err := f.Commit(); err != nil {
		return err
	}
	exportID := o.exportID
	if exportID == "" {
		exportID = manifest.DerivedExportID(res.Payload.Root)
	}
	out := packageResult{Path: o.output, Root: res.Root.String(), SHA256: digest.Of(h).Hex(),
		ExportID: exportID, Files: res.Payload.Files, PayloadBytes: res.Payload.Bytes, PayloadRoot: res.Payload.Root.String()}
	created := o.created
	if created.IsZero() {
		created = o.modTime
	}
	if err := o.stored(ctx, &out, o.tenant, manifest.Timestamp(created), ""); err != nil {
		return err
	}
	return printResult(e, cmd, out, func(w io.Writer) {
		fmt.Fprintf(w, "%s: root %s (%d payload files, %d bytes)%s\n", out.Path, out.Root, out.Files, out.PayloadBytes, unchangedNote(out.Unchanged))
	})
}

// runPackageExport packages an export directory that run wrote (it holds
// export.json): the bundle run --package would have made, with the
// directory's files checked against export.json's payload root first.
func runPackageExport(ctx context.Context, e *env, cmd *cobra.Command, o *packageOptions, dir string, f *atomicfile.File, signer bundle.Signer) error {
	for _, name := range []string{"export-id", "profile", "created-at", "follow-links", "tenant"} {
		if cmd.Flags().Changed(name) {
			return exitcode.Usagef("--%s: %s is an export directory (it holds export.json), whose export.json is packaged as it is", name, dir)
		}
	}
	h := sha256.New()
	bar := newProgress(e)
	res, m, err := runner.PackageDir(ctx, io.MultiWriter(f, h), dir, runner.PackageOptions{ModTime: o.modTime, Level: o.level,
		Progress: bar.asProgress(), Signer: signer, TempDir: filepath.Dir(f.TempName()), Exclude: []string{f.TempName(), o.output}})
	bar.finish()
	if err != nil {
		return cleanupError(ctx, f, err)
	}
	if err := f.Commit(); err != nil {
		return err
	}
	out := packageResult{Path: o.output, Root: res.Root.String(), SHA256: digest.Of(h).Hex(),
		ExportID: m.ExportID, Files: res.Payload.Files, PayloadBytes: res.Payload.Bytes, PayloadRoot: res.Payload.Root.String()}
	if err := o.stored(ctx, &out, m.Tenant, m.CreatedAtUTC, m.ExpiresAtUTC); err != nil {
		return err
	}
	return printResult(e, cmd, out, func(w io.Writer) {
		fmt.Fprintf(w, "%s: root %s (%d payload files, %d bytes)%s\n", out.Path, out.Root, out.Files, out.PayloadBytes, unchangedNote(out.Unchanged))
	})
}

// stored puts the bundle just written into the object store, with
// --layout objstore, and points out at it.
func (o *packageOptions) stored(ctx context.Context, out *packageResult, tenant, created, expires string) error {
	if o.store == nil {
		return nil
	}
	if tenant == "" {
		return exitcode.Usagef("--layout objstore: a directory bundle has no tenant: give --tenant T (the prefix exports/T/%s/)", out.ExportID)
	}
	obj, err := o.store.store(ctx, tenant, out.ExportID, created, expires, o.outbox)
	if obj != nil {
		out.Path, out.Key, out.Unchanged = obj.Path, obj.Key, obj.Unchanged
	}
	return err
}

func unchangedNote(unchanged bool) string {
	if unchanged {
		return ", unchanged (identical object exists)"
	}
	return ""
}

// portableFlags are the flags that set portable.Config's fields.
var portableFlags = map[string]string{
	"Input": "--portable", "BundleID": "--bundle-id", "ExportID": "--export-id", "Tenant": "--tenant",
	"SourceURI": "--source-uri", "ExpectSHA256": "--expect-sha256", "Layout": "--layout", "OutDir": "-o",
	"RetentionDays": "--retention-days",
}

func runPortable(ctx context.Context, e *env, cmd *cobra.Command, o *packageOptions) (err error) {
	rec := newRecorder(e, o.metricsFile, metrics.KindPortable)
	var written int64
	defer func() { rec.finish(e, err, written) }()
	rec.begin(e, o.tenant, manifest.ProfilePortable)
	lg := newRunLog(e, o.exportID)
	lg.identify("", o.tenant, manifest.ProfilePortable)
	completed := false
	defer func() {
		if err == nil {
			return
		}
		lg.fail(err)
		if o.outbox != "" && !completed && ctx.Err() == nil {
			err = queueFailed(ctx, e, lg, o.outbox, notify.NewFailed(o.exportID, o.tenant, manifest.ProfilePortable, err, oneLine(err.Error()), e.global.log.correlationID), err)
		}
	}()
	signer, err := optionalSigner(e, o.signKey)
	if err != nil {
		return err
	}
	bar := newProgress(e)
	cfg := portable.Config{
		Input: o.portable, BundleID: o.bundleID, ExportID: o.exportID, Tenant: o.tenant,
		SourceURI: o.sourceURI, CreatedAt: o.created, ExpectSHA256: o.expectSHA256, OutDir: o.output,
		Layout: o.layout, AcknowledgeFailure: o.acknowledge, RetentionDays: o.retention,
		Options: bundle.Options{ModTime: o.modTime, Level: o.level, Progress: bar.asProgress(), Signer: signer},
	}
	res, err := portable.Export(ctx, cfg)
	var note string
	err = flagged(err, portableFlags)
	if err == nil {
		written = fileSize(res.Path)
		completed = true
		lg.info("package", "portable export completed", slog.String("exportId", o.exportID), slog.String("bundleId", o.bundleID),
			slog.String("portableVersion", manifest.PortableVersion), slog.String("rootHash", res.InputRoot),
			slog.String("path", res.Path), slog.Bool("unchanged", res.Unchanged))
		if o.outbox != "" {
			note, err = queuePortable(ctx, lg, o.outbox, res.Path)
		}
	}
	bar.finish()
	// A FAILED export (exit 1, artefact kept) prints no result: the error,
	// with --json {"code":"ExportFailed",...}, says what was kept.
	if res != nil && err == nil {
		perr := printResult(e, cmd, res, func(w io.Writer) {
			state := "written"
			if res.Unchanged {
				state = "unchanged (identical export exists)"
			}
			fmt.Fprintf(w, "%s: %s, root %s, sealed input root %s\n", res.Path, state, res.Root, res.InputRoot)
			if note != "" {
				fmt.Fprintf(w, "%s: %s queued\n", note, notify.EventType)
			}
		})
		if err == nil {
			return perr
		}
	}
	if err != nil {
		var sealed *portable.SealedRequiredError
		var marked *portable.MarkedFailedError
		switch {
		case asErr(err, &sealed):
			return withHint(err, "seal the bundle first (its checksums.txt root must verify): stella-export verify %s", o.portable)
		case asErr(err, &marked):
			return err
		}
	}
	return interrupted(ctx, err, "partial output")
}

// queuePortable queues the export.airgap.ready.v1 notification of the
// portable export at path, exactly as `emit path --outbox outbox` does.
func queuePortable(ctx context.Context, lg *runLog, outbox, path string) (string, error) {
	hint := func(err error) error {
		return withHint(fmt.Errorf("queue %s: %w", notify.EventType, err),
			"the export is complete; queue its notification with: stella-export emit %s --outbox %s", path, outbox)
	}
	f, err := safefile.Open(path)
	if err != nil {
		return "", hint(err)
	}
	defer f.Close()
	p, _, err := notify.FromBundle(ctx, f, path, notify.BuildOptions{})
	if err != nil {
		return "", hint(err)
	}
	q, err := notify.Outbox{Dir: outbox}.Emit(ctx, p, false)
	if err != nil {
		return "", hint(err)
	}
	lg.info("emit", "notification queued", slog.String("type", notify.EventType), slog.String("key", q.Key), slog.String("path", q.Path))
	return q.Path, nil
}

// cleanupError removes the partial output and says so.
func cleanupError(ctx context.Context, f *atomicfile.File, err error) error {
	f.Abort()
	if ctx.Err() != nil {
		return interrupted(ctx, err, "partial output "+f.TempName())
	}
	return fmt.Errorf("%w (no output written)", err)
}

func printResult(e *env, cmd *cobra.Command, v any, text func(io.Writer)) error {
	if e.global.json {
		b, err := canonjson.MarshalLine(v)
		if err != nil {
			return err
		}
		markJSON(cmd)
		_, err = e.stdout.Write(b)
		return err
	}
	if !e.global.quiet {
		text(e.stdout)
	}
	return nil
}
