package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/notify"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/verify"
)

// SecretEnv holds the webhook signing secret when --secret-file is not given.
const SecretEnv = EnvPrefix + "WEBHOOK_SECRET"

type emitOptions struct {
	outbox      string
	artifactURI string
	expiresAt   string
	createdAt   string
	timeline    bool

	// resolved by validate
	created, expires time.Time
}

func (o *emitOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.outbox, "outbox", "", "outbox directory; the payload goes to OUTBOX/pending/<key>.json (required)")
	f.StringVar(&o.artifactURI, "artifact-uri", "", "artifact_uri; {exportId} and {bundleId} are filled in (default "+notify.DefaultArtifactURI+")")
	f.StringVar(&o.expiresAt, "expires-at", "", "expires_at, RFC 3339 (default: the bundle's expiresAtUtc (package --portable --retention-days), else omitted: receivers apply their retention)")
	f.StringVar(&o.createdAt, "created-at", "", "created_at, RFC 3339 (default: createdAtUtc of the bundle's export.json)")
	f.BoolVar(&o.timeline, "timeline", false, "also write the "+notify.TimelineType+" mirror to OUTBOX/timeline/<key>.json")
}

// parseWholeTime parses an RFC 3339 time with whole seconds, as every
// timestamp of a payload must be (docs/format.md#canonical-json).
func parseWholeTime(flag, s string) (time.Time, error) {
	t, err := parseTime(flag, s)
	if err != nil {
		return t, err
	}
	if t.Nanosecond() != 0 {
		return time.Time{}, exitcode.Usagef("%s: %q has a fraction of a second; payload times are whole seconds", flag, s)
	}
	return t, nil
}

func (o *emitOptions) validate(args []string) error {
	if len(args) != 1 {
		return exitcode.Usagef("want one bundle (export-portable-bundle-v1.tgz, or - for stdin), got %d arguments", len(args))
	}
	if o.outbox == "" {
		return exitcode.Usagef("--outbox DIR is required")
	}
	if err := safefile.CheckToken("--artifact-uri", o.artifactURI); err != nil {
		return exitcode.WithCode(exitcode.Usage, err)
	}
	var err error
	if o.createdAt != "" {
		if o.created, err = parseWholeTime("--created-at", o.createdAt); err != nil {
			return err
		}
	}
	if o.expiresAt != "" {
		if o.expires, err = parseWholeTime("--expires-at", o.expiresAt); err != nil {
			return err
		}
	}
	return nil
}

func newEmitCmd(e *env) *cobra.Command {
	o := &emitOptions{}
	cmd := &cobra.Command{
		Use:   "emit BUNDLE.tgz --outbox DIR",
		Short: "Queue the export.airgap.ready.v1 notification of a portable export; relay it later",
		Long: `emit verifies a portable evidence export (export-portable-bundle-v1.tgz, made
by package --portable) and writes its export.airgap.ready.v1 notification,
canonical JSON, to OUTBOX/pending/<key>.json. Nothing is sent: on a
disconnected machine the outbox is carried out, and 'emit relay' delivers it
on the connected side. The key is the lowercase hex SHA-256 of
"<type>\n<export_id>\n<artifact_sha256>".

The payload comes from the bundle and the flags only: root_hash is the
bundle's Merkle root (what verify prints), artifact_sha256 the SHA-256 of
the file, created_at is --created-at or export.json's createdAtUtc. A bundle
that does not verify is refused (exit 1), one that is not an airgap-evidence
export too (exit 3). Emitting the same export again changes nothing and
prints the existing key; a different payload for the same key exits 5.

See docs/notifications.md for the payload, the headers, the signature, the
retries and the dead-letter queue.`,
		Example: `  stella-export emit out/export-portable-bundle-v1.tgz --outbox outbox --expires-at 2026-11-20T00:00:00Z
  stella-export emit relay --outbox outbox --nats nats://127.0.0.1:4222
  STELLA_EXPORT_WEBHOOK_SECRET=... stella-export emit relay --outbox outbox --webhook https://hooks.example/stella --allow-webhooks`,
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.validate(args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			return runEmit(cmd.Context(), e, cmd, o, args[0])
		},
	}
	o.addFlags(cmd)
	cmd.AddCommand(newRelayCmd(e), newCheckSignatureCmd(e))
	return cmd
}

func runEmit(ctx context.Context, e *env, cmd *cobra.Command, o *emitOptions, path string) error {
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
	p, _, err := notify.Announce(ctx, r, path, notify.BuildOptions{
		ArtifactURI: o.artifactURI, CreatedAt: o.created, ExpiresAt: o.expires,
	}, e.global.log.correlationID)
	var failed *verify.FailedError
	var profile *notify.ProfileError
	var expiry *notify.ExpiryError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", path, exitcode.Cause(ctx, err))
	case errors.As(err, &failed):
		return withHint(err, "the bundle does not verify, so it is not announced; see: stella-export verify %s", path)
	case errors.As(err, &expiry):
		return exitcode.WithCode(exitcode.Usage, replacePart(err, expiry, fmt.Sprintf("--expires-at %s is not after created_at %s", expiry.ExpiresAt, expiry.CreatedAt)))
	case errors.As(err, &profile):
		return withHint(err, "announce a run bundle (stella-export run CONTRACT -o OUTDIR --package OUT.tgz) or a portable evidence export (stella-export package --portable portable-bundle-v1.tgz --bundle-id B --export-id E --tenant T -o OUTDIR)")
	default:
		return err
	}
	var res *notify.EmitResult
	if pp, ok := p.(*notify.Payload); ok {
		res, err = notify.Outbox{Dir: o.outbox}.Emit(ctx, pp, o.timeline)
	} else if o.timeline {
		return exitcode.Usagef("--timeline: %s is a run bundle; the timeline mirror is of %s only", path, notify.EventType)
	} else {
		res, err = notify.Outbox{Dir: o.outbox}.Queue(ctx, p)
	}
	var conflict *notify.ConflictError
	if errors.As(err, &conflict) {
		return withHint(err, "a notification is emitted once per export and artifact (the key covers type, export_id and artifact_sha256); remove %s first to announce other values", conflict.Path)
	}
	if err != nil {
		return err
	}
	return printResult(e, cmd, res, func(w io.Writer) {
		if res.Unchanged {
			fmt.Fprintf(w, "%s unchanged: already in %s\n", res.Key, res.Path)
		} else {
			fmt.Fprintf(w, "%s written to %s\n", res.Key, res.Path)
		}
		if res.Timeline != "" {
			fmt.Fprintf(w, "%s timeline mirror %s\n", res.Key, res.Timeline)
		}
	})
}

type relayOptions struct {
	outbox        string
	webhook       string
	secretFile    string
	allowWebhooks bool
	nats          string
	retryBase     time.Duration
	timeout       time.Duration
	wait          time.Duration
	deadline      time.Duration
	dlqRetry      bool
}

func (o *relayOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.outbox, "outbox", "", "outbox directory written by emit (required)")
	f.StringVar(&o.webhook, "webhook", "", "POST every entry to this http(s) URL, HMAC-signed (needs --allow-webhooks and a secret)")
	f.StringVar(&o.secretFile, "secret-file", "", "file holding the webhook signing secret (default $"+SecretEnv+")")
	f.BoolVar(&o.allowWebhooks, "allow-webhooks", false, "allow --webhook; off by default (air gap)")
	f.StringVar(&o.nats, "nats", "", "publish every entry to JetStream on this server, e.g. nats://127.0.0.1:4222")
	f.DurationVar(&o.retryBase, "retry-base", time.Second, "base of the waits between attempts: 1, 2, 4 and 8 times it")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "time limit of one delivery attempt")
	f.DurationVar(&o.wait, "wait", 0, "wait this long for another relay to release the outbox (default: exit 5 at once)")
	f.DurationVar(&o.deadline, "deadline", 0, "stop after this long in all, leaving what was not delivered in pending/, and exit 6 (default: no limit)")
	f.BoolVar(&o.dlqRetry, "dlq-retry", false, "move dead letters back to pending/ first (then deliver, if a receiver is given)")
}

const enableWebhooksHint = "webhooks are off by default (air gap); enable them with --allow-webhooks (or allow-webhooks: true in the config) and a signing secret in --secret-file FILE or $" + SecretEnv

func (o *relayOptions) validate(e *env, args []string) error {
	if len(args) != 0 {
		return exitcode.Usagef("relay takes no arguments, got %q", args)
	}
	if o.outbox == "" {
		return exitcode.Usagef("--outbox DIR is required")
	}
	if o.webhook != "" {
		if !o.allowWebhooks {
			return withHint(exitcode.Usagef("--webhook: webhooks are disabled"), enableWebhooksHint)
		}
		if o.secretFile == "" && e.getenv(SecretEnv) == "" {
			return withHint(exitcode.Usagef("--webhook: no signing secret"), enableWebhooksHint)
		}
	}
	if o.webhook == "" && o.nats == "" && !o.dlqRetry {
		return withHint(exitcode.Usagef("nothing to deliver to"), "give --webhook URL and/or --nats URL (or --dlq-retry to only requeue dead letters)")
	}
	if o.retryBase <= 0 || o.timeout <= 0 || o.wait < 0 || o.deadline < 0 {
		return exitcode.Usagef("--retry-base and --timeout must be positive, --wait and --deadline not negative")
	}
	// A URL that can never work is a usage error now, not five failed
	// attempts and a dead letter later.
	if o.webhook != "" {
		if _, err := notify.CheckURL(notify.WebhookOption, o.webhook, notify.WebhookSchemes); err != nil {
			return flagged(err, relayFlags)
		}
	}
	if o.nats != "" {
		if _, err := notify.CheckURL(notify.NATSOption, o.nats, notify.NATSSchemes); err != nil {
			return flagged(err, relayFlags)
		}
	}
	return nil
}

// relayFlags are the flags behind the options notify's errors name.
var relayFlags = map[string]string{notify.WebhookOption: "--webhook", notify.NATSOption: "--nats", "RetryBase": "--retry-base"}

func newRelayCmd(e *env) *cobra.Command {
	o := &relayOptions{}
	cmd := &cobra.Command{
		Use:   "relay --outbox DIR [--webhook URL --allow-webhooks] [--nats URL]",
		Short: "Deliver the outbox: signed webhooks and/or NATS, with retries and a dead-letter queue",
		Long: `relay delivers every OUTBOX/pending entry to the webhook and/or the NATS
server, and moves it to OUTBOX/sent/ once every receiver accepted it (at
least once: a relay killed at any moment re-sends on its next run, and
receivers deduplicate by key or Nats-Msg-Id).

An entry is tried at most 5 times, with waits of 1, 2, 4 and 8 times
--retry-base between attempts; a 4xx other than 408 and 429 is permanent.
Entries that fail go to OUTBOX/dlq/<key>.json with reason, last_status,
attempts and last_attempt_at (and to export.airgap.ready.dlq over NATS), and
the relay exits 6 after delivering everything else. --dlq-retry moves them
back to pending/.

Webhooks are off unless --allow-webhooks and a secret (--secret-file or
$STELLA_EXPORT_WEBHOOK_SECRET) are given. One relay per outbox: a second one
exits 5 at once, or waits up to --wait. --deadline bounds the whole run:
when it passes, what was not delivered stays in pending/ and the relay exits 6.
Receiver URLs are checked before anything is read (exit 2). A pending entry
that is not a regular file, is larger than 16 MiB or is not a payload is
left in place and reported (exit 3, after delivering the others).`,
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.validate(e, args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			return runRelay(cmd.Context(), e, cmd, o)
		},
	}
	o.addFlags(cmd)
	return cmd
}

// DeadlineError says the relay's --deadline passed (exit 6); what was not
// delivered stays in pending/.
type DeadlineError struct{ Deadline time.Duration }

func (d *DeadlineError) Error() string { return fmt.Sprintf("--deadline %s passed", d.Deadline) }

func (d *DeadlineError) Unwrap() error { return exitcode.ErrDelivery }

func runRelay(ctx context.Context, e *env, cmd *cobra.Command, o *relayOptions) error {
	if o.deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.deadline, &DeadlineError{Deadline: o.deadline})
		defer cancel()
	}
	var transports []notify.Transport
	defer func() {
		for _, t := range transports {
			t.Close()
		}
	}()
	if o.webhook != "" {
		secret, err := readSecret(e, o.secretFile)
		if err != nil {
			return err
		}
		w, err := notify.NewWebhook(o.webhook, secret, o.timeout, time.Now)
		if err != nil {
			return flagged(err, relayFlags)
		}
		transports = append(transports, w)
	}
	if o.nats != "" {
		n, err := notify.NewNATS(o.nats, o.timeout)
		if err != nil {
			return flagged(err, relayFlags)
		}
		transports = append(transports, n)
	}
	cfg := notify.RelayConfig{
		Outbox: notify.Outbox{Dir: o.outbox}, Transports: transports,
		RetryBase: o.retryBase, LockWait: o.wait, DLQRetry: o.dlqRetry,
		Now: time.Now, Sleep: notify.SleepContext,
	}
	if !e.global.quiet {
		cfg.Log = func(msg string) { fmt.Fprintf(e.stderr, "stella-export: relay: %s\n", msg) }
	}
	res, err := notify.Relay(ctx, cfg)
	err = flagged(err, relayFlags)
	if res != nil {
		perr := printResult(e, cmd, res, func(w io.Writer) {
			s := fmt.Sprintf("%d sent, %d dead-lettered", len(res.Sent), len(res.DeadLettered))
			if o.dlqRetry {
				s += fmt.Sprintf(", %d requeued from dlq", len(res.Requeued))
			}
			if len(res.Invalid) > 0 {
				s += fmt.Sprintf(", %d invalid left in pending", len(res.Invalid))
			}
			fmt.Fprintln(w, s)
		})
		if err == nil {
			return perr
		}
		// JSON lines: the summary, then the error object with its code.
		delete(cmd.Annotations, annJSON)
	}
	var locked *notify.LockedError
	var dead *notify.DeadLetteredError
	switch {
	case errors.As(err, &locked):
		return withHint(err, "wait for that relay to finish, or pass --wait 10m to queue behind it")
	case errors.As(err, &dead):
		return withHint(err, "see %s, fix the receiver, then requeue with: stella-export emit relay --outbox %s --dlq-retry ...", filepath.Join(o.outbox, notify.StateDLQ)+string(filepath.Separator), o.outbox)
	}
	return err
}

// readSecret returns the webhook secret: the bytes of file (without trailing
// newlines, as $(cat file) gives them to openssl), else $STELLA_EXPORT_WEBHOOK_SECRET.
// The file must be a regular file of at most safefile.MaxSecret bytes; a
// file others can read gets a warning. A secret shorter than
// safefile.MinSecret bytes is refused (exit 3).
func readSecret(e *env, file string) ([]byte, error) {
	var secret []byte
	src := "$" + SecretEnv
	if file != "" {
		f, err := safefile.Open(file)
		if err != nil {
			return nil, fmt.Errorf("secret file: %w", err)
		}
		defer f.Close()
		if w := safefile.PrivateWarning(f, file); w != "" {
			warner(e)(w)
		}
		b, err := safefile.ReadFrom(f, file, safefile.MaxSecret)
		if err != nil {
			return nil, fmt.Errorf("secret file: %w", err)
		}
		secret, src = b, file
	} else {
		secret = []byte(e.getenv(SecretEnv))
	}
	secret = bytes.TrimRight(secret, "\r\n")
	hint := func(err error) error {
		if file == "" {
			return withHint(err, "pass --secret-file FILE or set $%s, e.g. to the output of openssl rand -hex 32", SecretEnv)
		}
		return withHint(err, "put the shared secret in it, e.g. openssl rand -hex 32 > %s", file)
	}
	switch {
	case len(secret) == 0:
		return nil, hint(exitcode.Invalidf("%s: the webhook secret is empty", src))
	case len(secret) < safefile.MinSecret:
		return nil, hint(exitcode.Invalidf("%s: the webhook secret is %d bytes; at least %d are required", src, len(secret), safefile.MinSecret))
	}
	return secret, nil
}

type checkSignatureOptions struct {
	secretFile string
	sentAt     string
	signature  string
	maxAge     time.Duration
}

func newCheckSignatureCmd(e *env) *cobra.Command {
	o := &checkSignatureOptions{}
	cmd := &cobra.Command{
		Use:   "check-signature --secret-file F --sent-at T --signature S < body",
		Short: "Verify a received webhook's X-Stella-Signature (exit 0 valid, 1 not)",
		Long: `check-signature recomputes HMAC-SHA256(secret, "<X-Stella-Sent-At>.<body>") over
the body read from stdin and compares it, in constant time, with the
X-Stella-Signature header value. Exit 0 when it matches, 1 when it does not.
With --max-age it also refuses a X-Stella-Sent-At further than that from
this machine's clock (a replayed request).`,
		Example: `  stella-export emit check-signature --secret-file secret --sent-at 2025-11-20T10:00:00Z \
    --signature sha256=5d1c... < body.json`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if o.sentAt == "" || o.signature == "" {
				return exitcode.Usagef("--sent-at and --signature are required (the X-Stella-Sent-At and X-Stella-Signature headers)")
			}
			if o.maxAge < 0 {
				return exitcode.Usagef("--max-age must not be negative")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			return runCheckSignature(e, cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.secretFile, "secret-file", "", "file holding the shared secret (default $"+SecretEnv+")")
	f.StringVar(&o.sentAt, "sent-at", "", "the X-Stella-Sent-At header, exactly as received")
	f.StringVar(&o.signature, "signature", "", "the X-Stella-Signature header, sha256=<hex>")
	f.DurationVar(&o.maxAge, "max-age", 0, "also refuse a sent-at further than this from now (default: not checked)")
	return cmd
}

// maxBody bounds the body check-signature reads.
const maxBody = 16 << 20

func runCheckSignature(e *env, cmd *cobra.Command, o *checkSignatureOptions) error {
	secret, err := readSecret(e, o.secretFile)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(e.stdin, maxBody+1))
	if err != nil {
		return fmt.Errorf("read body from stdin: %w", err)
	}
	if len(body) > maxBody {
		return exitcode.Invalidf("body on stdin is larger than %d bytes", maxBody)
	}
	if err := notify.CheckSignature(secret, o.sentAt, body, o.signature, o.maxAge, time.Now()); err != nil {
		return err
	}
	res := struct {
		OK     bool   `json:"ok"`
		SentAt string `json:"sentAt"`
	}{true, o.sentAt}
	return printResult(e, cmd, res, func(w io.Writer) {
		fmt.Fprintf(w, "OK signature matches (sent at %s)\n", o.sentAt)
	})
}
