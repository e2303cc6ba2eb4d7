package commands

import (
	"errors"
	"strings"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/signing"
)

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }

// reworded is err with another message; its chain, and so its exit code,
// stays err's.
type reworded struct {
	msg string
	err error
}

func (e *reworded) Error() string { return e.msg }
func (e *reworded) Unwrap() error { return e.err }

// replacePart returns err with the message of part, an error in its chain,
// replaced by msg; the words that wrap it stay.
func replacePart(err, part error, msg string) error {
	whole, old := err.Error(), part.Error()
	i := strings.LastIndex(whole, old)
	if i < 0 {
		return &reworded{msg: msg, err: err}
	}
	return &reworded{msg: whole[:i] + msg + whole[i+len(old):], err: err}
}

// flagged names the flag that set a library option in its error:
// "--expect-sha256: ..." where the library says "ExpectSHA256: ...".
// flags maps option names (exitcode.OptionError.Option) to flags. An invalid
// value of a flag is a usage error (exit 2); other classes stay. Errors
// about options not in flags are returned as they are.
func flagged(err error, flags map[string]string) error {
	var oe *exitcode.OptionError
	if !errors.As(err, &oe) {
		return err
	}
	flag, ok := flags[oe.Option]
	if !ok {
		return err
	}
	if oe.Value != "" {
		flag += " " + oe.Value
	}
	out := replacePart(err, oe, flag+": "+oe.Err.Error())
	if exitcode.For(oe.Err) == exitcode.Invalid {
		out = exitcode.WithCode(exitcode.Usage, out)
	}
	return out
}

// keyFlag names the flag a key reference came from in a *signing.KeyError:
// "--sign-key a.key: not a PEM private key". A reference that cannot name
// a key (signing.ErrKeyRef) is a usage error (exit 2).
func keyFlag(err error, flag string) error {
	var ke *signing.KeyError
	if !errors.As(err, &ke) {
		return err
	}
	if ke.Ref != "" {
		flag += " " + ke.Ref
	}
	out := replacePart(err, ke, flag+": "+ke.Err.Error())
	if errors.Is(err, signing.ErrKeyRef) {
		out = exitcode.WithCode(exitcode.Usage, out)
	}
	return out
}
