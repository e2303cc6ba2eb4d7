package notify

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRelaySurvivesSIGKILL kills the real binary in the middle of a batch,
// once while a delivery is in flight and once during a retry wait, and
// restarts it: no entry is lost or left behind, the relay lock does not
// outlive the killed process, and the entry that was in flight is delivered
// again (at least once).
func TestRelaySurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "stella-export")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/stella-export")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, append(testSecret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name      string
		retryBase string
		// first run: answer request n (1-based, all keys); block means hang
		// until the test has killed the relay.
		first  func(n int) (code int, block bool)
		killAt int // kill once the receiver has seen this many requests
	}{
		{"during a delivery", "1ms", func(n int) (int, bool) { return 200, n == 3 }, 3},
		{"during a retry wait", "1h", func(int) (int, bool) { return 500, false }, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, keys := fill(t, 5)
			var (
				mu       sync.Mutex
				n        int
				phase    = 1
				seen     = map[string]int{}
				unacked  = map[string]bool{} // keys the first run sent but got no 2xx for
				reached  = make(chan struct{})
				released = make(chan struct{})
			)
			// The relay goes through keys in order; the last one is still
			// pending when the relay is killed, and fails for good later.
			permanent := slices.Max(keys)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body := make([]byte, 4096)
				m, _ := r.Body.Read(body)
				key := Key(EventType, between(string(body[:m]), `"export_id":"`, `"`), between(string(body[:m]), `"artifact_sha256":"`, `"`))
				mu.Lock()
				n++
				seen[key]++
				count, ph := n, phase
				mu.Unlock()
				if ph == 2 {
					if key == permanent {
						w.WriteHeader(http.StatusUnprocessableEntity)
						return
					}
					w.WriteHeader(http.StatusOK)
					return
				}
				code, block := tc.first(count)
				if block || code >= 300 {
					mu.Lock()
					unacked[key] = true
					mu.Unlock()
				}
				if count == tc.killAt {
					close(reached)
				}
				if block {
					select {
					case <-released:
					case <-r.Context().Done():
					case <-time.After(20 * time.Second):
					}
				}
				w.WriteHeader(code)
			}))
			defer srv.Close()
			defer close(released)

			relay := func() *exec.Cmd {
				return exec.Command(bin, "emit", "relay", "--outbox", o.Dir, "--webhook", srv.URL,
					"--secret-file", secretFile, "--allow-webhooks", "--retry-base", tc.retryBase)
			}
			cmd := relay()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-reached:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("the relay never reached request %d; stderr: %s", tc.killAt, stderr.String())
			}
			if tc.killAt == 5 {
				// Let the last answer of the round land before killing.
				time.Sleep(100 * time.Millisecond)
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != -1 {
				t.Fatalf("relay was not killed: %v; stderr: %s", err, stderr.String())
			}
			after := states(t, o, keys)
			for _, k := range keys {
				if st := after[k]; st != StatePending && st != StateSent {
					t.Errorf("after the kill %s is in %q", k, st)
				}
			}
			if leftovers, _ := filepath.Glob(filepath.Join(o.Dir, "*", ".*.partial")); len(leftovers) > 0 {
				t.Errorf("temporary files left: %v", leftovers)
			}

			mu.Lock()
			phase = 2
			mu.Unlock()
			out, err := relay().CombinedOutput()
			if !errors.As(err, &ee) || ee.ExitCode() != 6 {
				t.Fatalf("restarted relay: %v, want exit 6 for the one dead letter; output: %s", err, out)
			}
			final := states(t, o, keys)
			for _, k := range keys {
				want := StateSent
				if k == permanent {
					want = StateDLQ
				}
				if final[k] != want {
					t.Errorf("%s ended in %q, want %s", k, final[k], want)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(unacked) == 0 {
				t.Fatal("no delivery was interrupted")
			}
			for _, k := range keys {
				if seen[k] == 0 {
					t.Errorf("%s was never delivered", k)
				}
				if unacked[k] && (after[k] != StatePending || seen[k] < 2) {
					t.Errorf("%s was not acknowledged before the kill, yet it was in %s after it and sent %d times in all", k, after[k], seen[k])
				}
			}
		})
	}
}

func between(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, end)
	return v
}
