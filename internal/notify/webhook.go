package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/version"
)

// Webhook posts messages to one URL with the headers of
// docs/format.md#notifications:
//
//	Content-Type: application/json
//	X-Stella-Event-Type: <type>
//	X-Stella-Sent-At: <RFC 3339 UTC, the relay's clock when sending>
//	X-Stella-Signature: sha256=<hex HMAC-SHA256(secret, sent-at "." body)>
//
// A 2xx response is a delivery. Redirects are not followed (they would turn
// the POST into a GET); a 3xx, 5xx, 408 or 429, or no response at all, is
// retried; any other 4xx is permanent.
type Webhook struct {
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
}

// NewWebhook checks rawURL (http or https, see CheckURL) and returns its transport. Each
// attempt is bounded by timeout; now is the clock of X-Stella-Sent-At.
func NewWebhook(rawURL string, secret []byte, timeout time.Duration, now func() time.Time) (*Webhook, error) {
	if _, err := CheckURL(WebhookOption, rawURL, WebhookSchemes); err != nil {
		return nil, err
	}
	if len(secret) == 0 {
		return nil, exitcode.Optionf(WebhookOption, "a signing secret is required")
	}
	if now == nil {
		now = time.Now
	}
	client := &http.Client{
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return &Webhook{url: rawURL, secret: secret, client: client, now: now}, nil
}

// Name implements Transport.
func (w *Webhook) Name() string { return "webhook" }

// Close implements Transport.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}

// Send implements Transport.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(m.Body))
	if err != nil {
		return &SendError{Transport: w.Name(), Permanent: true, Err: err}
	}
	sentAt := SentAt(w.now())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Stella-Event-Type", m.Type)
	req.Header.Set("X-Stella-Sent-At", sentAt)
	req.Header.Set("X-Stella-Signature", Sign(w.secret, sentAt, m.Body))
	req.Header.Set("User-Agent", "stella-export/"+version.String())
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the message already
		}
		return exitcode.Cause(ctx, &SendError{Transport: w.Name(), Err: fmt.Errorf("POST %s: %w", redact(w.url), err)})
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	msg := fmt.Sprintf("POST %s: HTTP %s", redact(w.url), resp.Status)
	if s := printable(snippet); s != "" {
		msg += ": " + s
	}
	if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
		msg += " (redirect to " + printable([]byte(loc)) + " not followed)"
	}
	return &SendError{Transport: w.Name(), Status: resp.StatusCode, Permanent: permanentStatus(resp.StatusCode), Err: errors.New(msg)}
}

// redact drops a password from a URL for messages and dead letters.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}

// printable makes a response body excerpt safe for one line of text.
func printable(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, strings.ToValidUTF8(string(b), "?"))
	return strings.Join(strings.Fields(s), " ")
}
