package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

var testSecret = []byte("receiver-and-relay-share-this")

// receiver is a webhook endpoint that checks every header and the HMAC of
// each request independently of Sign, and answers with respond(key, n),
// n being the attempt number for that key.
type receiver struct {
	t       *testing.T
	clock   *fakeClock
	bodies  map[string][]byte // key -> expected body
	respond func(key string, n int) int

	mu    sync.Mutex
	count map[string]int
	total int
}

func newReceiver(t *testing.T, clock *fakeClock, o Outbox, keys []string, respond func(string, int) int) (*receiver, *httptest.Server) {
	r := &receiver{t: t, clock: clock, bodies: map[string][]byte{}, respond: respond, count: map[string]int{}}
	for _, k := range keys {
		b, err := os.ReadFile(o.Path(StatePending, k))
		if err != nil {
			t.Fatal(err)
		}
		r.bodies[k] = b
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		r.t.Errorf("body is not JSON: %v", err)
		w.WriteHeader(400)
		return
	}
	key := p.Key()
	if want, ok := r.bodies[key]; !ok || string(want) != string(body) {
		r.t.Errorf("body of %s differs from the pending file:\n%s", key, body)
	}
	h := req.Header
	sentAt := h.Get("X-Stella-Sent-At")
	mac := hmac.New(sha256.New, testSecret)
	mac.Write([]byte(sentAt + "." + string(body)))
	for name, want := range map[string]string{
		"Content-Type":        "application/json",
		"X-Stella-Event-Type": "export.airgap.ready.v1",
		"X-Stella-Sent-At":    r.clock.Now().UTC().Format(time.RFC3339),
		"X-Stella-Signature":  "sha256=" + hex.EncodeToString(mac.Sum(nil)),
	} {
		if got := h.Get(name); got != want {
			r.t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if req.Method != http.MethodPost {
		r.t.Errorf("method %s", req.Method)
	}
	r.mu.Lock()
	r.count[key]++
	r.total++
	n := r.count[key]
	r.mu.Unlock()
	code := r.respond(key, n)
	w.WriteHeader(code)
	io.WriteString(w, http.StatusText(code))
}

func (r *receiver) attempts(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count[key]
}

func relayWith(t *testing.T, o Outbox, url string, clock *fakeClock) (*RelayResult, error) {
	t.Helper()
	w, err := NewWebhook(url, testSecret, 5*time.Second, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return Relay(context.Background(), RelayConfig{
		Outbox: o, Transports: []Transport{w}, RetryBase: time.Second, Now: clock.Now, Sleep: clock.Sleep,
	})
}

func readDeadLetter(t *testing.T, o Outbox, key string) *DeadLetter {
	t.Helper()
	b, err := os.ReadFile(o.Path(StateDLQ, key))
	if err != nil {
		t.Fatal(err)
	}
	dl, err := parseDeadLetter("dlq", b)
	if err != nil {
		t.Fatal(err)
	}
	return dl
}

func secs(ns ...int) []time.Duration {
	var out []time.Duration
	for _, n := range ns {
		out = append(out, time.Duration(n)*time.Second)
	}
	return out
}

func TestRelayWebhook(t *testing.T) {
	for _, tc := range []struct {
		name      string
		respond   func(n int) int
		attempts  int
		sleeps    []time.Duration
		state     string
		status    int
		permanent bool
	}{
		{"ok at once", func(int) int { return 200 }, 1, nil, StateSent, 0, false},
		{"204", func(int) int { return 204 }, 1, nil, StateSent, 0, false},
		{"500, 500, then 200", func(n int) int { return map[bool]int{true: 500, false: 200}[n < 3] }, 3, secs(1, 2), StateSent, 0, false},
		{"always 500", func(int) int { return 500 }, 5, secs(1, 2, 4, 8), StateDLQ, 500, false},
		{"400 is permanent", func(int) int { return 400 }, 1, nil, StateDLQ, 400, true},
		{"404 is permanent", func(int) int { return 404 }, 1, nil, StateDLQ, 404, true},
		{"429 is retried", func(n int) int { return map[bool]int{true: 429, false: 200}[n < 2] }, 2, secs(1), StateSent, 0, false},
		{"408 is retried", func(n int) int { return map[bool]int{true: 408, false: 200}[n < 4] }, 4, secs(1, 2, 4), StateSent, 0, false},
		{"always 429", func(int) int { return 429 }, 5, secs(1, 2, 4, 8), StateDLQ, 429, false},
		{"a redirect is not followed", func(int) int { return 307 }, 5, secs(1, 2, 4, 8), StateDLQ, 307, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			o, keys := fill(t, 1)
			key := keys[0]
			rc, srv := newReceiver(t, clock, o, keys, func(_ string, n int) int { return tc.respond(n) })
			res, err := relayWith(t, o, srv.URL, clock)
			if got := rc.attempts(key); got != tc.attempts {
				t.Errorf("receiver saw %d attempts, want %d", got, tc.attempts)
			}
			if got := clock.Sleeps(); !reflect.DeepEqual(got, tc.sleeps) {
				t.Errorf("waits %v, want %v", got, tc.sleeps)
			}
			if got := states(t, o, keys)[key]; got != tc.state {
				t.Fatalf("entry is in %q, want %s", got, tc.state)
			}
			if tc.state == StateSent {
				if err != nil || !reflect.DeepEqual(res.Sent, keys) {
					t.Errorf("result %+v, %v", res, err)
				}
				return
			}
			var de *DeadLetteredError
			if !errors.As(err, &de) || exitcode.For(err) != exitcode.Delivery {
				t.Fatalf("error %v (exit %d), want dead letters (exit 6)", err, exitcode.For(err))
			}
			dl := readDeadLetter(t, o, key)
			if dl.Attempts != tc.attempts || dl.LastStatus != tc.status || dl.Permanent != tc.permanent {
				t.Errorf("dead letter attempts %d last_status %d permanent %v, want %d %d %v",
					dl.Attempts, dl.LastStatus, dl.Permanent, tc.attempts, tc.status, tc.permanent)
			}
			if !strings.Contains(dl.Reason, "webhook: POST "+srv.URL+": HTTP ") {
				t.Errorf("reason %q", dl.Reason)
			}
			if want := SentAt(clock.Now()); dl.LastAttemptAt != want {
				t.Errorf("last_attempt_at %s, want %s (the last attempt)", dl.LastAttemptAt, want)
			}
			body, _ := payloadBytes(dl.Payload)
			if string(body) != string(rc.bodies[key]) {
				t.Errorf("dead letter payload differs from the entry")
			}
			if len(res.DeadLettered) != 1 || res.DeadLettered[0].LastStatus != tc.status {
				t.Errorf("result %+v", res)
			}
		})
	}
}

// TestRelayBatch: one entry fails permanently, one needs retries, the rest
// go through; everything else is delivered before the run reports exit 6,
// and each entry's waits follow the schedule across rounds.
func TestRelayBatch(t *testing.T) {
	clock := newFakeClock()
	o, keys := fill(t, 5)
	bad, flaky := keys[1], keys[3]
	rc, srv := newReceiver(t, clock, o, keys, func(key string, n int) int {
		switch {
		case key == bad:
			return 410
		case key == flaky && n < 3:
			return 503
		}
		return 202
	})
	res, err := relayWith(t, o, srv.URL, clock)
	if exitcode.For(err) != exitcode.Delivery || !strings.Contains(err.Error(), "1 entry dead-lettered") {
		t.Fatalf("error %v", err)
	}
	if len(res.Sent) != 4 || len(res.DeadLettered) != 1 || res.DeadLettered[0].Key != bad {
		t.Errorf("result %+v", res)
	}
	for _, k := range keys {
		want := StateSent
		if k == bad {
			want = StateDLQ
		}
		if got := states(t, o, keys)[k]; got != want {
			t.Errorf("%s in %q, want %s", k, got, want)
		}
	}
	if rc.total != 4+1+2 {
		t.Errorf("receiver saw %d requests, want 7", rc.total)
	}
	if got := clock.Sleeps(); !reflect.DeepEqual(got, secs(1, 2)) {
		t.Errorf("waits %v", got)
	}
}

// TestRelayDeadPort: nobody listening is retried, then dead-lettered with
// last_status 0 and the connection error.
func TestRelayDeadPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/hook"
	ln.Close()
	clock := newFakeClock()
	o, keys := fill(t, 2)
	res, err := relayWith(t, o, url, clock)
	if exitcode.For(err) != exitcode.Delivery || len(res.DeadLettered) != 2 {
		t.Fatalf("%+v, %v", res, err)
	}
	dl := readDeadLetter(t, o, keys[0])
	if dl.Attempts != 5 || dl.LastStatus != 0 || !strings.Contains(dl.Reason, "connection refused") {
		t.Errorf("dead letter %+v", dl)
	}
	if got := clock.Sleeps(); !reflect.DeepEqual(got, secs(1, 2, 4, 8)) {
		t.Errorf("waits %v: the two entries share each round's wait", got)
	}
}

// TestRelayDLQRetry: dead letters go back to pending and are delivered.
func TestRelayDLQRetry(t *testing.T) {
	clock := newFakeClock()
	o, keys := fill(t, 2)
	fail := true
	_, srv := newReceiver(t, clock, o, keys, func(string, int) int {
		if fail {
			return 400
		}
		return 200
	})
	if _, err := relayWith(t, o, srv.URL, clock); exitcode.For(err) != exitcode.Delivery {
		t.Fatal(err)
	}
	fail = false
	// Without --dlq-retry nothing happens to dead letters.
	res, err := relayWith(t, o, srv.URL, clock)
	if err != nil || len(res.Sent) != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
	w, _ := NewWebhook(srv.URL, testSecret, time.Second, clock.Now)
	res, err = Relay(context.Background(), RelayConfig{Outbox: o, Transports: []Transport{w}, DLQRetry: true,
		RetryBase: time.Second, Now: clock.Now, Sleep: clock.Sleep})
	if err != nil || !reflect.DeepEqual(res.Requeued, keys) || !reflect.DeepEqual(res.Sent, keys) {
		t.Fatalf("%+v, %v", res, err)
	}
	for k, st := range states(t, o, keys) {
		if st != StateSent {
			t.Errorf("%s in %s", k, st)
		}
	}
}

// TestRelayLock: a second relay exits 5 at once, naming the holder, or
// waits for the first with LockWait.
func TestRelayLock(t *testing.T) {
	clock := newFakeClock()
	o, keys := fill(t, 1)
	_, srv := newReceiver(t, clock, o, keys, func(string, int) int { return 200 })
	held, err := o.acquireLock(context.Background(), 0, clock.Now, clock.Sleep)
	if err != nil {
		t.Fatal(err)
	}
	_, err = relayWith(t, o, srv.URL, clock)
	var le *LockedError
	if !errors.As(err, &le) || exitcode.For(err) != exitcode.Conflict || !strings.Contains(err.Error(), "is in use by another relay (pid ") {
		t.Fatalf("second relay: %v (exit %d), want the lock held (exit 5)", err, exitcode.For(err))
	}
	// With a wait that runs out (the fake clock moves on each poll).
	w, _ := NewWebhook(srv.URL, testSecret, time.Second, clock.Now)
	_, err = Relay(context.Background(), RelayConfig{Outbox: o, Transports: []Transport{w}, LockWait: time.Second,
		RetryBase: time.Second, Now: clock.Now, Sleep: clock.Sleep})
	if !errors.As(err, &le) {
		t.Fatalf("waited relay: %v", err)
	}
	if n := len(clock.Sleeps()); n != 10 {
		t.Errorf("polled %d times in a 1s wait, want 10", n)
	}
	// With a real wait, released meanwhile.
	go func() {
		time.Sleep(50 * time.Millisecond)
		held.release()
	}()
	res, err := Relay(context.Background(), RelayConfig{Outbox: o, Transports: []Transport{w}, LockWait: 10 * time.Second,
		RetryBase: time.Second})
	if err != nil || len(res.Sent) != 1 {
		t.Fatalf("relay after release: %+v, %v", res, err)
	}
}

// TestRelayInterrupted: a cancelled run leaves undelivered entries in
// pending/ and classifies as the signal.
func TestRelayInterrupted(t *testing.T) {
	clock := newFakeClock()
	o, keys := fill(t, 3)
	ctx, cancel := context.WithCancelCause(context.Background())
	_, srv := newReceiver(t, clock, o, keys, func(key string, _ int) int {
		if key == keys[0] {
			return 200
		}
		return 500
	})
	w, _ := NewWebhook(srv.URL, testSecret, time.Second, clock.Now)
	sleep := func(ctx context.Context, d time.Duration) error {
		cancel(exitcode.ErrInterrupted)
		return clock.Sleep(ctx, d)
	}
	_, err := Relay(ctx, RelayConfig{Outbox: o, Transports: []Transport{w}, RetryBase: time.Second, Now: clock.Now, Sleep: sleep})
	if exitcode.For(err) != exitcode.Interrupted || !strings.Contains(err.Error(), "2 entries left in pending/") {
		t.Fatalf("%v (exit %d)", err, exitcode.For(err))
	}
	got := states(t, o, keys)
	if got[keys[0]] != StateSent || got[keys[1]] != StatePending || got[keys[2]] != StatePending {
		t.Errorf("states %v", got)
	}
}

// TestRelayInvalidEntry: a pending file that is not a payload stays where
// it is (exit 3) and does not stop the others.
func TestRelayInvalidEntry(t *testing.T) {
	clock := newFakeClock()
	o, keys := fill(t, 1)
	_, srv := newReceiver(t, clock, o, keys, func(string, int) int { return 200 })
	bogus := strings.Repeat("ab", 32)
	if err := os.WriteFile(o.Path(StatePending, bogus), []byte("{\"type\":\"x\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := relayWith(t, o, srv.URL, clock)
	if exitcode.For(err) != exitcode.Invalid || !strings.Contains(err.Error(), bogus) {
		t.Fatalf("%v (exit %d)", err, exitcode.For(err))
	}
	if len(res.Sent) != 1 || len(res.Invalid) != 1 {
		t.Errorf("%+v", res)
	}
	if _, err := os.Stat(o.Path(StatePending, bogus)); err != nil {
		t.Errorf("invalid entry moved: %v", err)
	}
}
