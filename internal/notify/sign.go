package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// SignaturePrefix starts every X-Stella-Signature value.
const SignaturePrefix = "sha256="

// Sign returns the X-Stella-Signature value for a webhook: "sha256=" and the
// hex HMAC-SHA256 under secret of sentAt, ".", and the body. In a shell:
//
//	printf '%s.' "$SENT_AT" | cat - body.json | openssl dgst -sha256 -hmac "$SECRET"
func Sign(secret []byte, sentAt string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(sentAt))
	m.Write([]byte{'.'})
	m.Write(body)
	return SignaturePrefix + hex.EncodeToString(m.Sum(nil))
}

// SignatureError says a webhook signature does not verify (exit 1).
type SignatureError struct{ Reason string }

func (e *SignatureError) Error() string { return e.Reason }

func (e *SignatureError) Unwrap() error { return exitcode.ErrVerify }

func (e *SignatureError) ErrorCode() string { return exitcode.CodeSignatureInvalid }

// CheckSignature verifies the headers of a received webhook against body in
// constant time. With maxAge > 0 it also refuses a sentAt further than
// maxAge from now (a replayed or delayed request).
func CheckSignature(secret []byte, sentAt string, body []byte, signature string, maxAge time.Duration, now time.Time) error {
	hexSig, ok := strings.CutPrefix(signature, SignaturePrefix)
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(got) != sha256.Size {
		return &SignatureError{Reason: fmt.Sprintf("signature %q is not sha256=<64 hex digits>", clipString(signature, 80))}
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(secret, sentAt, body), SignaturePrefix))
	if !hmac.Equal(got, want) {
		return &SignatureError{Reason: "signature does not match: the secret, X-Stella-Sent-At and the body must be exactly as sent"}
	}
	if maxAge > 0 {
		t, err := time.Parse(time.RFC3339, sentAt)
		if err != nil {
			return &SignatureError{Reason: fmt.Sprintf("X-Stella-Sent-At %q is not an RFC 3339 time", clipString(sentAt, 80))}
		}
		if d := now.Sub(t); d > maxAge || d < -maxAge {
			return &SignatureError{Reason: fmt.Sprintf("X-Stella-Sent-At %s is more than %s from now (%s)", sentAt, maxAge, now.UTC().Format(time.RFC3339))}
		}
	}
	return nil
}

// SentAt formats the relay's clock for X-Stella-Sent-At: RFC 3339, UTC,
// whole seconds.
func SentAt(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

func clipString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
