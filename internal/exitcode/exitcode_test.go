package exitcode

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestFor(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain", errors.New("boom"), IO},
		{"verify", fmt.Errorf("a: %w", ErrVerify), Verify},
		{"usage", fmt.Errorf("a: %w", ErrUsage), Usage},
		{"invalid", fmt.Errorf("x: %w", fmt.Errorf("y: %w", ErrInvalid)), Invalid},
		{"conflict", fmt.Errorf("a: %w", ErrConflict), Conflict},
		{"exists", fmt.Errorf("a: %w", fs.ErrExist), Conflict},
		{"notexist", fmt.Errorf("a: %w", fs.ErrNotExist), IO},
		{"delivery", fmt.Errorf("a: %w", ErrDelivery), Delivery},
		{"sigint", ErrInterrupted, Interrupted},
		{"canceled", fmt.Errorf("a: %w", context.Canceled), Interrupted},
		{"sigterm", fmt.Errorf("a: %w", ErrTerminated), Terminated},
		{"coded", WithCode(Invalid, errors.New("x")), Invalid},
		{"coded wins", WithCode(Conflict, fmt.Errorf("a: %w", ErrVerify)), Conflict},
	}
	for _, tt := range tests {
		if got := For(tt.err); got != tt.want {
			t.Errorf("%s: For = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestTableMatchesConstants(t *testing.T) {
	want := []int{OK, Verify, Usage, Invalid, IO, Conflict, Delivery, Interrupted, Terminated}
	if len(Table) != len(want) {
		t.Fatalf("table has %d rows, want %d", len(Table), len(want))
	}
	for i, e := range Table {
		if e.Code != want[i] || e.Meaning == "" {
			t.Errorf("row %d = %+v", i, e)
		}
	}
}

func TestCause(t *testing.T) {
	boom := errors.New("boom")
	live := context.Background()
	if got := Cause(live, boom); got != boom {
		t.Errorf("live ctx: %v, want the error itself", got)
	}
	if got := Cause(live, nil); got != nil {
		t.Errorf("live ctx, nil error: %v", got)
	}
	sig, cancel := context.WithCancelCause(context.Background())
	cancel(ErrTerminated)
	if got := Cause(sig, boom); got != ErrTerminated || For(got) != Terminated {
		t.Errorf("cancelled with a cause: %v (exit %d), want %v (exit %d)", got, For(got), ErrTerminated, Terminated)
	}
	if got := Cause(sig, nil); got != nil {
		t.Errorf("cancelled ctx, nil error: %v, want nil", got)
	}
	plain, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if got := Cause(plain, boom); !errors.Is(got, context.Canceled) || For(got) != Interrupted {
		t.Errorf("cancelled without a cause: %v (exit %d), want context.Canceled (exit %d)", got, For(got), Interrupted)
	}
}

func TestOptionError(t *testing.T) {
	err := fmt.Errorf("export: %w", Optionf("Layout", "%q is not one of flat, objstore", "s3"))
	var oe *OptionError
	if !errors.As(err, &oe) || oe.Option != "Layout" {
		t.Fatalf("errors.As: %v", err)
	}
	if got, want := err.Error(), `export: Layout: "s3" is not one of flat, objstore`; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if For(err) != Invalid {
		t.Errorf("exit %d, want %d", For(err), Invalid)
	}
	withValue := &OptionError{Option: "Key", Value: "a.pub", Err: WithCode(IO, errors.New("no such file"))}
	if got, want := withValue.Error(), "Key a.pub: no such file"; got != want || For(withValue) != IO {
		t.Errorf("%q (exit %d), want %q (exit %d)", got, For(withValue), want, IO)
	}
}

func TestName(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("x"), CodeIO},
		{Usagef("x"), CodeUsage},
		{Invalidf("x"), CodeInvalidInput},
		{Conflictf("x"), CodeConflict},
		{Verifyf("x"), CodeVerifyFailed},
		{ErrDelivery, CodeDeliveryFailed},
		{ErrInterrupted, CodeCancelled},
		{ErrTerminated, CodeCancelled},
		{Tag(CodeInputChanged, Conflictf("x")), CodeInputChanged},
		{fmt.Errorf("wrapped: %w", Tag(CodeSealedRequired, Conflictf("x"))), CodeSealedRequired},
		// a cancelled run is Cancelled whatever else its error says
		{WithCode(Interrupted, Tag(CodeOutputExists, Conflictf("x"))), CodeCancelled},
	} {
		if got := Name(tc.err); got != tc.want {
			t.Errorf("Name(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	seen := map[string]bool{}
	for _, c := range Codes {
		if seen[c.Code] || c.Meaning == "" {
			t.Errorf("code %q repeated or without meaning", c.Code)
		}
		seen[c.Code] = true
	}
	if Tag(CodeIO, Invalidf("x")).Error() != "x" || For(Tag(CodeIO, Invalidf("x"))) != Invalid {
		t.Error("Tag changed the message or the exit code")
	}
}
