//go:build unix

package export

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// TestFIFOSources: a FIFO named as the source (CSV or SQLite) or as the
// schema is refused at once with exit 3, never blocking on an open with no
// writer (the guard: 10 s).
func TestFIFOSources(t *testing.T) {
	for _, tc := range []struct{ ref, fifo, want string }{
		{"csv:in.csv", "in.csv", "not a regular file"},
		{"sqlite:db.sqlite?table=client", "db.sqlite", "not a regular file"},
		{"csv:in.csv", "s.yaml", "not a regular file"},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := runWith(t, "format: csv", "", tc.ref, func(dir string) {
				if err := syscall.Mkfifo(filepath.Join(dir, tc.fifo), 0o644); err != nil {
					t.Error(err)
				}
			})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tc.want) || exitcode.For(err) != exitcode.Invalid {
				t.Errorf("%s as a FIFO: %v (exit %d), want %q (exit 3)", tc.fifo, err, exitcode.For(err), tc.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s as a FIFO: still blocked after 10 s", tc.fifo)
		}
	}
}
