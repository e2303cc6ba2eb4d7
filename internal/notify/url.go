package notify

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// Schemes accepted for each receiver.
var (
	WebhookSchemes = []string{"http", "https"}
	NATSSchemes    = []string{"nats", "tls", "ws", "wss"}
)

// CheckURL checks a receiver URL before anything is sent: one of schemes,
// a host name, and a port (when given) in 1..65535. Errors are usage errors
// (exit 2) naming flag; a password in the URL is not repeated.
func CheckURL(flag, raw string, schemes []string) (*url.URL, error) {
	if err := safefile.CheckToken(flag, raw); err != nil {
		return nil, exitcode.WithCode(exitcode.Usage, err)
	}
	want := strings.Join(schemes[:len(schemes)-1], ", ") + " or " + schemes[len(schemes)-1]
	u, err := url.Parse(raw)
	if err != nil {
		return nil, exitcode.Usagef("%s: not a URL: %v", flag, errors.Unwrap(err))
	}
	shown := redact(raw)
	if !slices.Contains(schemes, u.Scheme) {
		return nil, exitcode.Usagef("%s: %q: scheme %q is not %s", flag, shown, u.Scheme, want)
	}
	if u.Hostname() == "" {
		return nil, exitcode.Usagef("%s: %q has no host", flag, shown)
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, exitcode.Usagef("%s: %q: port %q is not in 1..65535", flag, shown, p)
		}
	}
	return u, nil
}
