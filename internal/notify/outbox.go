package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// States of an outbox entry; each is a directory of <key>.json files.
const (
	StatePending = "pending"
	StateSent    = "sent"
	StateDLQ     = "dlq"
	// TimelineDir holds the timeline.export.airgap.ready mirrors that
	// Emit writes with EmitOptions.Timeline.
	TimelineDir = "timeline"
)

// Outbox is a directory of notifications:
//
//	<dir>/pending/<key>.json   payload bytes, waiting for the relay
//	<dir>/sent/<key>.json      payload bytes, delivered
//	<dir>/dlq/<key>.json       a DeadLetter record (payload inside)
//	<dir>/timeline/<key>.json  the timeline mirror (payload bytes)
//	<dir>/relay.lock           held by a running relay
//
// Every file appears whole or not at all (temporary file and rename).
type Outbox struct{ Dir string }

// Path returns the file of key in state (a directory name above).
func (o Outbox) Path(state, key string) string {
	return filepath.Join(o.Dir, state, key+".json")
}

func (o Outbox) init(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(o.Dir, d), 0o755); err != nil {
			return fmt.Errorf("outbox %s: %w", o.Dir, err)
		}
	}
	return nil
}

// DeadLetter is the record in dlq/<key>.json and on the DLQ subject.
type DeadLetter struct {
	Key  string `json:"key"`
	Type string `json:"type"`
	// Reason is the last error of every transport that failed.
	Reason string `json:"reason"`
	// LastStatus is the HTTP status of the last failed webhook response,
	// 0 when there was none (connection refused, timeout, NATS error).
	LastStatus    int    `json:"last_status"`
	Attempts      int    `json:"attempts"`
	LastAttemptAt string `json:"last_attempt_at"`
	// Permanent is true when a permanent error (a 4xx other than 408 and
	// 429) stopped the retries early.
	Permanent bool            `json:"permanent"`
	Payload   json.RawMessage `json:"payload"`
}

// EmitResult says where an emitted payload is.
type EmitResult struct {
	Key       string `json:"key"`
	State     string `json:"state"` // pending, sent or dlq
	Path      string `json:"path"`
	Unchanged bool   `json:"unchanged"` // the entry existed already
	Timeline  string `json:"timeline,omitempty"`
}

// ConflictError says the outbox holds a different payload under the same
// idempotency key (same type, export and artifact).
type ConflictError struct {
	Path   string
	Fields []string // top-level payload fields that differ
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s holds a different payload for the same export and artifact (%s differs)", e.Path, strings.Join(e.Fields, ", "))
}

func (e *ConflictError) Unwrap() error { return exitcode.ErrConflict }

// Emit puts p into the outbox as pending/<key>.json. When an entry with the
// same key exists in pending/, sent/ or dlq/ with the same payload nothing
// is written and the result says where it is; a different payload is a
// *ConflictError (exit 5). With timeline, the timeline mirror is written
// too (or checked, when it exists).
func (o Outbox) Emit(ctx context.Context, p *Payload, timeline bool) (*EmitResult, error) {
	body, err := p.Bytes()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	key := p.Key()
	extra := []string{}
	if timeline {
		extra = append(extra, TimelineDir)
	}
	res, err := o.put(key, body, extra...)
	if err != nil {
		return nil, err
	}
	if timeline {
		path := o.Path(TimelineDir, key)
		if err := putOnce(path, body); err != nil {
			return nil, err
		}
		res.Timeline = path
	}
	return res, nil
}

// put writes body as pending/<key>.json unless an entry of key exists in
// pending/, sent/ or dlq/: with the same bytes nothing is written and the
// result says where it is; different bytes are a *ConflictError (exit 5).
// dirs are more directories to create.
func (o Outbox) put(key string, body []byte, dirs ...string) (*EmitResult, error) {
	if err := o.init(append([]string{StatePending, StateSent, StateDLQ}, dirs...)...); err != nil {
		return nil, err
	}
	res := &EmitResult{Key: key}
	for attempt := 0; ; attempt++ {
		state, path, err := o.find(key, body)
		if err != nil {
			return nil, err
		}
		if state != "" {
			res.State, res.Path, res.Unchanged = state, path, true
			return res, nil
		}
		path = o.Path(StatePending, key)
		err = writeNew(path, body)
		var exists *atomicfile.ExistsError
		if errors.As(err, &exists) && attempt == 0 {
			continue // a concurrent emit won: compare with what it wrote
		}
		if err != nil {
			return nil, err
		}
		res.State, res.Path = StatePending, path
		return res, nil
	}
}

// find looks for key in every state and compares its payload with body.
func (o Outbox) find(key string, body []byte) (state, path string, err error) {
	for _, st := range []string{StatePending, StateSent, StateDLQ} {
		path := o.Path(st, key)
		got, err := o.readPayload(st, key)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", "", err
		}
		if !bytes.Equal(got, body) {
			return "", "", &ConflictError{Path: path, Fields: diffFields(got, body)}
		}
		return st, path, nil
	}
	return "", "", nil
}

// MaxEntry bounds every outbox file read. A payload is a few KiB (each of
// its strings is at most safefile.MaxToken bytes); a dead-letter record
// adds a reason of a few hundred bytes.
const MaxEntry = 1 << 20

// readEntry reads an outbox file: a regular file (not a symbolic link, FIFO
// or directory, refused without blocking, exit 3) of at most MaxEntry bytes.
func readEntry(path string) ([]byte, error) {
	f, err := safefile.OpenNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return safefile.ReadFrom(f, path, MaxEntry)
}

// readPayload returns the payload bytes of key in state: the file itself,
// or the payload inside a dead-letter record.
func (o Outbox) readPayload(state, key string) ([]byte, error) {
	path := o.Path(state, key)
	b, err := readEntry(path)
	if err != nil {
		return nil, err
	}
	if state != StateDLQ {
		return b, nil
	}
	dl, err := parseDeadLetter(path, b)
	if err != nil {
		return nil, err
	}
	return payloadBytes(dl.Payload)
}

func parseDeadLetter(path string, b []byte) (*DeadLetter, error) {
	var dl DeadLetter
	if err := json.Unmarshal(b, &dl); err != nil {
		return nil, exitcode.Invalidf("%s: not a dead-letter record: %v", path, err)
	}
	if len(dl.Payload) == 0 {
		return nil, exitcode.Invalidf("%s: payload: missing", path)
	}
	return &dl, nil
}

func payloadBytes(raw json.RawMessage) ([]byte, error) {
	c, err := canonjson.Canonicalize(raw)
	if err != nil {
		return nil, err
	}
	return append(c, '\n'), nil
}

// diffFields names the top-level fields (metadata.* one level down) in
// which two payloads differ.
func diffFields(a, b []byte) []string {
	var ma, mb map[string]json.RawMessage
	if json.Unmarshal(a, &ma) != nil || json.Unmarshal(b, &mb) != nil {
		return []string{"the whole document"}
	}
	var out []string
	for _, k := range unionKeys(ma, mb) {
		if k == "metadata" {
			var sa, sb map[string]json.RawMessage
			if json.Unmarshal(ma[k], &sa) == nil && json.Unmarshal(mb[k], &sb) == nil {
				for _, s := range unionKeys(sa, sb) {
					if !bytes.Equal(sa[s], sb[s]) {
						out = append(out, "metadata."+s)
					}
				}
				continue
			}
		}
		if !bytes.Equal(ma[k], mb[k]) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		out = []string{"formatting"}
	}
	return out
}

func unionKeys(a, b map[string]json.RawMessage) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// writeNew writes path atomically; it never replaces an existing file.
func writeNew(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o644, false)
}

// writeReplace writes path atomically, replacing what was there.
func writeReplace(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o644, true)
}

// putOnce writes data to path unless it exists; an existing file must hold
// the same bytes.
func putOnce(path string, data []byte) error {
	err := writeNew(path, data)
	var exists *atomicfile.ExistsError
	if !errors.As(err, &exists) {
		return err
	}
	got, rerr := readEntry(path)
	if rerr != nil {
		return rerr
	}
	if !bytes.Equal(got, data) {
		return &ConflictError{Path: path, Fields: diffFields(got, data)}
	}
	return nil
}

// Keys lists the keys in state, sorted. Files whose names are not
// "<key>.json" (temporary files, notes) are ignored; one with such a name
// is listed whatever it is, so that a symbolic link, FIFO or directory
// there is refused when it is read rather than skipped in silence.
func (o Outbox) Keys(state string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(o.Dir, state))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", o.Dir, err)
	}
	var keys []string
	for _, e := range ents {
		k, ok := strings.CutSuffix(e.Name(), ".json")
		if ok && ValidKey(k) {
			keys = append(keys, k)
		}
	}
	return keys, nil // os.ReadDir sorts by name
}

// loadPending reads pending/<key>.json: a regular file of at most MaxEntry
// bytes that ParsePending accepts.
func (o Outbox) loadPending(key string) (string, []byte, error) {
	path := o.Path(StatePending, key)
	body, err := readEntry(path)
	if err != nil {
		return "", nil, err
	}
	if isEvent(body) {
		e, err := ParseEvent(path, key, body)
		if err != nil {
			return "", nil, err
		}
		return e.Type, body, nil
	}
	switch entryType(body) {
	case ReadyType:
		if _, err := ParseReady(path, key, body); err != nil {
			return "", nil, err
		}
		return ReadyType, body, nil
	case FailedType:
		if _, err := ParseFailed(path, key, body); err != nil {
			return "", nil, err
		}
		return FailedType, body, nil
	}
	p, err := ParsePending(path, key, body)
	if err != nil {
		return "", nil, err
	}
	return p.Type, body, nil
}

// ParsePending checks body, the content of the pending entry path, and
// returns its payload. body must be exactly what Emit writes: the
// canonical JSON of a Payload (every field present, none unknown, strings
// of at most safefile.MaxToken bytes) and one LF, of type EventType, whose
// idempotency key is key (the file name). Anything else is an
// invalid-input error (exit 3) naming path.
func ParsePending(path, key string, body []byte) (*Payload, error) {
	c, err := canonjson.Canonicalize(bytes.TrimSuffix(body, []byte("\n")))
	if err != nil {
		return nil, exitcode.Invalidf("%s: not a notification payload: %v", path, err)
	}
	if !bytes.Equal(append(c, '\n'), body) {
		return nil, exitcode.Invalidf("%s: not canonical JSON (RFC 8785 and one LF)", path)
	}
	var p Payload
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, exitcode.Invalidf("%s: not a notification payload: %v", path, err)
	}
	if p.Type != EventType {
		return nil, exitcode.Invalidf("%s: type: %q is not %s", path, clipString(p.Type, 80), EventType)
	}
	for _, f := range []struct{ name, v string }{
		{"export_id", p.ExportID}, {"bundle_id", p.BundleID}, {"tenant_id", p.TenantID},
		{"profile_id", p.ProfileID}, {"portable_version", p.PortableVersion}, {"root_hash", p.RootHash},
		{"artifact_uri", p.ArtifactURI}, {"artifact_sha256", p.ArtifactSHA256}, {"created_at", p.CreatedAt},
		{"expires_at", p.ExpiresAt}, {"metadata.source_uri", p.Metadata.SourceURI},
	} {
		if err := safefile.CheckToken(path+": "+f.name, f.v); err != nil {
			return nil, err
		}
	}
	if got := p.Key(); got != key {
		return nil, exitcode.Invalidf("%s: the file name is not the payload's idempotency key %s", path, got)
	}
	// Missing fields decode as zero values; the payload must give back the
	// very bytes that will be sent.
	if b, err := p.Bytes(); err != nil || !bytes.Equal(b, body) {
		return nil, exitcode.Invalidf("%s: not a notification payload: fields are missing (emit writes every field)", path)
	}
	return &p, nil
}

// markSent moves pending/<key>.json to sent/ and drops a stale dead letter
// of the same key (left by a crash between writing it and removing the
// pending entry).
func (o Outbox) markSent(key string) error {
	if err := os.Rename(o.Path(StatePending, key), o.Path(StateSent, key)); err != nil {
		return fmt.Errorf("move %s to sent: %w", key, err)
	}
	syncDir(filepath.Join(o.Dir, StateSent))
	syncDir(filepath.Join(o.Dir, StatePending))
	if err := os.Remove(o.Path(StateDLQ, key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func marshalDeadLetter(dl *DeadLetter) ([]byte, error) { return canonjson.MarshalLine(dl) }

// deadLetter writes record (a marshalled DeadLetter) to dlq/<key>.json, then
// removes the pending entry.
func (o Outbox) deadLetter(key string, record []byte) error {
	if err := writeReplace(o.Path(StateDLQ, key), record); err != nil {
		return err
	}
	if err := os.Remove(o.Path(StatePending, key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	syncDir(filepath.Join(o.Dir, StatePending))
	return nil
}

// requeue moves every dead letter back to pending/ (the payload alone) and
// returns their keys.
func (o Outbox) requeue(ctx context.Context) ([]string, error) {
	keys, err := o.Keys(StateDLQ)
	if err != nil {
		return nil, err
	}
	var done []string
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return done, context.Cause(ctx)
		}
		body, err := o.readPayload(StateDLQ, key)
		if err != nil {
			return done, err
		}
		if err := putOnce(o.Path(StatePending, key), body); err != nil {
			return done, err
		}
		if err := os.Remove(o.Path(StateDLQ, key)); err != nil {
			return done, err
		}
		done = append(done, key)
	}
	syncDir(filepath.Join(o.Dir, StateDLQ))
	return done, nil
}

func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
