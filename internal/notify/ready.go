package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"time"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/verify"
)

// Notifications of `run` exports (docs/notifications.md#export-ready), for
// every profile but the portable one, which keeps EventType. The type is
// the webhook's X-Stella-Event-Type and the NATS subject.
const (
	// ReadyType announces a completed run bundle.
	ReadyType = "export.ready.v1"
	// FailedType announces a run that failed, with its stable error code.
	FailedType = "export.failed.v1"
)

// Entry is what an outbox holds: canonical JSON bytes under an
// idempotency key.
type Entry interface {
	Key() string
	Bytes() ([]byte, error)
}

// Ready is the export.ready.v1 payload of a completed run bundle. Its
// canonical JSON and one LF is the notification body; its idempotency key
// is Key(ReadyType, ExportID, ArtifactSHA256), so `run --outbox` and `emit`
// of the same bundle queue the same entry.
type Ready struct {
	Type      string `json:"type"`
	ExportID  string `json:"export_id"`
	TenantID  string `json:"tenant_id"`
	ProfileID string `json:"profile_id"`
	// RootHash is the bundle's Merkle root (line 1 of checksums.txt).
	RootHash string `json:"root_hash"`
	// ArtifactSHA256 is the bare hex SHA-256 of the bundle .tgz.
	ArtifactSHA256 string        `json:"artifact_sha256"`
	CreatedAt      string        `json:"created_at"`
	ExpiresAt      string        `json:"expires_at,omitempty"`
	Metadata       ReadyMetadata `json:"metadata"`
}

// ReadyMetadata are the counts and sizes of a ready export.
type ReadyMetadata struct {
	// Counts are export.json's counts (documents or records per kind).
	Counts       map[string]int `json:"counts"`
	FileCount    int            `json:"file_count"`
	PayloadBytes int64          `json:"payload_bytes"`
	// ExportSizeBytes is the size of the bundle .tgz.
	ExportSizeBytes int64 `json:"export_size_bytes"`
	// CorrelationID is the run's --correlation-id, when one was given.
	CorrelationID string `json:"correlation_id,omitempty"`
	// Log names the export's entry in a transparency log, when the run
	// appended it to one (run --log).
	Log *ReadyLog `json:"log,omitempty"`
}

// ReadyLog is an export's entry in a transparency log: its index and the
// signed checkpoint its inclusion was proven against, so that a receiver
// can hold the producer to that history (stella-export verify
// --checkpoint).
type ReadyLog struct {
	Index      uint64 `json:"index"`
	Checkpoint string `json:"checkpoint"`
}

// Key returns r's idempotency key.
func (r *Ready) Key() string { return Key(r.Type, r.ExportID, r.ArtifactSHA256) }

// Bytes returns r as canonical JSON and one LF.
func (r *Ready) Bytes() ([]byte, error) { return canonjson.MarshalLine(r) }

// NewReady builds the export.ready.v1 payload of a run bundle from its
// export.json, root, SHA-256 (bare hex) and size.
func NewReady(m *manifest.Run, root, sha string, size int64, correlationID string) *Ready {
	counts := m.Counts
	if counts == nil {
		counts = map[string]int{}
	}
	return &Ready{Type: ReadyType, ExportID: m.ExportID, TenantID: m.Tenant, ProfileID: m.Profile,
		RootHash: root, ArtifactSHA256: sha, CreatedAt: m.CreatedAtUTC, ExpiresAt: m.ExpiresAtUTC,
		Metadata: ReadyMetadata{Counts: counts, FileCount: m.FileCount, PayloadBytes: m.PayloadBytes,
			ExportSizeBytes: size, CorrelationID: correlationID}}
}

// Failed is the export.failed.v1 payload of a run that failed. Its
// idempotency key is Key(FailedType, ExportID, hex SHA-256 of its bytes):
// the same failure is queued once.
type Failed struct {
	Type      string `json:"type"`
	ExportID  string `json:"export_id"`
	TenantID  string `json:"tenant_id"`
	ProfileID string `json:"profile_id"`
	// ErrorCode is the stable code (docs/format.md#error-codes), Exit the
	// exit code and Message the one-line error.
	ErrorCode string         `json:"error_code"`
	Exit      int            `json:"exit"`
	Message   string         `json:"message"`
	Metadata  FailedMetadata `json:"metadata"`
}

// FailedMetadata are a failure's descriptive fields.
type FailedMetadata struct {
	CorrelationID string `json:"correlation_id,omitempty"`
}

// maxMessage bounds Failed.Message (a token of the outbox).
const maxMessage = 1024

// NewFailed builds the export.failed.v1 payload of a run of exportID that
// failed with err (message is its one-line form).
func NewFailed(exportID, tenant, profile string, err error, message, correlationID string) *Failed {
	return &Failed{Type: FailedType, ExportID: exportID, TenantID: tenant, ProfileID: profile,
		ErrorCode: exitcode.Name(err), Exit: exitcode.For(err), Message: clipString(message, maxMessage),
		Metadata: FailedMetadata{CorrelationID: correlationID}}
}

// Key returns f's idempotency key.
func (f *Failed) Key() string {
	b, _ := f.Bytes()
	sum := sha256.Sum256(b)
	return Key(f.Type, f.ExportID, hex.EncodeToString(sum[:]))
}

// Bytes returns f as canonical JSON and one LF.
func (f *Failed) Bytes() ([]byte, error) { return canonjson.MarshalLine(f) }

// Queue puts e into the outbox as pending/<key>.json, as Emit does: the
// same bytes under an existing key change nothing, different bytes are a
// *ConflictError (exit 5).
func (o Outbox) Queue(ctx context.Context, e Entry) (*EmitResult, error) {
	body, err := e.Bytes()
	if err != nil {
		return nil, err
	}
	if len(body) > MaxEntry {
		return nil, exitcode.Invalidf("notification of %d bytes: an outbox entry holds at most %d", len(body), MaxEntry)
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	return o.put(e.Key(), body)
}

// Announce verifies the bundle read from r and builds its notification:
// export.airgap.ready.v1 (a *Payload) for a portable export,
// export.ready.v1 (a *Ready) for a `run` bundle. A directory bundle of
// `package` is a *ProfileError (exit 3). opt.ArtifactURI applies to the
// portable payload only; for a run bundle it is refused (exit 2).
func Announce(ctx context.Context, r io.Reader, name string, opt BuildOptions, correlationID string) (Entry, *verify.Report, error) {
	rep, sc, size, err := verifyBundle(ctx, r, name, opt)
	if err != nil {
		return nil, rep, err
	}
	switch rep.Profile {
	case manifest.ProfilePortable:
		p, err := portablePayload(name, rep, sc, size, opt)
		return p, rep, err
	case manifest.ProfileDirectory, "":
		return nil, rep, &ProfileError{Name: name, Profile: rep.Profile}
	}
	if opt.ArtifactURI != "" {
		return nil, rep, exitcode.Usagef("--artifact-uri: %s is a run bundle; export.ready.v1 has no artifact_uri", name)
	}
	var m manifest.Run
	if err := json.Unmarshal(sc.manifest.Bytes(), &m); err != nil {
		return nil, rep, exitcode.Invalidf("%s: export.json: %v", name, err)
	}
	for _, f := range []struct{ field, v string }{{"exportId", m.ExportID}, {"tenant", m.Tenant}} {
		if f.v == "" {
			return nil, rep, exitcode.Invalidf("%s: export.json: %s: missing", name, f.field)
		}
		if err := safefile.CheckToken(name+": export.json: "+f.field, f.v); err != nil {
			return nil, rep, err
		}
	}
	if !opt.CreatedAt.IsZero() {
		m.CreatedAtUTC = manifest.Timestamp(opt.CreatedAt)
	}
	created, err := time.Parse(time.RFC3339, m.CreatedAtUTC)
	if err != nil || manifest.Timestamp(created) != m.CreatedAtUTC {
		return nil, rep, exitcode.Invalidf("%s: export.json: createdAtUtc: %q is not an RFC 3339 UTC time in whole seconds", name, clipString(m.CreatedAtUTC, 80))
	}
	if !opt.ExpiresAt.IsZero() {
		m.ExpiresAtUTC = manifest.Timestamp(opt.ExpiresAt)
	}
	if m.ExpiresAtUTC != "" {
		t, err := time.Parse(time.RFC3339, m.ExpiresAtUTC)
		if err != nil || manifest.Timestamp(t) != m.ExpiresAtUTC {
			return nil, rep, exitcode.Invalidf("%s: export.json: expiresAtUtc: %q is not an RFC 3339 UTC time in whole seconds", name, clipString(m.ExpiresAtUTC, 80))
		}
		if !t.After(created) {
			return nil, rep, &ExpiryError{ExpiresAt: m.ExpiresAtUTC, CreatedAt: m.CreatedAtUTC}
		}
	}
	return NewReady(&m, rep.Root, rep.SHA256, size, correlationID), rep, nil
}

// parseEntry checks body, the pending entry path, as exactly the canonical
// JSON of v (no member missing or unknown, strings of at most
// safefile.MaxToken bytes, checked by tokens) whose key is the file name.
func parseEntry(path, key string, body []byte, v Entry, tokens func() map[string]string) error {
	c, err := canonjson.Canonicalize(bytes.TrimSuffix(body, []byte("\n")))
	if err != nil {
		return exitcode.Invalidf("%s: not a notification: %v", path, err)
	}
	if !bytes.Equal(append(c, '\n'), body) {
		return exitcode.Invalidf("%s: not canonical JSON (RFC 8785 and one LF)", path)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return exitcode.Invalidf("%s: not a notification: %v", path, err)
	}
	for name, s := range tokens() {
		if err := safefile.CheckToken(path+": "+name, s); err != nil {
			return err
		}
	}
	if got := v.Key(); got != key {
		return exitcode.Invalidf("%s: the file name is not the notification's idempotency key %s", path, got)
	}
	if b, err := v.Bytes(); err != nil || !bytes.Equal(b, body) {
		return exitcode.Invalidf("%s: not a notification: members are missing", path)
	}
	return nil
}

// ParseReady checks body, the pending entry path, as an export.ready.v1
// payload (exit 3 naming path when it is not).
func ParseReady(path, key string, body []byte) (*Ready, error) {
	var r Ready
	err := parseEntry(path, key, body, &r, func() map[string]string {
		t := map[string]string{"export_id": r.ExportID, "tenant_id": r.TenantID, "profile_id": r.ProfileID,
			"root_hash": r.RootHash, "artifact_sha256": r.ArtifactSHA256, "created_at": r.CreatedAt,
			"expires_at": r.ExpiresAt, "metadata.correlation_id": r.Metadata.CorrelationID}
		if r.Metadata.Log != nil {
			t["metadata.log.checkpoint"] = r.Metadata.Log.Checkpoint
		}
		return t
	})
	if err != nil {
		return nil, err
	}
	if r.Type != ReadyType {
		return nil, exitcode.Invalidf("%s: type: %q is not %s", path, clipString(r.Type, 80), ReadyType)
	}
	return &r, nil
}

// ParseFailed checks body, the pending entry path, as an export.failed.v1
// payload (exit 3 naming path when it is not).
func ParseFailed(path, key string, body []byte) (*Failed, error) {
	var f Failed
	err := parseEntry(path, key, body, &f, func() map[string]string {
		return map[string]string{"export_id": f.ExportID, "tenant_id": f.TenantID, "profile_id": f.ProfileID,
			"error_code": f.ErrorCode, "message": f.Message, "metadata.correlation_id": f.Metadata.CorrelationID}
	})
	if err != nil {
		return nil, err
	}
	if f.Type != FailedType {
		return nil, exitcode.Invalidf("%s: type: %q is not %s", path, clipString(f.Type, 80), FailedType)
	}
	return &f, nil
}
