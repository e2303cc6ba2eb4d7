package notify

import (
	"bytes"
	"context"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// TestEmitIdempotent: the same payload again changes nothing on disk and
// reports the existing entry, wherever it is; a different payload under the
// same key is a conflict (exit 5) naming the fields.
func TestEmitIdempotent(t *testing.T) {
	ctx := context.Background()
	o, keys := fill(t, 1)
	key := keys[0]
	path := o.Path(StatePending, key)
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := testPayload(0).Bytes()
	if got, _ := os.ReadFile(path); !bytes.Equal(got, body) {
		t.Fatalf("pending file:\n%s\nwant\n%s", got, body)
	}

	res, err := o.Emit(ctx, testPayload(0), true)
	if err != nil {
		t.Fatal(err)
	}
	want := &EmitResult{Key: key, State: StatePending, Path: path, Unchanged: true, Timeline: o.Path(TimelineDir, key)}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("re-emit: %+v, want %+v", res, want)
	}
	after, _ := os.Stat(path)
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("re-emit rewrote %s", path)
	}
	if tl, _ := os.ReadFile(o.Path(TimelineDir, key)); !bytes.Equal(tl, body) {
		t.Errorf("timeline mirror differs from the payload:\n%s", tl)
	}

	changed := testPayload(0)
	changed.ExpiresAt = "2026-11-20T00:00:00Z"
	changed.Metadata.SourceURI = "/elsewhere"
	_, err = o.Emit(ctx, changed, false)
	var ce *ConflictError
	if !errors.As(err, &ce) || exitcode.For(err) != exitcode.Conflict {
		t.Fatalf("different payload: %v, want a conflict (exit 5)", err)
	}
	if !reflect.DeepEqual(ce.Fields, []string{"expires_at", "metadata.source_uri"}) || ce.Path != path {
		t.Errorf("conflict %+v", ce)
	}

	// Once sent, and once dead-lettered, a re-emit still finds it.
	if err := o.markSent(key); err != nil {
		t.Fatal(err)
	}
	res, err = o.Emit(ctx, testPayload(0), false)
	if err != nil || res.State != StateSent || !res.Unchanged {
		t.Errorf("re-emit after sending: %+v, %v", res, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("re-emit after sending queued it again")
	}
	if _, err := o.Emit(ctx, changed, false); !errors.As(err, &ce) || ce.Path != o.Path(StateSent, key) {
		t.Errorf("different payload after sending: %v", err)
	}

	o2, keys2 := fill(t, 1)
	dl := &DeadLetter{Key: keys2[0], Type: EventType, Reason: "r", Attempts: 5, LastAttemptAt: "2025-11-20T10:00:00Z",
		Payload: body[:len(body)-1]}
	rec, _ := marshalDeadLetter(dl)
	if err := o2.deadLetter(keys2[0], rec); err != nil {
		t.Fatal(err)
	}
	res, err = o2.Emit(ctx, testPayload(0), false)
	if err != nil || res.State != StateDLQ || !res.Unchanged {
		t.Errorf("re-emit of a dead letter: %+v, %v", res, err)
	}
}

// TestRequeue: --dlq-retry puts back exactly the payload bytes.
func TestRequeue(t *testing.T) {
	o, keys := fill(t, 2)
	orig := map[string][]byte{}
	for _, k := range keys {
		orig[k], _ = os.ReadFile(o.Path(StatePending, k))
		rec, _ := marshalDeadLetter(&DeadLetter{Key: k, Type: EventType, Reason: "x", LastStatus: 500, Attempts: 5,
			LastAttemptAt: "2025-11-20T10:00:00Z", Payload: orig[k][:len(orig[k])-1]})
		if err := o.deadLetter(k, rec); err != nil {
			t.Fatal(err)
		}
	}
	if got := states(t, o, keys); got[keys[0]] != StateDLQ || got[keys[1]] != StateDLQ {
		t.Fatalf("states %v", got)
	}
	done, err := o.requeue(context.Background())
	if err != nil || !reflect.DeepEqual(done, keys) {
		t.Fatalf("requeue: %v, %v", done, err)
	}
	for _, k := range keys {
		if got, _ := os.ReadFile(o.Path(StatePending, k)); !bytes.Equal(got, orig[k]) {
			t.Errorf("%s: requeued bytes differ:\n%s\nwant\n%s", k, got, orig[k])
		}
	}
	if got := states(t, o, keys); got[keys[0]] != StatePending || got[keys[1]] != StatePending {
		t.Errorf("states after requeue %v", got)
	}
}
