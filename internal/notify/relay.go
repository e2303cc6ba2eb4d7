package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// RelayConfig configures one relay run.
type RelayConfig struct {
	Outbox Outbox
	// Transports receive every pending entry; an entry is sent when all of
	// them accepted it. None is allowed with DLQRetry (requeue only).
	Transports []Transport
	// RetryBase scales the waits between attempts: 1, 2, 4 and 8 times it
	// (docs/format.md#notifications: 1, 2, 4, 8 s with the default of one
	// second).
	RetryBase time.Duration
	// LockWait is how long to wait for another relay to release the
	// outbox; 0 means fail at once with a *LockedError.
	LockWait time.Duration
	// DLQRetry moves dead letters back to pending/ before delivering.
	DLQRetry bool
	// Now is the clock of the dead-letter times and the lock; Sleep waits
	// between attempts and returns early with an error when ctx ends. Nil
	// means time.Now and SleepContext.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Log, if set, receives one line per notable event (retries, dead
	// letters that could not be published).
	Log func(msg string)
}

// RelayResult is what one run did.
type RelayResult struct {
	Sent         []string        `json:"sent"`
	DeadLettered []DeadLetterRef `json:"deadLettered"`
	Requeued     []string        `json:"requeued"`
	// Invalid lists pending files that are not payloads; they stay in
	// pending/ untouched.
	Invalid []string `json:"invalid"`
}

// DeadLetterRef summarises one dead letter of a run.
type DeadLetterRef struct {
	Key        string `json:"key"`
	Path       string `json:"path"`
	Reason     string `json:"reason"`
	LastStatus int    `json:"lastStatus"`
	Attempts   int    `json:"attempts"`
}

// DeadLetteredError says a run dead-lettered entries (exit 6); every other
// entry was delivered first.
type DeadLetteredError struct {
	Outbox  string
	Entries []DeadLetterRef
}

func (e *DeadLetteredError) Error() string {
	first := e.Entries[0]
	s := fmt.Sprintf("%d %s dead-lettered in %s; %s after %d %s: %s", len(e.Entries), plural(len(e.Entries), "entry", "entries"),
		e.Outbox, first.Key, first.Attempts, plural(first.Attempts, "attempt", "attempts"), first.Reason)
	if len(e.Entries) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(e.Entries)-1)
	}
	return s
}

func (e *DeadLetteredError) Unwrap() error { return exitcode.ErrDelivery }

func (e *DeadLetteredError) ErrorCode() string { return exitcode.CodeDeliveryFailed }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// SleepContext waits for d or until ctx ends, whichever is first.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// RetryWait is the wait after attempt n (1-based) of an entry: base, 2×base,
// 4×base, 8×base.
func RetryWait(base time.Duration, attempt int) time.Duration {
	return base << (attempt - 1)
}

// entry is a pending notification during a run.
type entry struct {
	key      string
	msg      Message
	todo     []Transport // transports that have not accepted it yet
	attempts int
	failures map[string]*SendError
	last     time.Time
}

// Relay delivers every pending entry of cfg.Outbox, holding the outbox lock
// for the whole run. Entries are tried in rounds: every entry once, then a
// wait of RetryWait(base, round), then those that failed again, at most
// MaxAttempts times. A delivered entry moves to sent/; one that failed
// MaxAttempts times, or permanently, moves to dlq/ with a DeadLetter record
// (also published by transports that carry dead letters). The result is
// returned even with an error; the error is a *DeadLetteredError (exit 6)
// when entries were dead-lettered, after every other entry was delivered.
//
// When ctx ends, Relay stops at once and the entries not yet delivered stay
// in pending/ for the next run.
func Relay(ctx context.Context, cfg RelayConfig) (*RelayResult, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = SleepContext
	}
	log := cfg.Log
	if log == nil {
		log = func(string) {}
	}
	if cfg.RetryBase <= 0 {
		return nil, exitcode.Optionf("RetryBase", "must be positive")
	}
	o := cfg.Outbox
	res := &RelayResult{Sent: []string{}, DeadLettered: []DeadLetterRef{}, Requeued: []string{}, Invalid: []string{}}
	if err := o.init(StatePending, StateSent, StateDLQ); err != nil {
		return nil, err
	}
	lk, err := o.acquireLock(ctx, cfg.LockWait, cfg.Now, cfg.Sleep)
	if err != nil {
		return nil, err
	}
	defer lk.release()

	if cfg.DLQRetry {
		keys, err := o.requeue(ctx)
		res.Requeued = append(res.Requeued, keys...)
		if err != nil {
			return res, err
		}
	}
	if len(cfg.Transports) == 0 {
		return res, nil
	}

	keys, err := o.Keys(StatePending)
	if err != nil {
		return res, err
	}
	var active []*entry
	var invalid []error
	for _, k := range keys {
		typ, body, err := o.loadPending(k)
		if err != nil {
			res.Invalid = append(res.Invalid, o.Path(StatePending, k))
			invalid = append(invalid, err)
			continue
		}
		active = append(active, &entry{key: k, msg: Message{Key: k, Type: typ, Body: body},
			todo: cfg.Transports, failures: map[string]*SendError{}})
	}

	for attempt := 1; attempt <= MaxAttempts && len(active) > 0; attempt++ {
		if attempt > 1 {
			wait := RetryWait(cfg.RetryBase, attempt-1)
			log(fmt.Sprintf("%d %s not delivered; attempt %d of %d in %s", len(active), plural(len(active), "entry", "entries"), attempt, MaxAttempts, wait))
			if err := cfg.Sleep(ctx, wait); err != nil {
				return res, interrupted(err, len(active))
			}
		}
		var next []*entry
		for i, e := range active {
			if err := ctx.Err(); err != nil {
				return res, interrupted(context.Cause(ctx), len(active)-i+len(next))
			}
			permanent, err := deliver(ctx, cfg, e)
			if err != nil {
				return res, interrupted(err, len(active)-i+len(next))
			}
			switch {
			case len(e.todo) == 0:
				if err := o.markSent(e.key); err != nil {
					return res, err
				}
				res.Sent = append(res.Sent, e.key)
			case permanent || attempt == MaxAttempts:
				ref, err := deadLetter(ctx, cfg, e, permanent, log)
				if err != nil {
					return res, err
				}
				res.DeadLettered = append(res.DeadLettered, *ref)
			default:
				next = append(next, e)
			}
		}
		active = next
	}
	if len(res.DeadLettered) > 0 {
		return res, &DeadLetteredError{Outbox: o.Dir, Entries: res.DeadLettered}
	}
	if len(invalid) > 0 {
		return res, fmt.Errorf("%d pending %s left in place: %w", len(invalid), plural(len(invalid), "file", "files"), invalid[0])
	}
	return res, nil
}

// deliver makes one attempt of e with every transport that has not accepted
// it yet. It returns whether a failure was permanent, or an error when ctx
// ended (the attempt then does not count).
func deliver(ctx context.Context, cfg RelayConfig, e *entry) (permanent bool, err error) {
	e.attempts++
	e.last = cfg.Now()
	var todo []Transport
	for _, t := range e.todo {
		err := t.Send(ctx, e.msg)
		if err == nil {
			delete(e.failures, t.Name())
			continue
		}
		if ctx.Err() != nil {
			return false, exitcode.Cause(ctx, err)
		}
		var se *SendError
		if !errors.As(err, &se) {
			se = &SendError{Transport: t.Name(), Err: err}
		}
		e.failures[t.Name()] = se
		permanent = permanent || se.Permanent
		todo = append(todo, t)
	}
	e.todo = todo
	return permanent, nil
}

func deadLetter(ctx context.Context, cfg RelayConfig, e *entry, permanent bool, log func(string)) (*DeadLetterRef, error) {
	var reasons []string
	status := 0
	for _, t := range e.todo {
		se := e.failures[t.Name()]
		reasons = append(reasons, se.Error())
		if se.Status != 0 {
			status = se.Status
		}
	}
	dl := &DeadLetter{
		Key: e.key, Type: e.msg.Type, Reason: strings.Join(reasons, "; "), LastStatus: status,
		Attempts: e.attempts, LastAttemptAt: SentAt(e.last), Permanent: permanent,
		Payload: e.msg.Body[:len(e.msg.Body)-1], // without the LF: it sits inside the record
	}
	b, err := marshalDeadLetter(dl)
	if err != nil {
		return nil, err
	}
	// Publish first: a crash before the file is written re-sends the entry,
	// rather than losing the dead letter on the subject.
	for _, t := range cfg.Transports {
		if p, ok := t.(DeadLetterPublisher); ok {
			if err := p.PublishDeadLetter(ctx, dl, b); err != nil {
				if ctx.Err() != nil {
					return nil, interrupted(exitcode.Cause(ctx, err), 1)
				}
				log(fmt.Sprintf("dead letter %s kept in %s but not published to %s: %v", e.key, cfg.Outbox.Path(StateDLQ, e.key), DLQSubject, err))
			}
		}
	}
	if err := cfg.Outbox.deadLetter(e.key, b); err != nil {
		return nil, err
	}
	return &DeadLetterRef{Key: e.key, Path: cfg.Outbox.Path(StateDLQ, e.key), Reason: dl.Reason,
		LastStatus: dl.LastStatus, Attempts: dl.Attempts}, nil
}

// interrupted explains an ended run; the cause keeps its exit code.
func interrupted(cause error, left int) error {
	return fmt.Errorf("%w; %d %s left in pending/ for the next run", cause, left, plural(left, "entry", "entries"))
}
