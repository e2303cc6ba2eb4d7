//go:build unix

package contract

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// TestLoadFIFO: a FIFO named as a contract (or found as a *.yaml by plan
// --check DIR) is refused at once with exit 3; it has no writer, so a
// blocking open would hang for ever.
func TestLoadFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "c.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan []error, 1)
	go func() { done <- Check([]string{dir}) }()
	var errs []error
	select {
	case errs = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Check of a directory holding a FIFO blocked for 10s")
	}
	want := "read contract " + fifo + ": is a FIFO, not a regular file"
	if len(errs) != 1 || errs[0].Error() != want || exitcode.For(errs[0]) != exitcode.Invalid {
		t.Errorf("%v, want [%s] (exit 3)", errs, want)
	}
}
