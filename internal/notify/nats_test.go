package notify

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// startNATS runs an embedded NATS server with JetStream on a free loopback
// port and creates the given streams (name -> subject).
func startNATS(t *testing.T, streams map[string]string) (string, jetstream.JetStream) {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for name, subject := range streams {
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
			Name: name, Subjects: []string{subject}, Duplicates: time.Hour,
		}); err != nil {
			t.Fatal(err)
		}
	}
	return s.ClientURL(), js
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func natsRelay(t *testing.T, o Outbox, url string, clock *fakeClock) (*RelayResult, error) {
	t.Helper()
	n, err := NewNATS(url, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	return Relay(context.Background(), RelayConfig{Outbox: o, Transports: []Transport{n},
		RetryBase: time.Millisecond, Now: clock.Now, Sleep: clock.Sleep})
}

// TestNATSReplayDoesNotDuplicate: every entry is published once with
// Nats-Msg-Id = key; a relay that re-sends them all (as after a crash
// between publishing and moving to sent/) adds no message to the stream.
func TestNATSReplayDoesNotDuplicate(t *testing.T) {
	url, js := startNATS(t, map[string]string{"READY": EventType})
	clock := newFakeClock()
	o, keys := fill(t, 3)
	res, err := natsRelay(t, o, url, clock)
	if err != nil || len(res.Sent) != 3 {
		t.Fatalf("%+v, %v", res, err)
	}
	if n := streamMsgs(t, js, "READY"); n != 3 {
		t.Fatalf("stream has %d messages, want 3", n)
	}
	// Check one message: the body is the payload, the id is the key.
	st, _ := js.Stream(context.Background(), "READY")
	m, err := st.GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	sent, _ := os.ReadFile(o.Path(StateSent, keys[0]))
	if m.Header.Get("Nats-Msg-Id") != keys[0] || string(m.Data) != string(sent) || m.Subject != EventType {
		t.Errorf("message %s id %q data %s", m.Subject, m.Header.Get("Nats-Msg-Id"), m.Data)
	}

	// Replay: put every sent entry back into pending/.
	for _, k := range keys {
		if err := os.Rename(o.Path(StateSent, k), o.Path(StatePending, k)); err != nil {
			t.Fatal(err)
		}
	}
	res, err = natsRelay(t, o, url, clock)
	if err != nil || len(res.Sent) != 3 {
		t.Fatalf("replay: %+v, %v", res, err)
	}
	if n := streamMsgs(t, js, "READY"); n != 3 {
		t.Errorf("after the replay the stream has %d messages, want still 3", n)
	}
	for k, st := range states(t, o, keys) {
		if st != StateSent {
			t.Errorf("%s in %s", k, st)
		}
	}
}

// TestNATSDeadLetters: with no stream for the event subject every publish
// fails; after 5 attempts each entry is dead-lettered to dlq/ and its record
// published on export.airgap.ready.dlq.
func TestNATSDeadLetters(t *testing.T) {
	url, js := startNATS(t, map[string]string{"READY_DLQ": DLQSubject})
	clock := newFakeClock()
	o, keys := fill(t, 2)
	res, err := natsRelay(t, o, url, clock)
	if exitcode.For(err) != exitcode.Delivery || len(res.DeadLettered) != 2 {
		t.Fatalf("%+v, %v", res, err)
	}
	if n := streamMsgs(t, js, "READY_DLQ"); n != 2 {
		t.Fatalf("DLQ stream has %d messages, want 2", n)
	}
	st, _ := js.Stream(context.Background(), "READY_DLQ")
	for i, k := range keys {
		m, err := st.GetMsg(context.Background(), uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		var dl DeadLetter
		if err := json.Unmarshal(m.Data, &dl); err != nil {
			t.Fatal(err)
		}
		file, _ := os.ReadFile(o.Path(StateDLQ, k))
		if dl.Key != k || dl.Attempts != MaxAttempts || dl.LastStatus != 0 || string(file) != string(m.Data) {
			t.Errorf("DLQ message %d: %s\nfile: %s", i, m.Data, file)
		}
		if want := "no JetStream stream captures subject " + EventType; !strings.Contains(dl.Reason, want) {
			t.Errorf("reason %q, want %q in it", dl.Reason, want)
		}
	}
}

// TestNATSUnreachable: a server that is down is retried like any failed
// delivery, then dead-lettered.
func TestNATSUnreachable(t *testing.T) {
	clock := newFakeClock()
	o, keys := fill(t, 1)
	res, err := natsRelay(t, o, "nats://127.0.0.1:1", clock)
	if exitcode.For(err) != exitcode.Delivery || len(res.DeadLettered) != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	if dl := readDeadLetter(t, o, keys[0]); dl.Attempts != MaxAttempts || !strings.Contains(dl.Reason, "nats: connect nats://127.0.0.1:1") {
		t.Errorf("dead letter %+v", dl)
	}
}
