package notify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// LockName is the lock file a relay holds in its outbox.
const LockName = "relay.lock"

// LockedError says another relay holds the outbox.
type LockedError struct {
	Path   string
	Holder string // "pid 123 since 2025-11-20T10:00:00Z", when known
}

func (e *LockedError) Error() string {
	by := "another relay"
	if e.Holder != "" {
		by += " (" + e.Holder + ")"
	}
	return fmt.Sprintf("outbox %s is in use by %s: %s is locked", filepath.Dir(e.Path), by, e.Path)
}

func (e *LockedError) Unwrap() error { return exitcode.ErrConflict }

// lock is a held outbox lock: an advisory lock on an open file, released
// when the file is closed, so a killed relay never leaves a stale lock.
type lock struct{ f *os.File }

// acquireLock takes <outbox>/relay.lock. When another process holds it, it
// polls every pollEvery until wait has passed (by now), then returns a
// *LockedError.
func (o Outbox) acquireLock(ctx context.Context, wait time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) (*lock, error) {
	path := filepath.Join(o.Dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|lockFlags, 0o644)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, &safefile.NotRegularError{Path: path, Kind: "symbolic link"}
		}
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := safefile.Regular(f, path); err != nil {
		f.Close()
		return nil, err
	}
	deadline := now().Add(wait)
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			break
		}
		if !now().Before(deadline) {
			f.Close()
			return nil, &LockedError{Path: path, Holder: holder(path)}
		}
		if err := sleep(ctx, min(pollEvery, deadline.Sub(now()))); err != nil {
			f.Close()
			return nil, err
		}
	}
	// Say who holds it, for the error message of the next relay.
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "pid %d since %s\n", os.Getpid(), now().UTC().Format(time.RFC3339))
	}
	return &lock{f: f}, nil
}

const pollEvery = 100 * time.Millisecond

func holder(path string) string {
	b, err := safefile.ReadAll(path, 200)
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 200 || strings.ContainsAny(s, "\n\r") {
		return ""
	}
	return s
}

func (l *lock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
