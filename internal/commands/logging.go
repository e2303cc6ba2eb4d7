package commands

import (
	"context"
	"log/slog"
	"os"
	"slices"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// logOptions are the structured log flags (docs/operations.md#logs).
// Logs are off unless --log-format or --log-level is given; they go to
// stderr, stdout keeps the result.
type logOptions struct {
	format        string
	level         string
	correlationID string
}

var (
	logFormats = []string{"text", "json"}
	logLevels  = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
)

func (o *logOptions) addFlags(pf *pflag.FlagSet) {
	pf.StringVar(&o.format, "log-format", "", "write structured logs to stderr: text or json (default with --log-level: text on a terminal, else json)")
	pf.StringVar(&o.level, "log-level", "", "log records at this level and above: debug, info, warn, error (default with --log-format: info)")
	pf.StringVar(&o.correlationID, "correlation-id", "", "correlation id of the logs and of notification metadata (also $"+EnvPrefix+"CORRELATION_ID)")
}

func (o *logOptions) validate() error {
	if o.format != "" && !slices.Contains(logFormats, o.format) {
		return exitcode.Usagef("--log-format %q: want text or json", o.format)
	}
	if _, ok := logLevels[o.level]; o.level != "" && !ok {
		return exitcode.Usagef("--log-level %q: want debug, info, warn or error", o.level)
	}
	if o.correlationID != "" {
		if err := safefile.CheckToken("--correlation-id", o.correlationID); err != nil {
			return exitcode.WithCode(exitcode.Usage, err)
		}
	}
	return nil
}

// logger returns the logger the flags ask for: a discarding one when logs
// are off.
func (e *env) logger() *slog.Logger {
	o := e.global.log
	if o.format == "" && o.level == "" {
		return slog.New(slog.DiscardHandler)
	}
	format := o.format
	if format == "" {
		format = "json"
		if f, ok := e.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	level := slog.LevelInfo
	if o.level != "" {
		level = logLevels[o.level]
	}
	hopt := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if format == "json" {
		h = slog.NewJSONHandler(e.stderr, hopt)
	} else {
		h = slog.NewTextHandler(e.stderr, hopt)
	}
	return slog.New(h)
}

// runLog writes the records of one export: every record carries run_id,
// tenant, profile_kind, adapter, phase, correlation_id and error_code
// (empty when not known or not applicable).
type runLog struct {
	l                      *slog.Logger
	runID, tenant, profile string
	correlationID, adapter string
	phase                  string // the phase of the last record
}

func newRunLog(e *env, runID string) *runLog {
	return &runLog{l: e.logger(), runID: runID, correlationID: e.global.log.correlationID}
}

// identify sets the run's tenant and profile, and its run id unless one
// was given.
func (r *runLog) identify(runID, tenant, profile string) {
	if r.runID == "" {
		r.runID = runID
	}
	r.tenant, r.profile = tenant, profile
}

func (r *runLog) log(level slog.Level, phase, adapter, code, msg string, attrs ...slog.Attr) {
	r.phase = phase
	base := []slog.Attr{slog.String("run_id", r.runID), slog.String("tenant", r.tenant), slog.String("profile_kind", r.profile),
		slog.String("adapter", adapter), slog.String("phase", phase), slog.String("correlation_id", r.correlationID),
		slog.String("error_code", code)}
	r.l.LogAttrs(context.Background(), level, msg, append(base, attrs...)...)
}

// info logs a step of phase.
func (r *runLog) info(phase, msg string, attrs ...slog.Attr) {
	r.log(slog.LevelInfo, phase, "", "", msg, attrs...)
}

// fail logs err in the phase the run was in, with its stable code.
func (r *runLog) fail(err error) {
	phase := r.phase
	if phase == "" {
		phase = "plan"
	}
	r.log(slog.LevelError, phase, r.adapter, exitcode.Name(err), oneLine(err.Error()), slog.Int("exit", exitcode.For(err)))
}

// hook turns the run's events into records of the adapter, manifest and
// package phases.
func (r *runLog) hook(kind string, f map[string]any) {
	adapter, _ := f["adapter"].(string)
	switch kind {
	case "run.state":
		switch f["state"] {
		case "running":
			r.info("adapter", "running the profile's adapters")
		case "manifest":
			r.adapter = ""
			r.info("manifest", "writing provenance.json and export.json")
		case "packaging":
			r.info("package", "writing the bundle", slog.Any("output", f["output"]))
		}
	case "adapter.start":
		r.adapter = adapter
		r.log(slog.LevelInfo, "adapter", adapter, "", "adapter started")
	case "adapter.complete":
		r.log(slog.LevelInfo, "adapter", adapter, "", "adapter completed", slog.Any("output", f["output"]))
	case "adapter.error":
		r.adapter = adapter
		r.phase = "adapter"
	}
}
