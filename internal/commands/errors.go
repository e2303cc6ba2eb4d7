package commands

import (
	"errors"
	"fmt"
	"strings"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/plan"
	"github.com/stella-ops/stella-export/internal/portable"
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

// remedy is the hint for an error whose remedy is a flag: libraries say
// what is wrong in their own terms, and only here is it said which flag
// would change that. "" when there is none.
func remedy(err error) string {
	var (
		exists *atomicfile.ExistsError
		other  *signing.OtherContentError
		failed *portable.MarkedFailedError
		cross  *evidence.CrossTenantError
	)
	switch {
	case errors.As(err, &exists):
		return fmt.Sprintf("remove %s or pass --force", exists.Path)
	case errors.As(err, &other):
		return "pass --force to replace it"
	case errors.Is(err, signing.ErrNoProvenance):
		return "pass --provenance FILE, the provenance.json of the export"
	case errors.As(err, &failed):
		return "inspect it, then re-run with --acknowledge-failure"
	case errors.Is(err, plan.ErrUnconfirmedCrossTenant):
		return "pass --allow-cross-tenant to confirm the cross-tenant export"
	case errors.As(err, &cross):
		return "cross-tenant exports need allow_cross_tenant: true in the contract and --allow-cross-tenant"
	}
	return ""
}
