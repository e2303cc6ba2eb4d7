package commands

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/partial"
)

// lockedBuffer is a bytes.Buffer safe for the signal goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestForcedExit plays a command stuck after the first signal: one signal
// and the grace period, or two signals, remove the tracked partial output,
// print one line and exit 130/143; a command that stops in time is left
// alone.
func TestForcedExit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sigs   []os.Signal
		grace  time.Duration
		code   int
		stderr string
	}{
		{"sigterm then grace", []os.Signal{syscall.SIGTERM}, 20 * time.Millisecond, exitcode.Terminated,
			"stella-export: terminated: still running 20ms after the signal; forced exit, removed partial output "},
		{"sigint then grace", []os.Signal{os.Interrupt}, 20 * time.Millisecond, exitcode.Interrupted,
			"stella-export: interrupted: still running 20ms after the signal; forced exit, removed partial output "},
		{"two signals", []os.Signal{syscall.SIGTERM, os.Interrupt}, time.Hour, exitcode.Terminated,
			"stella-export: terminated: second signal; forced exit, removed partial output "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := filepath.Join(t.TempDir(), ".out.tgz.1.partial")
			if err := os.WriteFile(tmp, []byte("half"), 0o644); err != nil {
				t.Fatal(err)
			}
			sigs := make(chan os.Signal, 2)
			var stderr lockedBuffer
			exited := make(chan int, 1)
			ctx, stop := signalContext(context.Background(), sigs, &stderr, tc.grace, func(code int) { exited <- code })
			partial.Track(ctx, tmp)
			for _, s := range tc.sigs {
				sigs <- s
			}
			select {
			case code := <-exited:
				if code != tc.code {
					t.Errorf("exit %d, want %d", code, tc.code)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no forced exit within 10s")
			}
			if !errors.Is(context.Cause(ctx), map[int]error{130: exitcode.ErrInterrupted, 143: exitcode.ErrTerminated}[tc.code]) {
				t.Errorf("cause %v", context.Cause(ctx))
			}
			if _, err := os.Lstat(tmp); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("partial output left: %v", err)
			}
			want := tc.stderr + tmp + "\n"
			if got := stderr.String(); got != want {
				t.Errorf("stderr %q, want %q", got, want)
			}
			stop()
		})
	}
	t.Run("stopped in time", func(t *testing.T) {
		sigs := make(chan os.Signal, 2)
		var stderr lockedBuffer
		exited := make(chan int, 1)
		ctx, stop := signalContext(context.Background(), sigs, &stderr, 50*time.Millisecond, func(code int) { exited <- code })
		tmp := filepath.Join(t.TempDir(), "kept")
		os.WriteFile(tmp, nil, 0o644)
		partial.Track(ctx, tmp)
		sigs <- syscall.SIGTERM
		<-ctx.Done()
		stop() // the command returned and reported
		time.Sleep(100 * time.Millisecond)
		select {
		case code := <-exited:
			t.Errorf("forced exit %d after the command stopped", code)
		default:
		}
		if stderr.String() != "" {
			t.Errorf("stderr %q", stderr.String())
		}
		if _, err := os.Lstat(tmp); err != nil {
			t.Errorf("removed a path after the command stopped: %v", err)
		}
	})
}

// TestUntracked checks that a committed output is not removed by a forced
// exit.
func TestUntracked(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	var stderr lockedBuffer
	exited := make(chan int, 1)
	ctx, stop := signalContext(context.Background(), sigs, &stderr, time.Hour, func(code int) { exited <- code })
	defer stop()
	out := filepath.Join(t.TempDir(), "done.tgz")
	os.WriteFile(out, nil, 0o644)
	partial.Track(ctx, out)()
	sigs <- os.Interrupt
	sigs <- os.Interrupt
	if code := <-exited; code != exitcode.Interrupted {
		t.Errorf("exit %d", code)
	}
	if _, err := os.Lstat(out); err != nil {
		t.Errorf("committed output removed: %v", err)
	}
	if got := stderr.String(); got != "stella-export: interrupted: second signal; forced exit\n" || strings.Count(got, "\n") != 1 {
		t.Errorf("stderr %q", got)
	}
}
