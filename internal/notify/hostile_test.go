//go:build unix

package notify

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// TestRelayNonRegularPending: a pending entry named like a payload that is
// a symbolic link (even to a valid payload), a FIFO or a directory is
// refused and reported (exit 3), without blocking, and left in place; the
// other entries are delivered.
func TestRelayNonRegularPending(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, path string, body []byte)
		kind string
	}{
		{"symlink", func(t *testing.T, path string, body []byte) {
			target := filepath.Join(t.TempDir(), "payload.json")
			if err := os.WriteFile(target, body, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link"},
		{"fifo", func(t *testing.T, path string, _ []byte) {
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "FIFO"},
		{"directory", func(t *testing.T, path string, _ []byte) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			o, keys := fill(t, 1)
			_, srv := newReceiver(t, clock, o, keys, func(string, int) int { return 200 })
			p := testPayload(7)
			body, _ := p.Bytes()
			path := o.Path(StatePending, p.Key())
			tc.make(t, path, body)
			type result struct {
				res *RelayResult
				err error
			}
			done := make(chan result, 1)
			go func() {
				res, err := relayWith(t, o, srv.URL, clock)
				done <- result{res, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("relay blocked for 10s")
			}
			var nr *safefile.NotRegularError
			if exitcode.For(r.err) != exitcode.Invalid || !errors.As(r.err, &nr) || nr.Kind != tc.kind || !strings.Contains(r.err.Error(), path) {
				t.Fatalf("%v (exit %d), want a %s refused with exit 3", r.err, exitcode.For(r.err), tc.kind)
			}
			if len(r.res.Sent) != 1 || len(r.res.Invalid) != 1 || r.res.Invalid[0] != path {
				t.Errorf("%+v", r.res)
			}
			if _, err := os.Lstat(path); err != nil {
				t.Errorf("refused entry moved: %v", err)
			}
		})
	}
}

// TestRelayLockSymlink: a symbolic link planted as relay.lock is refused
// (exit 3) instead of having its target truncated.
func TestRelayLockSymlink(t *testing.T) {
	clock := newFakeClock()
	o, keys := fill(t, 1)
	_, srv := newReceiver(t, clock, o, keys, func(string, int) int { return 200 })
	victim := filepath.Join(t.TempDir(), "victim.txt")
	if err := os.WriteFile(victim, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(o.Dir, LockName)); err != nil {
		t.Fatal(err)
	}
	_, err := relayWith(t, o, srv.URL, clock)
	var nr *safefile.NotRegularError
	if !errors.As(err, &nr) || nr.Kind != "symbolic link" || exitcode.For(err) != exitcode.Invalid {
		t.Fatalf("%v (exit %d), want the link refused with exit 3", err, exitcode.For(err))
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me\n" {
		t.Errorf("the link's target was changed: %q", b)
	}
}
