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

// Options that errors of NewWebhook and NewNATS name (as
// exitcode.OptionError.Option): the receiver's URL and, for a webhook, its
// signing secret.
const (
	WebhookOption = "webhook"
	NATSOption    = "nats"
)

// Schemes accepted for each receiver.
var (
	WebhookSchemes = []string{"http", "https"}
	NATSSchemes    = []string{"nats", "tls", "ws", "wss"}
)

// CheckURL checks a receiver URL before anything is sent: one of schemes,
// a host name, and a port (when given) in 1..65535. Errors are
// *exitcode.OptionError (exit 3) whose Option is option (WebhookOption,
// NATSOption); a password in the URL is not repeated.
func CheckURL(option, raw string, schemes []string) (*url.URL, error) {
	if err := safefile.CheckToken(option, raw); err != nil {
		return nil, err
	}
	want := strings.Join(schemes[:len(schemes)-1], ", ") + " or " + schemes[len(schemes)-1]
	u, err := url.Parse(raw)
	if err != nil {
		return nil, exitcode.Optionf(option, "not a URL: %v", errors.Unwrap(err))
	}
	shown := redact(raw)
	if !slices.Contains(schemes, u.Scheme) {
		return nil, exitcode.Optionf(option, "%q: scheme %q is not %s", shown, u.Scheme, want)
	}
	if u.Hostname() == "" {
		return nil, exitcode.Optionf(option, "%q has no host", shown)
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, exitcode.Optionf(option, "%q: port %q is not in 1..65535", shown, p)
		}
	}
	return u, nil
}
