package commands

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// SignalContext returns a context cancelled by the first SIGINT or SIGTERM,
// with exitcode.ErrInterrupted or exitcode.ErrTerminated as its cause, so
// that the command cleans up and exits 130 or 143. A second signal kills
// the process the usual way.
func SignalContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			if s == syscall.SIGTERM {
				cancel(exitcode.ErrTerminated)
			} else {
				cancel(exitcode.ErrInterrupted)
			}
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}
