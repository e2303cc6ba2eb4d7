package notify

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// TestSignMatchesOpenSSL checks Sign against the shell recipe of
// docs/notifications.md.
func TestSignMatchesOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (scripts/deps.sh installs it)")
	}
	dir := t.TempDir()
	body := []byte(`{"type":"export.airgap.ready.v1"}` + "\n")
	if err := os.WriteFile(filepath.Join(dir, "body.json"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	secret, sentAt := "s3cret-with-$pecial chars", "2025-11-20T10:00:00Z"
	cmd := exec.Command("sh", "-c", `printf '%s.' "$SENT_AT" | cat - body.json | openssl dgst -sha256 -hmac "$SECRET" | awk '{print "sha256=" $NF}'`)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SENT_AT="+sentAt, "SECRET="+secret)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got := Sign([]byte(secret), sentAt, body)
	if strings.TrimSpace(string(out)) != got {
		t.Errorf("Sign %s, openssl %s", got, out)
	}
}

func TestCheckSignature(t *testing.T) {
	secret, sentAt, body := []byte("k"), "2025-11-20T10:00:00Z", []byte("{}\n")
	sig := Sign(secret, sentAt, body)
	now := time.Date(2025, 11, 20, 10, 4, 0, 0, time.UTC)
	if err := CheckSignature(secret, sentAt, body, sig, 0, now); err != nil {
		t.Fatal(err)
	}
	if err := CheckSignature(secret, sentAt, body, sig, 5*time.Minute, now); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		secret       []byte
		sentAt, sig  string
		body         []byte
		maxAge       time.Duration
		wantInReason string
	}{
		"body":       {secret, sentAt, sig, []byte("{} \n"), 0, "does not match"},
		"sent-at":    {secret, "2025-11-20T10:00:01Z", sig, body, 0, "does not match"},
		"secret":     {[]byte("K"), sentAt, sig, body, 0, "does not match"},
		"no prefix":  {secret, sentAt, strings.TrimPrefix(sig, "sha256="), body, 0, "is not sha256=<64 hex digits>"},
		"short":      {secret, sentAt, sig[:20], body, 0, "is not sha256=<64 hex digits>"},
		"stale":      {secret, sentAt, sig, body, 3 * time.Minute, "more than 3m0s from now"},
		"not a time": {secret, "yesterday", Sign(secret, "yesterday", body), body, time.Hour, "not an RFC 3339 time"},
	} {
		err := CheckSignature(tc.secret, tc.sentAt, tc.body, tc.sig, tc.maxAge, now)
		var se *SignatureError
		if !errors.As(err, &se) || exitcode.For(err) != exitcode.Verify || !strings.Contains(err.Error(), tc.wantInReason) {
			t.Errorf("%s: %v (exit %d), want exit 1 with %q", name, err, exitcode.For(err), tc.wantInReason)
		}
	}
	if !bytes.HasPrefix([]byte(sig), []byte("sha256=")) || len(sig) != 7+64 {
		t.Errorf("signature %q", sig)
	}
}
