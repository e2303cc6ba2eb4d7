package notify

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// TestRelayLargePending: a pending entry larger than MaxEntry is refused
// after reading MaxEntry+1 bytes, not parsed whole.
func TestRelayLargePending(t *testing.T) {
	clock := newFakeClock()
	o, keys := fill(t, 1)
	_, srv := newReceiver(t, clock, o, keys, func(string, int) int { return 200 })
	big := o.Path(StatePending, strings.Repeat("cd", 32))
	if err := os.WriteFile(big, []byte(`{"type":"`+strings.Repeat("x", MaxEntry)+`"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := relayWith(t, o, srv.URL, clock)
	var tl *safefile.TooLargeError
	if !errors.As(err, &tl) || exitcode.For(err) != exitcode.Invalid || tl.Path != big {
		t.Fatalf("%v (exit %d), want a TooLargeError for %s", err, exitcode.For(err), big)
	}
	if len(res.Sent) != 1 || len(res.Invalid) != 1 {
		t.Errorf("%+v", res)
	}
}

// TestParsePending: what emit writes is accepted; anything else, including
// a huge token, unknown or missing fields, is refused with exit 3 and a
// message that names the file but does not repeat the huge value.
func TestParsePending(t *testing.T) {
	p := testPayload(0)
	good, _ := p.Bytes()
	if got, err := ParsePending("e.json", p.Key(), good); err != nil || got.ExportID != p.ExportID {
		t.Fatalf("valid entry: %v", err)
	}
	long := testPayload(0)
	long.Metadata.SourceURI = strings.Repeat("s", safefile.MaxToken+1)
	longBody, _ := long.Bytes()
	for _, tc := range []struct {
		name, key string
		body      []byte
		want      string
	}{
		{"not json", p.Key(), []byte("nope\n"), "e.json: not a notification payload"},
		{"not canonical", p.Key(), append([]byte(" "), good...), "e.json: not canonical JSON"},
		{"unknown field", p.Key(), []byte(strings.Replace(string(good), `{"artifact_sha256"`, `{"a":1,"artifact_sha256"`, 1)), `unknown field "a"`},
		{"missing field", p.Key(), []byte(strings.Replace(string(good), `"bundle_id":"evb-1",`, "", 1)), "fields are missing"},
		{"wrong key", strings.Repeat("0", 64), good, "the file name is not the payload's idempotency key"},
		{"huge token", long.Key(), longBody, "e.json: metadata.source_uri: 4097 bytes, longer than the 4 KiB allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePending("e.json", tc.key, tc.body)
			if err == nil || exitcode.For(err) != exitcode.Invalid || !strings.Contains(err.Error(), tc.want) || len(err.Error()) > 400 {
				t.Errorf("%v (exit %d), want %q", err, exitcode.For(err), tc.want)
			}
		})
	}
}

// FuzzPending: ParsePending never panics, and what it accepts is exactly
// the payload's own canonical bytes under its own key, with every string
// within the token limit. The seeds (and testdata/fuzz/FuzzPending) run
// as an ordinary test.
func FuzzPending(f *testing.F) {
	for i := range 3 {
		p := testPayload(i)
		if i == 1 {
			p.ExpiresAt = "2026-11-20T00:00:00Z"
		}
		b, _ := p.Bytes()
		f.Add(p.Key(), b)
	}
	p := testPayload(0)
	good, _ := p.Bytes()
	f.Add(p.Key(), []byte(strings.Replace(string(good), `"tenant_id":"acme"`, `"tenant_id":"acme","tenant_id":"evil"`, 1)))
	f.Add(p.Key(), []byte(`{"type":"export.airgap.ready.v1"}`+"\n"))
	f.Add(p.Key(), []byte(`{"metadata":null,"type":"export.airgap.ready.v1"}`+"\n"))
	f.Add(p.Key(), []byte(`["\ud800"]`+"\n"))
	f.Add("", []byte{})
	f.Fuzz(func(t *testing.T, key string, body []byte) {
		got, err := ParsePending("f.json", key, body)
		if err != nil {
			if exitcode.For(err) != exitcode.Invalid {
				t.Fatalf("refused with exit %d: %v", exitcode.For(err), err)
			}
			return
		}
		b, berr := got.Bytes()
		if berr != nil || string(b) != string(body) {
			t.Fatalf("accepted bytes that are not the payload's own:\n%q\n%q", body, b)
		}
		if got.Key() != key || got.Type != EventType {
			t.Fatalf("accepted key %q type %q", key, got.Type)
		}
		for _, s := range []string{got.ExportID, got.TenantID, got.BundleID, got.ArtifactURI, got.Metadata.SourceURI} {
			if len(s) > safefile.MaxToken {
				t.Fatalf("accepted a %d-byte string", len(s))
			}
		}
	})
}

// TestCheckURL: receiver URLs that can never work are usage errors (exit
// 2), found before anything is sent; a password is not repeated.
func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		flag, url string
		schemes   []string
		want      string // "" for valid
	}{
		{WebhookOption, "https://hooks.example/stella", WebhookSchemes, ""},
		{WebhookOption, "http://127.0.0.1:8080/h", WebhookSchemes, ""},
		{WebhookOption, "http://[::1]:65535/h", WebhookSchemes, ""},
		{NATSOption, "nats://u:p@127.0.0.1:4222", NATSSchemes, ""},
		{NATSOption, "tls://nats.example", NATSSchemes, ""},
		{WebhookOption, "http://127.0.0.1:99999/h", WebhookSchemes, `webhook: "http://127.0.0.1:99999/h": port "99999" is not in 1..65535`},
		{WebhookOption, "http://127.0.0.1:0/h", WebhookSchemes, `port "0" is not in 1..65535`},
		{WebhookOption, "http://127.0.0.1:/h", WebhookSchemes, `port "" is not in 1..65535`},
		{NATSOption, "nats://u:secret@127.0.0.1:99999", NATSSchemes, `nats: "nats://u:xxxxx@127.0.0.1:99999": port "99999"`},
		{WebhookOption, "ftp://x/y", WebhookSchemes, `webhook: "ftp://x/y": scheme "ftp" is not http or https`},
		{NATSOption, "http://x:4222", NATSSchemes, `scheme "http" is not nats, tls, ws or wss`},
		{WebhookOption, "https:///path", WebhookSchemes, `has no host`},
		{WebhookOption, "http://%zz", WebhookSchemes, `webhook: not a URL`},
		{WebhookOption, "http://h/" + strings.Repeat("a", safefile.MaxToken), WebhookSchemes, "longer than the 4 KiB allowed"},
	} {
		_, err := CheckURL(tc.flag, tc.url, tc.schemes)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || exitcode.For(err) != exitcode.Invalid):
			t.Errorf("%.60s: %v (exit %d), want %q", tc.url, err, exitcode.For(err), tc.want)
		case err != nil && strings.Contains(err.Error(), "secret@"):
			t.Errorf("%s: password shown: %v", tc.url, err)
		}
	}
}
