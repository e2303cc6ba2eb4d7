// Package exitcode holds the one exit-code table of stella-export
// (docs/format.md#exit-codes) and maps errors onto it.
//
// Packages that detect a condition wrap one of the sentinel errors below
// (fmt.Errorf("...: %w", exitcode.ErrInvalidInput)) or return a typed error
// that implements Coder. For never returns 0 for a non-nil error and never
// returns 1 unless verification genuinely failed: unclassified errors are
// treated as I/O or environment errors (4).
package exitcode

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// Exit codes, docs/format.md#exit-codes.
const (
	OK          = 0   // success; for verify: everything checked holds
	Verify      = 1   // verification failed: digest, root, signature or subject mismatch
	Usage       = 2   // usage error: unknown flag, missing argument
	Invalid     = 3   // invalid input: contract, schema, data, unsafe archive entry, unsupported version
	IO          = 4   // I/O or environment error: unreadable file, disk full, missing key
	Conflict    = 5   // conflict or precondition: output exists, input not sealed, lock held
	Delivery    = 6   // delivery failed: relay exhausted retries, entry dead-lettered
	Interrupted = 130 // interrupted by SIGINT; partial output removed
	Terminated  = 143 // interrupted by SIGTERM; partial output removed
)

// Entry is one row of the exit-code table.
type Entry struct {
	Code    int
	Meaning string
}

// Table is the exit-code table in order; README.md, docs/format.md and
// `help exit-codes` show it, and tests keep them identical.
var Table = []Entry{
	{OK, "success; for verify: everything checked holds"},
	{Verify, "verification failed: a digest, Merkle root, signature or provenance subject does not match"},
	{Usage, "usage error: unknown flag, missing argument"},
	{Invalid, "invalid input: contract, schema, data validation, unsafe archive entry, unsupported version"},
	{IO, "I/O or environment error: unreadable file, disk full, missing key"},
	{Conflict, "conflict / precondition: output exists, input not sealed, lock held"},
	{Delivery, "delivery failed: notification relay exhausted its retries (entry moved to the dead-letter queue)"},
	{Interrupted, "interrupted by SIGINT; partial output removed"},
	{Terminated, "interrupted by SIGTERM; partial output removed"},
}

// Sentinel errors; wrap them to classify an error.
var (
	ErrVerify      = errors.New("verification failed")
	ErrUsage       = errors.New("usage error")
	ErrInvalid     = errors.New("invalid input")
	ErrIO          = errors.New("i/o error")
	ErrConflict    = errors.New("conflict")
	ErrDelivery    = errors.New("delivery failed")
	ErrInterrupted = errors.New("interrupted")
	ErrTerminated  = errors.New("terminated")
)

// Coder is implemented by typed errors that know their exit code.
type Coder interface {
	ExitCode() int
}

// For returns the exit code for err: 0 for nil, otherwise the code of the
// first classification found in err's chain, 4 when none is found.
func For(err error) int {
	if err == nil {
		return OK
	}
	var c Coder
	if errors.As(err, &c) {
		return c.ExitCode()
	}
	switch {
	case errors.Is(err, ErrTerminated):
		return Terminated
	case errors.Is(err, ErrInterrupted), errors.Is(err, context.Canceled):
		return Interrupted
	case errors.Is(err, ErrUsage):
		return Usage
	case errors.Is(err, ErrVerify):
		return Verify
	case errors.Is(err, ErrInvalid):
		return Invalid
	case errors.Is(err, ErrConflict), errors.Is(err, fs.ErrExist):
		return Conflict
	case errors.Is(err, ErrDelivery):
		return Delivery
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return IO
	}
	return IO
}

// WithCode wraps err so that For reports code.
func WithCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }
func (e *codedError) ExitCode() int { return e.code }

// classError classifies err without adding the class's words to its
// message: "stella-export: x: no such thing", not "...: invalid input".
type classError struct {
	class error
	err   error
}

func (e *classError) Error() string   { return e.err.Error() }
func (e *classError) Unwrap() []error { return []error{e.err, e.class} }

func classed(class error, format string, args []any) error {
	return &classError{class: class, err: fmt.Errorf(format, args...)}
}

// Usagef formats an error classified as a usage error (exit 2).
func Usagef(format string, args ...any) error { return classed(ErrUsage, format, args) }

// Invalidf formats an error classified as invalid input (exit 3).
func Invalidf(format string, args ...any) error { return classed(ErrInvalid, format, args) }

// Conflictf formats an error classified as a conflict (exit 5).
func Conflictf(format string, args ...any) error { return classed(ErrConflict, format, args) }

// Verifyf formats an error classified as a failed verification (exit 1).
func Verifyf(format string, args ...any) error { return classed(ErrVerify, format, args) }

// Cause returns err, or the cause of ctx's cancellation when ctx is
// done and err is not nil. After a cancel, the error of the operation that
// stopped (a "context canceled" from a reader, a failed request, a closed
// pipe) says less than why it stopped, and the cause carries the signal's
// exit code (ErrInterrupted 130, ErrTerminated 143; context.Canceled when
// ctx was cancelled without a cause).
func Cause(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	return context.Cause(ctx)
}

// OptionError is an option value that a library refuses. Option names the
// option in the library's terms (its Go field, "ExpectRoot"), never as a
// command-line flag; Value, when not empty, is shown after it; Err says
// why and carries the exit code. internal/commands names the flag that set
// the option instead, and reports a value that is invalid (exit 3) as a
// usage error (2).
type OptionError struct {
	Option string
	Value  string
	Err    error
}

func (e *OptionError) Error() string {
	if e.Value != "" {
		return e.Option + " " + e.Value + ": " + e.Err.Error()
	}
	return e.Option + ": " + e.Err.Error()
}

func (e *OptionError) Unwrap() error { return e.Err }

// Optionf returns an *OptionError for option whose reason is invalid input
// (exit 3).
func Optionf(option, format string, args ...any) error {
	return &OptionError{Option: option, Err: Invalidf(format, args...)}
}
