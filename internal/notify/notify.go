// Package notify announces finished portable evidence exports with the
// ready notification v1 (docs/format.md#notifications) through a file
// outbox that a relay delivers later.
//
// On the disconnected side Emit verifies an export-portable-bundle-v1.tgz
// and writes its export.airgap.ready.v1 payload, canonical JSON, to
// <outbox>/pending/<key>.json. On the connected side Relay delivers every
// pending entry to an HMAC-signed webhook and/or a NATS JetStream subject,
// with up to MaxAttempts attempts, and moves it to sent/ after a successful
// delivery or to dlq/ (with the reason) when it gave up. The guarantee is
// at-least-once: an entry leaves pending/ only after it was delivered or
// dead-lettered, so a relay killed at any moment re-sends on its next run,
// and receivers deduplicate by the idempotency key:
//
//	printf 'export.airgap.ready.v1\n%s\n%s' "$EXPORT_ID" "$ARTIFACT_SHA256" | sha256sum
//
// Payload bytes depend only on the bundle and the caller's options, never on
// the clock; the relay's clock and sleeps are injected (RelayConfig.Now,
// RelayConfig.Sleep) so that tests run without real waits.
package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"

	"github.com/stella-ops/stella-export/internal/canonjson"
)

// Names fixed by the ready notification v1 (docs/format.md#notifications).
const (
	// EventType is the payload's type, and the NATS subject it is published to.
	EventType = "export.airgap.ready.v1"
	// TimelineType names the timeline mirror of a notification (the payload
	// without transport headers).
	TimelineType = "timeline.export.airgap.ready"
	// DLQSubject receives dead-letter records over NATS.
	DLQSubject = "export.airgap.ready.dlq"
	// DefaultArtifactURI is the export centre's download endpoint;
	// {exportId} and {bundleId} are replaced.
	DefaultArtifactURI = "/v1/exports/airgap/evidence/{exportId}/download"
	// MaxAttempts is how often the relay tries one entry.
	MaxAttempts = 5
)

// Payload is the export.airgap.ready.v1 event. Its canonical JSON (RFC 8785
// and one LF) is the notification body, byte for byte.
type Payload struct {
	Type            string `json:"type"`
	ExportID        string `json:"export_id"`
	BundleID        string `json:"bundle_id"`
	TenantID        string `json:"tenant_id"`
	ProfileID       string `json:"profile_id"`
	PortableVersion string `json:"portable_version"`
	// RootHash is line 1 of the export's checksums.txt: the root that
	// `stella-export verify` prints for the artifact.
	RootHash    string `json:"root_hash"`
	ArtifactURI string `json:"artifact_uri"`
	// ArtifactSHA256 is the bare hex SHA-256 of the export .tgz.
	ArtifactSHA256 string   `json:"artifact_sha256"`
	CreatedAt      string   `json:"created_at"`
	ExpiresAt      string   `json:"expires_at,omitempty"`
	Metadata       Metadata `json:"metadata"`
}

// Metadata are the payload's descriptive fields.
type Metadata struct {
	SourceURI string `json:"source_uri"`
	// PortableSizeBytes is the size of the portable-bundle-v1.tgz entry.
	PortableSizeBytes int64 `json:"portable_size_bytes"`
	// ExportSizeBytes is the size of the export .tgz itself.
	ExportSizeBytes int64 `json:"export_size_bytes"`
}

// Key returns the idempotency key of an event: the lowercase hex SHA-256 of
// "<type>\n<export_id>\n<artifact_sha256>".
func Key(eventType, exportID, artifactSHA256 string) string {
	sum := sha256.Sum256([]byte(eventType + "\n" + exportID + "\n" + artifactSHA256))
	return hex.EncodeToString(sum[:])
}

// Key returns p's idempotency key.
func (p *Payload) Key() string { return Key(p.Type, p.ExportID, p.ArtifactSHA256) }

// Bytes returns p as canonical JSON followed by one LF.
func (p *Payload) Bytes() ([]byte, error) { return canonjson.MarshalLine(p) }

var keyRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidKey reports whether s has the form of an idempotency key.
func ValidKey(s string) bool { return keyRe.MatchString(s) }
