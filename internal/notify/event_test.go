package notify

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

func testEvent(t *testing.T, typ string, n int) *Event {
	t.Helper()
	e, err := NewEvent(typ, "urn:stella:export:acme:t", "acme", "2025-01-07T14:30:00Z", map[string]any{"records": n, "format": "x"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEventPutAndParse(t *testing.T) {
	o := Outbox{Dir: t.TempDir()}
	e := testEvent(t, EventAudit, 1)
	res, err := o.Put(context.Background(), e)
	if err != nil || res.State != StatePending || res.Unchanged {
		t.Fatalf("put: %+v %v", res, err)
	}
	body, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"created_at":"2025-01-07T14:30:00Z","data":{"format":"x","records":1},"export_id":"urn:stella:export:acme:t","tenant_id":"acme","type":"stella.dataset.audit.v1"}` + "\n"
	if string(body) != want {
		t.Errorf("entry:\n%s\nwant:\n%s", body, want)
	}
	// the same event again: unchanged; another under the same key cannot
	// be made (the key covers data), so same type and data are one entry
	again, err := o.Put(context.Background(), e)
	if err != nil || !again.Unchanged {
		t.Errorf("put again: %+v %v", again, err)
	}
	if got, err := ParseEvent("e.json", e.Key(), body); err != nil || got.Type != EventAudit {
		t.Errorf("parse: %+v %v", got, err)
	}
	for name, tc := range map[string]struct {
		key  string
		body string
	}{
		"key":         {strings.Repeat("0", 64), string(body)},
		"type":        {e.Key(), strings.Replace(string(body), "audit", "nope", 1)},
		"not canon":   {e.Key(), strings.Replace(string(body), `{"created_at"`, `{ "created_at"`, 1)},
		"unknown":     {e.Key(), strings.Replace(string(body), `"export_id"`, `"extra":1,"export_id"`, 1)},
		"data":        {e.Key(), strings.Replace(string(body), `{"format":"x","records":1}`, `[1]`, 1)},
		"no data":     {e.Key(), strings.Replace(string(body), `"data":{"format":"x","records":1},`, ``, 1)},
		"no trailing": {e.Key(), strings.TrimSuffix(string(body), "\n")},
	} {
		if _, err := ParseEvent("e.json", tc.key, []byte(tc.body)); err == nil || exitcode.For(err) != exitcode.Invalid {
			t.Errorf("%s: %v, want exit 3", name, err)
		}
	}
}

// TestRelayEvents: the relay delivers dataset events with their type in
// X-Stella-Event-Type, and moves them to sent/.
func TestRelayEvents(t *testing.T) {
	o := Outbox{Dir: t.TempDir()}
	var keys []string
	for i, typ := range EventTypes {
		res, err := o.Put(context.Background(), testEvent(t, typ, i))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, res.Key)
	}
	var mu sync.Mutex
	got := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.Header.Get("X-Stella-Event-Type")] = string(b)
		mu.Unlock()
	}))
	defer srv.Close()
	clock := newFakeClock()
	w, err := NewWebhook(srv.URL, testSecret, 5*time.Second, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Relay(context.Background(), RelayConfig{Outbox: o, Transports: []Transport{w}, RetryBase: time.Second, Now: clock.Now, Sleep: clock.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sent) != len(EventTypes) || len(res.Invalid) != 0 {
		t.Errorf("relay: %+v", res)
	}
	for _, typ := range EventTypes {
		if !strings.Contains(got[typ], `"type":"`+typ+`"`) {
			t.Errorf("%s not delivered with its type: %q", typ, got[typ])
		}
	}
	for _, k := range keys {
		if _, err := os.Stat(o.Path(StateSent, k)); err != nil {
			t.Errorf("%s not in sent/: %v", k, err)
		}
	}
	// an entry that claims to be an event but is not one stays pending
	bad := o.Path(StatePending, strings.Repeat("a", 64))
	os.WriteFile(bad, []byte(`{"type":"stella.dataset.audit.v1"}`+"\n"), 0o644)
	res, err = Relay(context.Background(), RelayConfig{Outbox: o, Transports: []Transport{w}, RetryBase: time.Second, Now: clock.Now, Sleep: clock.Sleep})
	if err == nil || len(res.Invalid) != 1 || !errors.Is(err, exitcode.ErrInvalid) {
		t.Errorf("invalid event: %+v %v", res, err)
	}
}
