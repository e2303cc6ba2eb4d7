// Package javadb writes Trivy's Java index database (schema version 1), the
// file Trivy consults to name a jar by its SHA-1 when the jar carries no
// pom.properties, and reads the Maven artefact index it is built from.
//
// Write produces, below an export directory,
//
//	java-db/trivy-java.db   SQLite 3, the tables and indexes of trivy-java-db's pkg/db
//	java-db/metadata.json   {"Version":1,"NextUpdate":…,"UpdatedAt":…,"DownloadedAt":…}
//
// so that `trivy --cache-dir DIR --skip-java-db-update` finds them. The
// schema is exactly trivy-java-db's (same CREATE statements, same order):
//
//	CREATE TABLE artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT)
//	CREATE TABLE indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT, foreign key (artifact_id) references artifacts(id))
//	CREATE UNIQUE INDEX artifacts_idx ON artifacts(artifact_id, group_id)
//	CREATE INDEX indices_artifact_idx ON indices(artifact_id)
//	CREATE UNIQUE INDEX indices_sha1_idx ON indices(sha1)
//
// sha1 is stored as its 20 raw bytes: Trivy hex-decodes the digest of the
// jar and compares BLOBs, so hex text would never match.
//
// The database bytes depend only on the records: they are inserted in
// Compare order in one transaction, artifacts numbered 1, 2, … in that
// order, into a scratch database with a fixed page size (4096), and the
// result is a VACUUM INTO a fresh file, which holds no free pages, no
// journal and no stale bytes. What the SQLite header embeds besides the
// content (file change counter, version-valid-for, schema cookie, the
// library version 3.54.1 of the pinned github.com/mattn/go-sqlite3) follows
// from the same sequence of statements, so two writes of the same records
// give the same bytes. Memory does not grow with the number of records:
// they are streamed into SQLite, whose page cache is capped.
//
// The index a database is built from is JSON lines (ParseIndex); a
// Collector checks that no SHA-1 names two artefacts and puts the records
// in the order Write needs, spilling to disk beyond its memory budget.
package javadb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SchemaVersion is the java-db schema this package writes; Trivy's
// javadb.SchemaVersion is the same constant of trivy-java-db.
const SchemaVersion = 1

// Paths of the outputs, relative to the export directory.
const (
	DBPath       = "java-db/trivy-java.db"
	MetadataPath = "java-db/metadata.json"
)

// Archive types Trivy knows (trivy-java-db pkg/types).
const (
	Jar = "jar"
	Aar = "aar"
)

// Record is one artefact file: its Maven coordinates and the SHA-1 of its
// bytes.
type Record struct {
	GroupID     string
	ArtifactID  string
	Version     string
	SHA1        [20]byte
	ArchiveType string // Jar or Aar
}

// String gives the coordinates as group:artifact:version:type.
func (r Record) String() string {
	return r.GroupID + ":" + r.ArtifactID + ":" + r.Version + ":" + r.ArchiveType
}

// Compare orders records by group_id, artifact_id, version, sha1 and then
// archive_type, byte-wise: the order Write takes them in.
func Compare(a, b Record) int {
	if c := strings.Compare(a.GroupID, b.GroupID); c != 0 {
		return c
	}
	if c := strings.Compare(a.ArtifactID, b.ArtifactID); c != 0 {
		return c
	}
	if c := strings.Compare(a.Version, b.Version); c != 0 {
		return c
	}
	if c := bytes.Compare(a.SHA1[:], b.SHA1[:]); c != 0 {
		return c
	}
	return strings.Compare(a.ArchiveType, b.ArchiveType)
}

// Validate checks the rules ParseIndex applies to each line's values: it
// returns the name of the first field that breaks them and why, or "", ""
// when the record is valid.
func (r Record) Validate() (field, reason string) {
	if reason := checkID(r.GroupID); reason != "" {
		return "group_id", reason
	}
	if reason := checkID(r.ArtifactID); reason != "" {
		return "artifact_id", reason
	}
	if reason := checkVersion(r.Version); reason != "" {
		return "version", reason
	}
	if r.ArchiveType != Jar && r.ArchiveType != Aar {
		return "archive_type", fmt.Sprintf("%q is not one of jar, aar", r.ArchiveType)
	}
	return "", ""
}

// maxField bounds each coordinate; Maven Central's longest are far shorter.
const maxField = 1024

// checkID applies Maven's rule for group and artifact ids: one or more of
// A-Z a-z 0-9 _ - . (DefaultModelValidator's ID_REGEX).
func checkID(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > maxField {
		return fmt.Sprintf("longer than %d bytes", maxField)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Sprintf("%q has %q; only A-Z a-z 0-9 _ - . are allowed", s, string(rune(c)))
		}
	}
	return ""
}

// checkVersion applies Maven's rule for versions (no \ / : " < > | ? *)
// and refuses whitespace and control characters as well.
func checkVersion(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > maxField {
		return fmt.Sprintf("longer than %d bytes", maxField)
	}
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	for _, c := range s {
		if c == utf8.RuneError {
			return fmt.Sprintf("%q has the replacement character U+FFFD (a broken encoding)", s)
		}
		if unicode.IsSpace(c) || unicode.IsControl(c) || c == 0xfeff {
			return fmt.Sprintf("%q has whitespace or a control character (%U)", s, c)
		}
		if strings.ContainsRune(`\/:"<>|?*`, c) {
			return fmt.Sprintf(`%q has %q; \ / : " < > | ? * are not allowed`, s, string(c))
		}
	}
	return ""
}

// Metadata holds the times written to metadata.json: the export's pinned
// times, never the clock.
type Metadata struct {
	UpdatedAt    time.Time
	NextUpdate   time.Time
	DownloadedAt time.Time
}

// MarshalMetadata returns metadata.json: the fields of trivy-java-db's
// db.Metadata in its order, times in UTC (RFC 3339), and a final newline,
// as json.Encoder writes it.
func MarshalMetadata(m Metadata) ([]byte, error) {
	b, err := json.Marshal(struct {
		Version      int
		NextUpdate   time.Time
		UpdatedAt    time.Time
		DownloadedAt time.Time
	}{SchemaVersion, m.NextUpdate.UTC(), m.UpdatedAt.UTC(), m.DownloadedAt.UTC()})
	if err != nil {
		return nil, fmt.Errorf("java-db metadata: %w", err)
	}
	return append(b, '\n'), nil
}
