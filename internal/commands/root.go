// Package commands wires stella-export's cobra commands: flags become an
// options struct, the options are validated before anything runs, and the
// work is done by the internal packages. Only this package imports cobra
// and viper.
package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/partial"
	"github.com/stella-ops/stella-export/internal/portable"
	runner "github.com/stella-ops/stella-export/internal/run"
)

// env is what every command gets from Main instead of globals.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	global         *globalOptions
	// now is the wall clock, for what measures time (--metrics-file,
	// logs), never for an export's bytes.
	now func() time.Time
}

// globalOptions are the flags every command has.
type globalOptions struct {
	config string
	quiet  bool
	json   bool
	log    logOptions // logging.go
}

// hinted errors carry one line of advice printed after the error.
type hintError struct {
	err  error
	hint string
}

func (h *hintError) Error() string { return h.err.Error() }
func (h *hintError) Unwrap() error { return h.err }

func withHint(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &hintError{err: err, hint: fmt.Sprintf(format, args...)}
}

// Main runs stella-export with args and returns the process exit code.
// ctx's cancellation cause (exitcode.ErrInterrupted or ErrTerminated)
// decides the code of an interrupted run.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(ctx, args, stdin, stdout, stderr, lookupEnv)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, global: &globalOptions{}, now: time.Now}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	// From here on the command reports its own result; a forced exit
	// (see SignalContext) no longer cuts in.
	partial.From(ctx).Close()
	if err == nil {
		return exitcode.OK
	}
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil && exitcode.For(err) != exitcode.For(cause) {
		err = exitcode.WithCode(exitcode.For(cause), err)
	}
	if !ranCommand(cmd) && exitcode.For(err) == exitcode.IO {
		// cobra's own errors: unknown command or flag, wrong arguments.
		err = exitcode.WithCode(exitcode.Usage, err)
	}
	return report(e, cmd, err)
}

// report prints err as one line (plus an optional hint) and returns its code.
func report(e *env, cmd *cobra.Command, err error) int {
	code := exitcode.For(err)
	msg := oneLine(err.Error())
	name := "stella-export"
	if cmd != nil && cmd != cmd.Root() {
		name += ": " + cmd.Name()
	}
	fmt.Fprintf(e.stderr, "%s: %s\n", name, msg)
	var h *hintError
	if errors.As(err, &h) && h.hint != "" {
		fmt.Fprintf(e.stderr, "stella-export: hint: %s\n", h.hint)
	} else if r := remedy(err); r != "" {
		fmt.Fprintf(e.stderr, "stella-export: hint: %s\n", r)
	} else if code == exitcode.Usage && cmd != nil {
		fmt.Fprintf(e.stderr, "stella-export: hint: see '%s --help'\n", cmd.CommandPath())
	}
	if e.global.json && !jsonWritten(cmd) {
		file, pos := errorLocation(err)
		b, jerr := canonjson.MarshalLine(jsonError{Code: exitcode.Name(err), Exit: code, Message: msg, File: file, Position: pos})
		if jerr == nil {
			e.stdout.Write(b)
		}
	}
	return code
}

// jsonError is a failure with --json: its stable code (internal/exitcode's
// table), exit code, message, and where known the file and the position in
// it (line:column of a contract mistake), else empty strings.
type jsonError struct {
	Code     string `json:"code"`
	Exit     int    `json:"exit"`
	Message  string `json:"message"`
	File     string `json:"file"`
	Position string `json:"position"`
}

// errorLocation returns the file an error is about and the position in it.
func errorLocation(err error) (file, pos string) {
	var fe *contract.FieldError
	var ce *runner.ChangedError
	var xe *atomicfile.ExistsError
	var re *runner.ReplaceError
	var pf *portable.FailedError
	var pm *portable.MarkedFailedError
	switch {
	case errors.As(err, &fe):
		file = fe.File
		if fe.Line > 0 {
			pos = fmt.Sprintf("%d:%d", fe.Line, fe.Column)
		}
	case errors.As(err, &ce):
		file = ce.Path
	case errors.As(err, &xe):
		file = xe.Path
	case errors.As(err, &re):
		file = re.Path
	case errors.As(err, &pf):
		file = pf.Marker
	case errors.As(err, &pm):
		file = pm.Marker
	}
	return file, pos
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

const annRan = "stella-export/ran"
const annJSON = "stella-export/json-written"

func markRan(cmd *cobra.Command) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[annRan] = "1"
}

func ranCommand(cmd *cobra.Command) bool { return cmd != nil && cmd.Annotations[annRan] == "1" }

// markJSON records that the command already wrote its JSON result, so a
// failure does not add a second JSON document to stdout.
func markJSON(cmd *cobra.Command) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[annJSON] = "1"
}

func jsonWritten(cmd *cobra.Command) bool { return cmd != nil && cmd.Annotations[annJSON] == "1" }

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "stella-export",
		Short: "Plan, run, package, sign, verify and announce reproducible offline exports",
		Long: `stella-export makes offline (air-gapped) exports of security evidence: it
plans an export contract against an evidence source (plan), runs the plan
through the profile's adapters (run), packages directories and sealed
portable evidence bundles into bit-reproducible bundles (package), signs them
cosign-compatibly (sign), verifies bundles, signatures and inclusion proofs
offline (verify), and queues and delivers their ready notifications (emit).
A bundle is a sorted PAX tar.gz with checksums.txt and its RFC 6962 Merkle
root, verify-export.sh, README.md and export.json (docs/format.md). Only
'emit relay' opens network connections, to the receivers it is given, and
'publish --oci' and 'pull REF' to a registry, with --allow-network.

Configuration: flags win over STELLA_EXPORT_* environment variables (e.g.
STELLA_EXPORT_QUIET=true, STELLA_EXPORT_PACKAGE_LEVEL=9), which win over the
config file (--config, default $XDG_CONFIG_HOME/stella-export/config.yaml).`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			// From here on every error is classified by our own code; before
			// this point cobra refused the command line (exit 2).
			markRan(cmd)
			if err := applyConfig(e, cmd); err != nil {
				return err
			}
			if e.global.json && e.global.quiet {
				return exitcode.Usagef("--json and --quiet: pick one")
			}
			return e.global.log.validate()
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return exitcode.WithCode(exitcode.Usage, err)
	})
	pf := root.PersistentFlags()
	pf.StringVar(&e.global.config, "config", "", "config file (default $XDG_CONFIG_HOME/stella-export/config.yaml)")
	pf.BoolVarP(&e.global.quiet, "quiet", "q", false, "print nothing on success; errors still go to stderr")
	pf.BoolVar(&e.global.json, "json", false, "print results (and errors) as canonical JSON on stdout")
	e.global.log.addFlags(pf)
	root.AddCommand(newPlanCmd(e), newRunCmd(e), newPackageCmd(e), newVerifyCmd(e), newEmitCmd(e), newSignCmd(e), newKeysCmd(e), newDecryptCmd(e), newPublishCmd(e), newPullCmd(e), newPurgeCmd(e), newServeCmd(e), newLogCmd(e), newVersionCmd(e), newExitCodesTopic())
	return root
}
