package trivydb

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// Advisory is one OSV record (https://ossf.github.io/osv-schema/), reduced
// to the fields a Trivy database uses. Build it with ParseOSV.
type Advisory struct {
	ID        string     `json:"id"`
	Aliases   []string   `json:"aliases"`
	Modified  time.Time  `json:"modified"`
	Published *time.Time `json:"published"`
	Withdrawn *time.Time `json:"withdrawn"`
	Summary   string     `json:"summary"`
	Details   string     `json:"details"`
	Severity  []Severity `json:"severity"`
	Affected  []Affected `json:"affected"`
	// References lists links; only their URLs reach the database.
	References       []Reference      `json:"references"`
	DatabaseSpecific DatabaseSpecific `json:"database_specific"`

	// Source names the evidence source the record came from. It is not part
	// of OSV: the caller sets it, and the merge rule uses it as a tie-breaker.
	Source string `json:"-"`
	// Digest is the SHA-256 of the record's bytes, set by ParseOSV: the last
	// tie-breaker of the merge rule.
	Digest [sha256.Size]byte `json:"-"`
}

// Severity is one entry of an OSV severity array.
type Severity struct {
	Type  string `json:"type"`  // CVSS_V2, CVSS_V3, CVSS_V4, Ubuntu...
	Score string `json:"score"` // for CVSS: the vector string
}

// Affected is one entry of an OSV affected array.
type Affected struct {
	Package           Package         `json:"package"`
	Severity          []Severity      `json:"severity"`
	Ranges            []Range         `json:"ranges"`
	Versions          []string        `json:"versions"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific"`
	DatabaseSpecific  json.RawMessage `json:"database_specific"`
}

// Package names the affected package.
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl"`
}

// Range is one OSV range: a type and its ordered events.
type Range struct {
	Type   string  `json:"type"` // SEMVER, ECOSYSTEM or GIT
	Events []Event `json:"events"`
}

// Event is one range event; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Reference is one OSV reference.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// DatabaseSpecific holds the top-level database_specific fields used here:
// a severity word (GitHub's LOW, MODERATE, HIGH, CRITICAL) and CWE ids.
// Anything else in the object is ignored.
type DatabaseSpecific struct {
	Severity string   `json:"severity"`
	CWEIDs   []string `json:"cwe_ids"`
}

// UnmarshalJSON accepts a database_specific that is not an object (some
// databases write null) by leaving the fields empty.
func (d *DatabaseSpecific) UnmarshalJSON(b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 || bytes.TrimSpace(b)[0] != '{' {
		*d = DatabaseSpecific{}
		return nil
	}
	type plain struct {
		Severity json.RawMessage `json:"severity"`
		CWEIDs   json.RawMessage `json:"cwe_ids"`
	}
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*d = DatabaseSpecific{}
	// Wrongly typed values are ignored, not fatal: these fields are hints.
	_ = json.Unmarshal(p.Severity, &d.Severity)
	_ = json.Unmarshal(p.CWEIDs, &d.CWEIDs)
	return nil
}

// ParseOSV decodes one OSV JSON record. It fails (exit 3) when the bytes are
// not a JSON object of the OSV shape or the record has no id; everything
// about what the database can use is decided later, by Builder.Add, and
// reported in the Summary rather than failing.
func ParseOSV(data []byte, source string) (*Advisory, error) {
	var a Advisory
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, exitcode.Invalidf("osv advisory: %v", err)
	}
	if a.ID == "" {
		return nil, exitcode.Invalidf("osv advisory: no id")
	}
	a.Source = source
	a.Digest = sha256.Sum256(data)
	return &a, nil
}
