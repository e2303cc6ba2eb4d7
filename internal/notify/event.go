package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// Dataset event types (docs/dataset.md#outbox): what a DatasetExport run
// and purge put in the outbox, delivered by the relay like the ready
// notification (the type is the webhook's X-Stella-Event-Type and the NATS
// subject).
const (
	EventLedger   = "stella.dataset.consent-ledger.v1"
	EventLineage  = "stella.dataset.lineage.v1"
	EventAudit    = "stella.dataset.audit.v1"
	EventDelivery = "stella.dataset.delivery.v1"
	EventPurge    = "stella.dataset.purge.v1"
)

// EventDistribution records one distribution of any export (an
// object-store write, a local delivery, a publish): its data is a
// distributions.json entry (docs/distribution.md#distribution-records).
// It travels through the outbox like the dataset events.
const EventDistribution = "stella.export.distribution.v1"

// EventTypes lists the event types an outbox entry may carry besides the
// ready notification.
var EventTypes = []string{EventLedger, EventLineage, EventAudit, EventDelivery, EventPurge, EventDistribution}

const eventPrefix = "stella.dataset."

// Event is a dataset event: an envelope of canonical JSON around the
// document it carries (data). Its idempotency key is Key(type, export_id,
// hex SHA-256 of data's canonical JSON): the same document is queued once.
type Event struct {
	Type      string          `json:"type"`
	ExportID  string          `json:"export_id"`
	TenantID  string          `json:"tenant_id"`
	CreatedAt string          `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// NewEvent wraps data (any JSON object) in an event; data is made
// canonical.
func NewEvent(typ, exportID, tenant, createdAt string, data any) (*Event, error) {
	b, err := canonjson.Marshal(data)
	if err != nil {
		return nil, err
	}
	return &Event{Type: typ, ExportID: exportID, TenantID: tenant, CreatedAt: createdAt, Data: b}, nil
}

// Key returns the event's idempotency key.
func (e *Event) Key() string {
	sum := sha256.Sum256(e.Data)
	return Key(e.Type, e.ExportID, hex.EncodeToString(sum[:]))
}

// Bytes returns the event as canonical JSON and one LF.
func (e *Event) Bytes() ([]byte, error) { return canonjson.MarshalLine(e) }

// Put queues e as pending/<key>.json, as Emit queues a notification: an
// existing entry with the same bytes is left as it is; different bytes
// under the same key are a *ConflictError (exit 5).
func (o Outbox) Put(ctx context.Context, e *Event) (*EmitResult, error) {
	body, err := e.Bytes()
	if err != nil {
		return nil, err
	}
	if len(body) > MaxEntry {
		return nil, exitcode.Invalidf("%s event of %s: %d bytes, an outbox entry holds at most %d", e.Type, e.ExportID, len(body), MaxEntry)
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	return o.put(e.Key(), body)
}

// isEvent says whether an entry's body is a dataset or distribution event
// (by its type member, without parsing the whole entry).
func isEvent(body []byte) bool {
	t := entryType(body)
	return strings.HasPrefix(t, eventPrefix) || t == EventDistribution
}

// entryType returns the type member of an entry's body, "" when it has
// none.
func entryType(body []byte) string {
	var head struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &head) != nil {
		return ""
	}
	return head.Type
}

// ParseEvent checks body, the pending entry path, as an event: canonical
// JSON and one LF, exactly the members of Event, a known type, strings of
// at most safefile.MaxToken bytes, data a JSON object, key the file name.
// Anything else is exit 3 naming path.
func ParseEvent(path, key string, body []byte) (*Event, error) {
	c, err := canonjson.Canonicalize(bytes.TrimSuffix(body, []byte("\n")))
	if err != nil {
		return nil, exitcode.Invalidf("%s: not an event: %v", path, err)
	}
	if !bytes.Equal(append(c, '\n'), body) {
		return nil, exitcode.Invalidf("%s: not canonical JSON (RFC 8785 and one LF)", path)
	}
	var e Event
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, exitcode.Invalidf("%s: not an event: %v", path, err)
	}
	if !slices.Contains(EventTypes, e.Type) {
		return nil, exitcode.Invalidf("%s: type: %q is not a known event type", path, clipString(e.Type, 80))
	}
	for _, f := range []struct{ name, v string }{{"export_id", e.ExportID}, {"tenant_id", e.TenantID}, {"created_at", e.CreatedAt}} {
		if err := safefile.CheckToken(path+": "+f.name, f.v); err != nil {
			return nil, err
		}
	}
	if len(e.Data) == 0 || e.Data[0] != '{' {
		return nil, exitcode.Invalidf("%s: data: not a JSON object", path)
	}
	if got := e.Key(); got != key {
		return nil, exitcode.Invalidf("%s: the file name is not the event's idempotency key %s", path, got)
	}
	if b, err := e.Bytes(); err != nil || !bytes.Equal(b, body) {
		return nil, exitcode.Invalidf("%s: not an event: members are missing", path)
	}
	return &e, nil
}
