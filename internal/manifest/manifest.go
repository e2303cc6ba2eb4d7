// Package manifest defines export.json, the canonical JSON manifest at the
// top of every bundle (docs/format.md#export-json): "directory" bundles of
// a staged tree, the "airgap-evidence" portable evidence export v1, and
// run bundles.
package manifest

import (
	"regexp"
	"strconv"
	"time"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// Format identifies the bundle format version in every export.json.
const Format = "stella-export/bundle/v1"

// Profiles written by `stella-export package`.
const (
	ProfileDirectory = "directory"
	ProfilePortable  = "airgap-evidence"
	PortableVersion  = "v1"
)

// Export is export.json of a directory bundle.
type Export struct {
	Format          string `json:"format"`
	Profile         string `json:"profile"`
	ExportID        string `json:"exportId"`
	CreatedAtUTC    string `json:"createdAtUtc"`
	ExporterVersion string `json:"exporterVersion"`
	FileCount       int    `json:"fileCount"`
	PayloadBytes    int64  `json:"payloadBytes"`
	// PayloadRoot is the RFC 6962 root of the payload's checksums lines
	// alone (without the generated files): the content identity of what
	// was packaged.
	PayloadRoot string `json:"payloadRoot"`
}

// Portable is export.json of a portable evidence export v1
// (docs/format.md#portable): its seven fields plus the size, format,
// profile and exporter.
type Portable struct {
	Format       string `json:"format"`
	Profile      string `json:"profile"`
	BundleID     string `json:"bundleId"`
	ExportID     string `json:"exportId"`
	Tenant       string `json:"tenant"`
	CreatedAtUTC string `json:"createdAtUtc"`
	// ExpiresAtUTC is CreatedAtUTC plus --retention-days; absent without.
	ExpiresAtUTC      string `json:"expiresAtUtc,omitempty"`
	RootHash          string `json:"rootHash"`
	SourceURI         string `json:"sourceUri"`
	PortableVersion   string `json:"portableVersion"`
	PortableSizeBytes int64  `json:"portableSizeBytes"`
	ExporterVersion   string `json:"exporterVersion"`
}

// Bytes returns the canonical JSON document with its final LF.
func Bytes(v any) ([]byte, error) { return canonjson.MarshalLine(v) }

// Timestamp formats t as RFC 3339 UTC with whole seconds.
func Timestamp(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// DerivedExportID is the export id used when none is given: "exp-" and the
// first 32 hex digits of the payload root, so the same payload always gets
// the same id.
func DerivedExportID(payloadRoot digest.SHA256) string { return "exp-" + payloadRoot.Hex()[:32] }

var idRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,199}$`)

// CheckID validates an identifier given by the user (export, bundle or
// tenant id): 1 to 200 characters of letters, digits and . _ : @ + -,
// starting with a letter or digit, so that it is safe in file names and
// object keys. Errors are *exitcode.OptionError (exit 3) whose Option is
// field.
func CheckID(field, v string) error {
	if !idRe.MatchString(v) {
		return &exitcode.OptionError{Option: field, Value: strconv.Quote(v),
			Err: exitcode.Invalidf("want 1-200 characters of letters, digits and . _ : @ + - starting with a letter or digit")}
	}
	return nil
}
