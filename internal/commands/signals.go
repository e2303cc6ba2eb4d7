package commands

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/partial"
)

// ForceExitAfter is how long a command has to stop by itself after the
// first SIGINT or SIGTERM. A command that is still running then (stuck in
// a read that does not return, such as a terminal or a hung file system),
// or a second signal at any time, makes the process remove every partial
// output it tracks, print one line and exit 130 or 143 at once.
const ForceExitAfter = 5 * time.Second

// SignalContext returns a context cancelled by the first SIGINT or SIGTERM,
// with exitcode.ErrInterrupted or exitcode.ErrTerminated as its cause, so
// that the command cleans up and exits 130 or 143. The context carries a
// partial.Set: what commands track there is removed by a forced exit (a
// second signal, or ForceExitAfter after the first), which prints one line
// to stderr. Call stop when the command has returned.
func SignalContext(parent context.Context, stderr io.Writer) (context.Context, func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, stop := signalContext(parent, sigs, stderr, ForceExitAfter, os.Exit)
	return ctx, func() {
		signal.Stop(sigs)
		stop()
	}
}

// signalContext is SignalContext with the signals, the grace period and
// the exit function given, for tests.
func signalContext(parent context.Context, sigs <-chan os.Signal, stderr io.Writer, grace time.Duration, exit func(int)) (context.Context, func()) {
	ctx, set := partial.NewContext(parent)
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var cause error
		select {
		case s := <-sigs:
			cause = exitcode.ErrInterrupted
			if s == syscall.SIGTERM {
				cause = exitcode.ErrTerminated
			}
			cancel(cause)
		case <-done:
			return
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		var why string
		select {
		case <-sigs:
			why = "second signal"
		case <-t.C:
			why = fmt.Sprintf("still running %s after the signal", grace)
		case <-done:
			return
		}
		set.Abandon(func(removed []string) {
			msg := fmt.Sprintf("stella-export: %v: %s; forced exit", cause, why)
			if len(removed) > 0 {
				msg += ", removed partial output " + strings.Join(removed, ", ")
			}
			fmt.Fprintln(stderr, msg)
			exit(exitcode.For(cause))
		})
	}()
	return ctx, func() {
		set.Close()
		close(done)
		<-finished
		cancel(nil)
	}
}
