// Package partial keeps the list of partial outputs a command is writing
// (temporary files and staging directories), so that a forced exit can
// remove them even while the goroutine that created them is stuck.
//
// A command normally removes its own partial output when it returns
// (atomicfile.File.Abort, a deferred os.RemoveAll). That is not enough when
// it never returns: a read that blocks on a hung file system or on a
// terminal, after SIGINT or SIGTERM cancelled its context. The signal
// handler then calls Set.Abandon, which removes every path still tracked,
// before the process exits.
//
// The Set travels in the context, so packages below internal/commands
// track what they create without a global:
//
//	f, err := atomicfile.Create(out, force)
//	...
//	defer partial.Track(ctx, f.TempName())()
package partial

import (
	"context"
	"os"
	"sync"
)

// Set is the partial outputs of one command. The zero value is not usable;
// use NewContext.
type Set struct {
	mu     sync.Mutex
	next   int
	paths  map[int]string
	closed bool
}

type ctxKey struct{}

// NewContext returns a context carrying a new, empty Set.
func NewContext(parent context.Context) (context.Context, *Set) {
	s := &Set{paths: map[int]string{}}
	return context.WithValue(parent, ctxKey{}, s), s
}

// From returns the Set of ctx, nil when it has none.
func From(ctx context.Context) *Set {
	s, _ := ctx.Value(ctxKey{}).(*Set)
	return s
}

// Track adds path to the Set of ctx and returns the function that removes
// it from the Set again (call it once path is committed or already
// removed). Without a Set in ctx both do nothing.
func Track(ctx context.Context, path string) (untrack func()) {
	s := From(ctx)
	if s == nil {
		return func() {}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.next
	s.next++
	s.paths[id] = path
	return func() {
		s.mu.Lock()
		delete(s.paths, id)
		s.mu.Unlock()
	}
}

// Close ends the Set: the command is about to report its own result, so a
// later Abandon does nothing. When an Abandon is under way, Close waits for
// it (and so, in practice, for the process to exit).
func (s *Set) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// Abandon removes every tracked path (files and directories) and calls
// then with the paths it removed, holding the Set's lock so that Close
// cannot return meanwhile; then normally ends the process. It returns false
// without doing anything when the Set was closed: the command is already
// reporting its own result.
func (s *Set) Abandon(then func(removed []string)) bool {
	if s == nil {
		then(nil)
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	var removed []string
	for id := 0; id < s.next; id++ {
		p, ok := s.paths[id]
		if !ok {
			continue
		}
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if os.RemoveAll(p) == nil {
			removed = append(removed, p)
		}
	}
	s.paths = map[int]string{}
	then(removed)
	return true
}
