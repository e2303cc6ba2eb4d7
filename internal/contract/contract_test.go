package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// head is a valid json:raw contract of six lines; mk edits it.
const head = `apiVersion: stella-export/v1
kind: EvidenceExport
export_id: urn:stella:export:acme:x
tenant: acme
profile: json:raw
source: ../evidence
`

// mk builds a contract from head. An edit "key: value" whose key is one of
// head's replaces that line in place; "-key" deletes it; anything else is
// appended, so appended text starts on line 7 unless lines were deleted.
func mk(edits ...string) string {
	lines := strings.Split(strings.TrimSuffix(head, "\n"), "\n")
	var tail []string
	for _, e := range edits {
		if strings.HasPrefix(e, "-") {
			key := e[1:] + ":"
			for i, l := range lines {
				if strings.HasPrefix(l, key) {
					lines = append(lines[:i], lines[i+1:]...)
					break
				}
			}
			continue
		}
		replaced := false
		if key, _, ok := strings.Cut(e, ":"); ok && !strings.Contains(e, "\n") {
			for i, l := range lines {
				if strings.HasPrefix(l, key+":") {
					lines[i] = e
					replaced = true
					break
				}
			}
		}
		if !replaced {
			tail = append(tail, strings.TrimSuffix(e, "\n"))
		}
	}
	return strings.Join(append(lines, tail...), "\n") + "\n"
}

const full = `apiVersion: stella-export/v1
kind: EvidenceExport
export_id: urn:stella:export:acme:full
tenant: acme
profile: mirror:delta
source: ../evidence
selectors:
  tenants: [acme, globex]
  since: 2024-12-31T19:00:00-05:00
  until: "2025-07-01T00:00:00Z"
  products: ["pkg:npm/lodash", "pkg:npm/lodash@4.17.21"]
  sbom_subjects: [pkg:oci/app]
  ecosystems: [npm, crates.io]
policy_snapshot: snap-2025-06
base: /var/exports/full.tgz
compression: {codec: zstd, level: 19}
retention_days: 90
output: acme.tar.gz
allow_cross_tenant: true
`

func TestParseFull(t *testing.T) {
	c, err := Parse("contracts/c.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	want := &Contract{
		Path:       "contracts/c.yaml",
		Digest:     "sha256:" + sha256hex(full),
		APIVersion: APIVersion,
		Kind:       KindEvidence,
		ExportID:   "urn:stella:export:acme:full",
		Tenant:     "acme",
		Profile:    ProfileMirrorDelta,
		Source:     "../evidence",
		SourceDir:  "evidence",
		Selectors: Selectors{
			Tenants:      []string{"acme", "globex"},
			Since:        time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			Until:        time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC),
			Products:     []string{"pkg:npm/lodash", "pkg:npm/lodash@4.17.21"},
			SBOMSubjects: []string{"pkg:oci/app"},
			Ecosystems:   []string{"npm", "crates.io"},
		},
		PolicySnapshot:   "snap-2025-06",
		Base:             "/var/exports/full.tgz",
		BasePath:         "/var/exports/full.tgz",
		Compression:      Compression{Codec: "zstd", Level: 19},
		RetentionDays:    90,
		Output:           "acme.tar.gz",
		AllowCrossTenant: true,
	}
	c.pos = nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}
	if c.Selectors.Since.Location() != time.UTC {
		t.Errorf("since is not in UTC: %v", c.Selectors.Since)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("c.yaml", []byte(head))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Selectors, Selectors{Tenants: []string{"acme"}}) {
		t.Errorf("selectors = %+v, want tenants [acme] only", c.Selectors)
	}
	if c.Compression != (Compression{Codec: "zstd", Level: 3}) {
		t.Errorf("compression = %+v, want zstd 3", c.Compression)
	}
	if c.RetentionDays != 0 || c.Output != "" || c.AllowCrossTenant || c.PolicySnapshot != "" || c.Base != "" || c.BasePath != "" {
		t.Errorf("unset fields are not zero: %+v", c)
	}
	if c.SourceDir != filepath.Join("..", "evidence") {
		t.Errorf("SourceDir = %q", c.SourceDir)
	}
	// compression with only a level keeps the codec.
	c, err = Parse("c.yaml", []byte(mk("compression:\n  level: 7")))
	if err != nil {
		t.Fatal(err)
	}
	if c.Compression != (Compression{Codec: "zstd", Level: 7}) {
		t.Errorf("compression = %+v, want zstd 7", c.Compression)
	}
}

func TestWhere(t *testing.T) {
	c, err := Parse("contracts/c.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{
		"source":                "contracts/c.yaml:6:9",
		"selectors":             "contracts/c.yaml:7:1", // a mapping: the key
		"selectors.tenants":     "contracts/c.yaml:8:3", // a sequence: the key
		"selectors.tenants[1]":  "contracts/c.yaml:8:19",
		"selectors.since":       "contracts/c.yaml:9:10",
		"selectors.until":       "contracts/c.yaml:10:10",
		"selectors.products[1]": "contracts/c.yaml:11:32",
		"base":                  "contracts/c.yaml:15:7",
		"compression.level":     "contracts/c.yaml:16:35",
		"allow_cross_tenant":    "contracts/c.yaml:19:21",
		"not.written":           "contracts/c.yaml",
	} {
		if got := c.Where(field); got != want {
			t.Errorf("Where(%q) = %q, want %q", field, got, want)
		}
	}
	c, err = Parse("c.yaml", []byte(head))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Where("selectors.tenants"); got != "c.yaml" {
		t.Errorf("a default has a position: %q", got)
	}
}

func TestResolve(t *testing.T) {
	abs := filepath.Join(string(filepath.Separator), "srv", "evidence")
	for _, tt := range []struct{ contract, source, want string }{
		{"c.yaml", "../evidence", "../evidence"},
		{"contracts/c.yaml", "../evidence", "evidence"},
		{"a/b/c.yaml", "./x/../y/", "a/b/y"},
		{"/etc/stella/c.yaml", "evidence", "/etc/stella/evidence"},
		{"contracts/c.yaml", abs + "/./", abs},
	} {
		c, err := Parse(tt.contract, []byte(mk("source: "+tt.source)))
		if err != nil {
			t.Fatal(err)
		}
		if c.Source != tt.source || c.SourceDir != filepath.FromSlash(tt.want) {
			t.Errorf("%s, source %s: Source %q, SourceDir %q, want %q", tt.contract, tt.source, c.Source, c.SourceDir, tt.want)
		}
	}
}

// validCases are valid contracts; the JSON Schema must accept them too.
var validCases = []struct {
	name string
	src  string
}{
	{"leading document marker", "---\n" + head},
	{"document end marker", head + "...\n"},
	{"flow mapping", `{apiVersion: stella-export/v1, kind: EvidenceExport, export_id: "urn:x1:y", tenant: t, profile: "json:raw", source: s}`},
	{"upper-case URN scheme and percent-encoding", mk("export_id: URN:Stella-Ops:export:a%2Fb:c/d@e")},
	{"32-character namespace", mk("export_id: urn:" + strings.Repeat("a", 32) + ":x")},
	{"200-byte export id", mk("export_id: urn:stella:" + strings.Repeat("x", 189))},
	{"63-character tenant", mk("tenant: a"+strings.Repeat("-", 62), "selectors:\n  tenants: [a"+strings.Repeat("-", 62)+"]")},
	{"quoted times", mk("selectors:\n  since: '2025-01-01T00:00:00Z'\n  until: \"2025-01-01T00:00:01Z\"")},
	{"since alone", mk("selectors:\n  since: 2025-01-01T00:00:00+14:00")},
	{"purl prefixes", mk("selectors:\n  products: [pkg:npm, pkg:npm/, 'pkg:npm/%40angular/core@17.0.0', pkg:c++/x, 'pkg:generic/a?b=c']")},
	{"ecosystem spellings", mk("selectors:\n  ecosystems: [PYPI, golang, Crates.IO, github actions, deb, rpm, Alpine]")},
	{"cross tenant allowed", mk("allow_cross_tenant: true", "selectors:\n  tenants: [globex]")},
	{"policy on mirror:full", mk("profile: mirror:full", "policy_snapshot: snap.2025_06-a")},
	{"mirror:delta", mk("profile: mirror:delta", "base: ../out/full.tgz")},
	{"json:policy", mk("profile: json:policy", "policy_snapshot: s")},
	{"bounds", mk("retention_days: 36500", "compression:\n  codec: zstd\n  level: 22")},
	{"low bounds", mk("retention_days: 1", "compression: {level: 1}")},
	{"output .tgz", mk("output: A_b-1.2.tgz")},
	{"comments", mk("# a comment", "output: x.tgz # trailing")},
	{"allow false", mk("allow_cross_tenant: false")},
	{"trivy:db", mk("profile: trivy:db")},
	{"trivy:db schema 2", mk("profile: trivy:db", "trivy_schema: 2")},
	{"trivy:java-db schema 1", mk("profile: trivy:java-db", "trivy_schema: 1")},
	{"encryption shorthand", mk("encryption: alias/prod")},
	{"encryption envelope", mk("profile: mirror:full", "encryption: {mode: envelope, key: alias/prod, scope: payload}")},
	{"encryption age", mk("profile: mirror:full", "encryption:\n  mode: age\n  recipients: [keys/acme.recipients, "+testRecipient+"]\n  scope: data")},
	{"encryption trivy payload", mk("profile: trivy:db", "encryption: {mode: age, recipients: [r.txt]}")},
	{"encryption other tenant allowed", mk("allow_cross_tenant: true", "encryption: {mode: age, recipients: [keys/globex.recipients]}")},
}

// testRecipient is an age X25519 recipient.
const testRecipient = "age175v4cgew6d6ynhwc5gk3rzvu4t27lpn53lrykus7hgs7cjgx255qh6afmj"

// TestTrivySchema: the trivy profiles get their schema version by default,
// the one written is kept, and other profiles have none.
func TestTrivySchema(t *testing.T) {
	for _, tt := range []struct {
		src  string
		want int
	}{
		{mk("profile: trivy:db"), 2},
		{mk("profile: trivy:db", "trivy_schema: 2"), 2},
		{mk("profile: trivy:java-db"), 1},
		{mk("profile: trivy:java-db", "trivy_schema: 1"), 1},
		{head, 0},
	} {
		c, err := Parse("c.yaml", []byte(tt.src))
		if err != nil {
			t.Fatalf("%v\n%s", err, tt.src)
		}
		if c.TrivySchema != tt.want {
			t.Errorf("trivy_schema %d, want %d\n%s", c.TrivySchema, tt.want, tt.src)
		}
	}
	c, err := Parse("c.yaml", []byte(mk("profile: trivy:db", "trivy_schema: 2")))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Where("trivy_schema"); got != "c.yaml:7:15" {
		t.Errorf("Where(trivy_schema) = %s", got)
	}
}

func TestParseValid(t *testing.T) {
	for _, tt := range validCases {
		if _, err := Parse("c.yaml", []byte(tt.src)); err != nil {
			t.Errorf("%s: %v\n%s", tt.name, err, tt.src)
		}
	}
}

func TestParseErrors(t *testing.T) {
	fields := "apiVersion, kind, export_id, tenant, profile, source, selectors, policy_snapshot, base, trivy_schema, compression, retention_days, output, allow_cross_tenant, encryption, delivery"
	for _, tt := range []struct {
		name string
		src  string
		want []string
	}{
		// The file as a whole.
		{"empty", "", []string{"c.yaml: the file has no contract; a contract starts with apiVersion: stella-export/v1"}},
		{"comments only", "# nothing\n", []string{"c.yaml: the file has no contract; a contract starts with apiVersion: stella-export/v1"}},
		{"empty document", "---\n", []string{"c.yaml:2:1: the document is empty; a contract starts with apiVersion: stella-export/v1"}},
		{"sequence", "- a\n", []string{"c.yaml:1:1: the document is a sequence; a contract is a mapping of fields, starting with apiVersion: stella-export/v1"}},
		{"scalar", "hello\n", []string{`c.yaml:1:1: the document is a string "hello"; a contract is a mapping of fields, starting with apiVersion: stella-export/v1`}},
		{"syntax", "apiVersion: [\n", []string{"c.yaml:1: invalid YAML: did not find expected node content"}},
		{"indentation", mk("  extra: x"), []string{"c.yaml:7: invalid YAML: mapping values are not allowed in this context"}},
		{"control character", "apiVersion: \"\x01\"\n", []string{"c.yaml: invalid YAML: control characters are not allowed"}},
		{"two documents", head + "---\n" + head, []string{"c.yaml:7:1: a second YAML document starts here; a contract file holds one: remove this '---' or split the file"}},
		{"trailing document marker", head + "---\n", []string{"c.yaml:7:1: a second YAML document starts here; a contract file holds one: remove this '---' or split the file"}},
		{"too large", head + "#" + strings.Repeat("x", maxSize) + "\n", []string{fmt.Sprintf("c.yaml: the file is %d bytes; a contract is a small YAML file of at most 1048576 bytes", len(head)+maxSize+2)}},

		// Keys.
		{"missing fields", "apiVersion: stella-export/v1\nkind: EvidenceExport\n", []string{
			"c.yaml:1:1: export_id: missing; add export_id: urn:<namespace>:<name>, e.g. urn:stella:export:acme:weekly-advisories",
			"c.yaml:1:1: tenant: missing; add tenant: <name>, e.g. tenant: acme",
			"c.yaml:1:1: profile: missing; add profile: one of json:raw, json:policy, mirror:full, mirror:delta, trivy:db, trivy:java-db",
			"c.yaml:1:1: source: missing; add source: <evidence directory>, e.g. source: ../evidence",
		}},
		{"missing apiVersion and kind", mk("-apiVersion", "-kind"), []string{
			"c.yaml:1:1: apiVersion: missing; add apiVersion: stella-export/v1",
			"c.yaml:1:1: kind: missing; add kind: EvidenceExport",
		}},
		{"unknown field, suggestion", mk("exportId: x"), []string{"c.yaml:7:1: exportId: unknown field; did you mean export_id?"}},
		{"unknown field, shortened", mk("retention: 5"), []string{"c.yaml:7:1: retention: unknown field; did you mean retention_days?"}},
		{"unknown field, list", mk("colour: red"), []string{"c.yaml:7:1: colour: unknown field; valid fields here: " + fields}},
		{"unknown selector", mk("selectors:\n  sinse: 2025-01-01T00:00:00Z"), []string{"c.yaml:8:3: selectors.sinse: unknown field; did you mean since?"}},
		{"unknown compression field", mk("compression:\n  levels: 3"), []string{"c.yaml:8:3: compression.levels: unknown field; did you mean level?"}},
		{"odd key", mk(`"a b": 1`), []string{`c.yaml:7:1: "a b": unknown field; valid fields here: ` + fields}},
		{"duplicate key", mk("tenant: globex\n"), []string{"c.yaml:7:1: tenant: written twice, at lines 4 and 7; keep one"}},
		{"duplicate in flow mapping", mk("compression: {level: 3, level: 4}"), []string{"c.yaml:7:25: compression.level: written twice on line 7; keep one"}},
		{"sequence key", mk("? [a, b]\n: c"), []string{"c.yaml:7:3: a key is a sequence; keys are field names"}},
		{"merge key", mk("<<: {output: a.tgz}"), []string{"c.yaml:7:1: merge keys (<<) are not supported; write the fields out"}},
		{"alias", mk("selectors:\n  products: &p [pkg:npm/a]\n  sbom_subjects: *p"), []string{
			"c.yaml:8:13: selectors.products: anchors (&p) are not supported; write the value out",
			"c.yaml:9:18: selectors.sbom_subjects: aliases (*p) are not supported; write the value out",
		}},
		{"alias item", mk("selectors:\n  tenants: [&t acme, *t]"), []string{
			"c.yaml:8:13: selectors.tenants[0]: anchors (&t) are not supported; write the value out",
			"c.yaml:8:22: selectors.tenants[1]: aliases (*t) are not supported; write the value out",
		}},
		{"anchor without alias", mk("output: &o x.tgz"), []string{"c.yaml:7:9: output: anchors (&o) are not supported; write the value out"}},
		{"anchored mapping", mk("compression: &c\n  level: 3"), []string{"c.yaml:7:14: compression: anchors (&c) are not supported; write the value out"}},
		{"anchored key", mk("&k output: x.tgz"), []string{"c.yaml:7:1: output: anchors (&k) are not supported; write the value out"}},
		{"encryption without mode", mk("encryption:\n  recipients: [keys/acme.recipients]"), []string{"c.yaml:8:3: encryption.mode: missing; add mode: envelope or mode: age"}},
		{"encryption bad recipient", mk("encryption: {mode: age, recipients: [age1xyz]}"), []string{`c.yaml:7:38: encryption.recipients[0]: recipient age1xyz: malformed recipient "age1xyz": separator '1' at invalid position: pos=3, len=7`}},
		{"encryption secret key", mk("encryption: {mode: age, recipients: [AGE-SECRET-KEY-1X]}"), []string{"c.yaml:7:38: encryption.recipients[0]: an age identity (a secret key) was given where a recipient (age1..., a public key) belongs; never put a secret key in a contract"}},
		{"encryption KMS URI", mk("encryption: {mode: envelope, key: 'awskms://k'}"), []string{`c.yaml:7:35: encryption.key: key "awskms://k": awskms:// KMS keys are not supported by this build: a KMS would plug in as a keyring.Provider (internal/keyring); use alias/NAME with a keyring or STELLA_EXPORT_KMS_MASTER_KEY_HEX`}},
		{"encryption shorthand KMS", mk("encryption: gcpkms://k"), []string{`c.yaml:7:13: encryption: key "gcpkms://k": gcpkms:// KMS keys are not supported by this build: a KMS would plug in as a keyring.Provider (internal/keyring); use alias/NAME with a keyring or STELLA_EXPORT_KMS_MASTER_KEY_HEX; write alias/NAME (envelope mode) or a mapping such as {mode: age, recipients: [keys/acme.recipients]}`}},
		{"encryption mode", mk("encryption: {mode: aes}"), []string{`c.yaml:7:20: encryption.mode: unknown mode "aes"; use envelope (AES-256-GCM under a keyring alias) or age (age recipients)`}},
		{"encryption envelope without key", mk("encryption: {mode: envelope}"), []string{"c.yaml:7:14: encryption.key: required by mode envelope; add key: alias/NAME (stella-export keys create alias/NAME makes one)"}},
		{"encryption age without recipients", mk("encryption: {mode: age}"), []string{"c.yaml:7:14: encryption.recipients: required by mode age; add recipients: [keys/acme.recipients] or recipients: [age1...]"}},
		{"encryption key with age", mk("encryption: {mode: age, key: alias/a, recipients: [r]}"), []string{"c.yaml:7:25: encryption.key: applies to mode envelope, not age; remove it, or use mode: envelope"}},
		{"encryption recipients with envelope", mk("encryption: {mode: envelope, key: alias/a, recipients: [r]}"), []string{"c.yaml:7:44: encryption.recipients: applies to mode age, not envelope; remove it, or use mode: age"}},
		{"encryption scope", mk("encryption: {mode: envelope, key: alias/a, scope: all}"), []string{`c.yaml:7:51: encryption.scope: unknown scope "all"; use data (the files under data/) or payload (every payload file)`}},
		{"encryption scope data on trivy", mk("profile: trivy:db", "encryption: {mode: envelope, key: alias/a, scope: data}"), []string{"c.yaml:7:44: encryption.scope: profile trivy:db writes no data/ directory, so scope data would encrypt nothing; use scope: payload"}},
		{"encryption other tenant's recipients", mk("encryption: {mode: age, recipients: [keys/globex.recipients]}"), []string{`c.yaml:7:38: encryption.recipients[0]: "keys/globex.recipients" is the recipients file of tenant globex, not of the contract's tenant acme; use keys/acme.recipients, or set allow_cross_tenant: true`}},
		{"encryption sequence", mk("encryption: [a]"), []string{"c.yaml:7:13: encryption: want alias/NAME or a mapping such as {mode: envelope, key: alias/NAME} or {mode: age, recipients: [age1...]}, got a sequence"}},
		{"delivery", mk("delivery: s3"), []string{"c.yaml:7:1: delivery: not supported by this version yet (planned); remove it"}},

		// Types.
		{"integer for string", mk("tenant: 123"), []string{`c.yaml:4:9: tenant: want a string, got an integer 123; quote it: "123"`}},
		{"sequence for string", mk("tenant: [acme]"), []string{"c.yaml:4:9: tenant: want a string, got a sequence"}},
		{"null for string", mk("tenant:"), []string{"c.yaml:4:8: tenant: want a string, got no value"}},
		{"boolean for string", mk("source: true"), []string{`c.yaml:6:9: source: want a string, got a boolean true; quote it: "true"`}},
		{"quoted integer", mk(`retention_days: "90"`), []string{`c.yaml:7:17: retention_days: want an integer from 1 to 36500, got a string "90"; write 90 without quotes`}},
		{"float", mk("retention_days: 9.5"), []string{"c.yaml:7:17: retention_days: want an integer from 1 to 36500, got a number 9.5"}},
		{"huge integer", mk("retention_days: 99999999999999999999"), []string{"c.yaml:7:17: retention_days: want an integer from 1 to 36500, got a number 99999999999999999999"}},
		{"zero", mk("retention_days: 0"), []string{"c.yaml:7:17: retention_days: 0 is out of range; use an integer from 1 to 36500"}},
		{"too many days", mk("retention_days: 36501"), []string{"c.yaml:7:17: retention_days: 36501 is out of range; use an integer from 1 to 36500"}},
		{"yes is not a boolean", mk("allow_cross_tenant: yes"), []string{`c.yaml:7:21: allow_cross_tenant: want true or false, got a string "yes"`}},
		{"quoted boolean", mk(`allow_cross_tenant: "true"`), []string{`c.yaml:7:21: allow_cross_tenant: want true or false, got a string "true"; write true without quotes`}},
		{"selectors sequence", mk("selectors: [a]"), []string{"c.yaml:7:12: selectors: want a mapping of tenants, since, until, products, sbom_subjects or ecosystems, got a sequence"}},
		{"selectors null", mk("selectors:"), []string{"c.yaml:7:11: selectors: want a mapping of tenants, since, until, products, sbom_subjects or ecosystems, got no value"}},
		{"compression string", mk("compression: zstd"), []string{`c.yaml:7:14: compression: want a mapping such as {codec: zstd, level: 3}, got a string "zstd"`}},
		{"list of mappings", mk("selectors:\n  products:\n    - {a: b}"), []string{"c.yaml:9:7: selectors.products[0]: want a string, got a mapping"}},
		{"string for list", mk("selectors:\n  ecosystems: npm"), []string{`c.yaml:8:15: selectors.ecosystems: want a sequence of strings, got a string "npm"`}},
		{"integer time", mk("selectors:\n  since: 5"), []string{"c.yaml:8:10: selectors.since: want an RFC 3339 time such as 2025-01-01T00:00:00Z, got an integer 5"}},
		{"tagged string", mk("retention_days: !!str 90"), []string{`c.yaml:7:17: retention_days: want an integer from 1 to 36500, got a string "90"`}},
		{"custom tag", mk("tenant: !t acme"), []string{`c.yaml:4:9: tenant: want a string, got a value tagged !t; quote it: "acme"`}},

		// Values.
		{"apiVersion v2", mk("apiVersion: stella-export/v2"), []string{`c.yaml:1:13: apiVersion: "stella-export/v2" is not supported by this version; write apiVersion: stella-export/v1`}},
		{"apiVersion other", mk("apiVersion: v1"), []string{`c.yaml:1:13: apiVersion: "v1" is not a stella-export contract version; write apiVersion: stella-export/v1`}},
		{"dataset kind with evidence fields", mk("kind: DatasetExport", "dataset_ref: urn:x:y"), []string{
			"c.yaml:1:1: schema_ref: missing; add schema_ref: <schema YAML>, e.g. schema_ref: schemas/client.yaml",
			"c.yaml:1:1: schema_digest: missing; add schema_digest: sha256:<hex> (sha256sum of the schema file)",
			"c.yaml:1:1: format: missing; add format: one of parquet, csv, jsonl",
			"c.yaml:5:1: profile: unknown field; valid fields here: " + datasetFields,
			"c.yaml:6:1: source: unknown field; valid fields here: " + datasetFields,
			`c.yaml:7:14: dataset_ref: "urn:x:y" is not a dataset source; write csv:PATH, jsonl:PATH, parquet:PATH, sqlite:PATH?table=T or sqlite:PATH?query=SELECT...`,
		}},
		{"kind typo", mk("kind: evidence_export"), []string{`c.yaml:2:7: kind: unknown kind "evidence_export"; did you mean EvidenceExport?`}},
		{"kind other", mk("kind: Deployment"), []string{`c.yaml:2:7: kind: unknown kind "Deployment"; valid kinds: DatasetExport, EvidenceExport`}},
		{"unknown kind still checks the fields", mk("kind: Deployment", "colour: red"), []string{
			`c.yaml:2:7: kind: unknown kind "Deployment"; valid kinds: DatasetExport, EvidenceExport`,
			"c.yaml:7:1: colour: unknown field; valid fields here: " + fields,
		}},
		{"urn scheme", mk("export_id: stella:export:x"), []string{`c.yaml:3:12: export_id: "stella:export:x" is not a URN; write urn:<namespace>:<name>, e.g. urn:stella:export:acme:weekly-advisories`}},
		{"urn without name", mk("export_id: urn:stella"), []string{`c.yaml:3:12: export_id: "urn:stella" has no name after the namespace; write urn:<namespace>:<name>, e.g. urn:stella:export:acme:weekly-advisories`}},
		{"urn empty name", mk("export_id: 'urn:stella:'"), []string{`c.yaml:3:12: export_id: "urn:stella:" has no name after the namespace; write urn:<namespace>:<name>, e.g. urn:stella:export:acme:weekly-advisories`}},
		{"urn:urn", mk("export_id: urn:urn:stella:x"), []string{`c.yaml:3:12: export_id: "urn:urn:stella:x" repeats urn:; write urn:<namespace>:<name>, e.g. urn:stella:export:acme:weekly-advisories`}},
		{"urn one-letter namespace", mk("export_id: urn:s:x"), []string{`c.yaml:3:12: export_id: "urn:s:x" has an invalid namespace "s"; a URN namespace is 2 to 32 letters, digits or '-', not starting or ending with '-' (e.g. stella)`}},
		{"urn namespace dash", mk("export_id: urn:-st:x"), []string{`c.yaml:3:12: export_id: "urn:-st:x" has an invalid namespace "-st"; a URN namespace is 2 to 32 letters, digits or '-', not starting or ending with '-' (e.g. stella)`}},
		{"urn long namespace", mk("export_id: urn:" + strings.Repeat("a", 33) + ":x"), []string{`c.yaml:3:12: export_id: "urn:` + strings.Repeat("a", 33) + `:x" has an invalid namespace "` + strings.Repeat("a", 33) + `"; a URN namespace is 2 to 32 letters, digits or '-', not starting or ending with '-' (e.g. stella)`}},
		{"urn space", mk("export_id: urn:stella:a b"), []string{`c.yaml:3:12: export_id: "urn:stella:a b" contains ' ', which a URN cannot hold; use letters, digits and - . _ ~ : @ ! $ & ' ( ) * + , ; = /, or percent-encode it`}},
		{"urn query", mk("export_id: urn:stella:x?+r"), []string{`c.yaml:3:12: export_id: "urn:stella:x?+r" has a "?" component; an export_id is a plain URN without ?+, ?= or # parts`}},
		{"urn percent", mk("export_id: urn:stella:100%"), []string{`c.yaml:3:12: export_id: "urn:stella:100%" has a '%' that is not followed by two hex digits; write %25 for a literal '%'`}},
		{"urn slash", mk("export_id: urn:stella:/x"), []string{`c.yaml:3:12: export_id: "urn:stella:/x": the name after the namespace may not start with '/'`}},
		{"urn too long", mk("export_id: urn:stella:" + strings.Repeat("x", 190)), []string{"c.yaml:3:12: export_id: is 201 bytes long; keep it to 200"}},
		{"tenant case", mk("tenant: Acme"), []string{`c.yaml:4:9: tenant: "Acme" is not a tenant name: a tenant is 1 to 63 lower-case letters, digits, '_' or '-', starting with a letter or digit; write acme`}},
		{"tenant dash", mk("tenant: -acme"), []string{`c.yaml:4:9: tenant: "-acme" is not a tenant name: a tenant is 1 to 63 lower-case letters, digits, '_' or '-', starting with a letter or digit`}},
		{"tenant too long", mk("tenant: " + strings.Repeat("a", 64)), []string{`c.yaml:4:9: tenant: "` + strings.Repeat("a", 64) + `" is not a tenant name: a tenant is 1 to 63 lower-case letters, digits, '_' or '-', starting with a letter or digit`}},
		{"profile typo", mk("profile: json-raw"), []string{`c.yaml:5:10: profile: unknown profile "json-raw"; did you mean json:raw? (profiles: json:raw, json:policy, mirror:full, mirror:delta, trivy:db, trivy:java-db)`}},
		{"profile other", mk("profile: grype:db"), []string{`c.yaml:5:10: profile: unknown profile "grype:db"; use one of json:raw, json:policy, mirror:full, mirror:delta, trivy:db, trivy:java-db`}},
		{"trivy schema 3", mk("profile: trivy:db", "trivy_schema: 3"), []string{"c.yaml:7:15: trivy_schema: schema 3 is not supported by profile trivy:db; it writes schema 2 only: write trivy_schema: 2 or leave it out"}},
		{"trivy java schema 2", mk("profile: trivy:java-db", "trivy_schema: 2"), []string{"c.yaml:7:15: trivy_schema: schema 2 is not supported by profile trivy:java-db; it writes schema 1 only: write trivy_schema: 1 or leave it out"}},
		{"trivy schema string", mk("profile: trivy:db", `trivy_schema: "2"`), []string{`c.yaml:7:15: trivy_schema: want an integer from 1 to 1048576, got a string "2"; write 2 without quotes`}},
		{"trivy schema zero", mk("profile: trivy:db", "trivy_schema: 0"), []string{"c.yaml:7:15: trivy_schema: 0 is out of range; use an integer from 1 to 1048576"}},
		{"trivy schema on json:raw", mk("trivy_schema: 2"), []string{"c.yaml:7:1: trivy_schema: applies only to profiles trivy:db and trivy:java-db, not json:raw; remove it or change the profile"}},
		{"policy on trivy:db", mk("profile: trivy:db", "policy_snapshot: snap-2025-06"), []string{"c.yaml:7:1: policy_snapshot: applies to json:policy and mirror profiles, not trivy:db; remove it or change the profile"}},
		{"source empty", mk("source: ''"), []string{"c.yaml:6:9: source: is empty; write e.g. source: ../evidence"}},
		{"source blank", mk("source: '  '"), []string{"c.yaml:6:9: source: is empty; write e.g. source: ../evidence"}},
		{"policy on json:raw", mk("policy_snapshot: snap-2025-06"), []string{"c.yaml:7:1: policy_snapshot: applies to json:policy and mirror profiles, not json:raw; remove it or change the profile"}},
		{"policy missing", mk("profile: json:policy"), []string{"c.yaml:5:10: policy_snapshot: required by profile json:policy; add policy_snapshot: <snapshot id>, e.g. snap-2025-06"}},
		{"policy id", mk("profile: json:policy", "policy_snapshot: ../x"), []string{`c.yaml:7:18: policy_snapshot: "../x" is not a policy snapshot id: it names a directory under <source>/<tenant>/policy/, 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. snap-2025-06)`}},
		{"base missing", mk("profile: mirror:delta"), []string{"c.yaml:5:10: base: required by profile mirror:delta; add base: <previous mirror bundle>, e.g. base: ../out/mirror-full.tgz"}},
		{"base on mirror:full", mk("profile: mirror:full", "base: a.tgz"), []string{"c.yaml:7:1: base: applies only to profile mirror:delta, not mirror:full; remove it or change the profile"}},
		{"base empty", mk("profile: mirror:delta", "base: ''"), []string{"c.yaml:7:7: base: is empty; write e.g. base: ../out/mirror-full.tgz"}},
		{"codec", mk("compression: {codec: gzip}"), []string{`c.yaml:7:22: compression.codec: codec "gzip" is not supported; the only codec is zstd`}},
		{"level high", mk("compression: {level: 23}"), []string{"c.yaml:7:22: compression.level: 23 is out of range; use an integer from 1 to 22"}},
		{"level zero", mk("compression: {level: 0}"), []string{"c.yaml:7:22: compression.level: 0 is out of range; use an integer from 1 to 22"}},
		{"output path", mk("output: out/a.tgz"), []string{`c.yaml:7:9: output: "out/a.tgz" is a path; output is a bare file name such as acme-weekly.tgz`}},
		{"output extension", mk("output: a.zip"), []string{`c.yaml:7:9: output: "a.zip" must end in .tgz or .tar.gz, e.g. a.zip.tgz`}},
		{"output tar", mk("output: a.tar"), []string{`c.yaml:7:9: output: "a.tar" must end in .tgz or .tar.gz, e.g. a.tgz`}},
		{"output hidden", mk("output: .tgz"), []string{`c.yaml:7:9: output: ".tgz" must start with a letter or digit, e.g. acme-weekly.tgz`}},
		{"output space", mk("output: a b.tgz"), []string{`c.yaml:7:9: output: "a b.tgz" contains ' '; use letters, digits, '.', '_' and '-' only`}},

		// Selectors.
		{"month 13", mk("selectors:\n  since: 2025-13-01T00:00:00Z"), []string{`c.yaml:8:10: selectors.since: "2025-13-01T00:00:00Z" is not an RFC 3339 time; write e.g. 2025-01-01T00:00:00Z`}},
		{"date only", mk("selectors:\n  until: 2025-02-01"), []string{`c.yaml:8:10: selectors.until: "2025-02-01" is a date without a time; write 2025-02-01T00:00:00Z`}},
		{"no offset", mk("selectors:\n  until: '2025-02-01T00:00:00'"), []string{`c.yaml:8:10: selectors.until: "2025-02-01T00:00:00" is not an RFC 3339 time; write e.g. 2025-01-01T00:00:00Z`}},
		{"space separator", mk("selectors:\n  until: 2025-02-01 00:00:00Z"), []string{`c.yaml:8:10: selectors.until: "2025-02-01 00:00:00Z" is not an RFC 3339 time; write e.g. 2025-01-01T00:00:00Z`}},
		{"fractional seconds", mk("selectors:\n  since: 2025-02-01T10:00:00.5+01:00"), []string{`c.yaml:8:10: selectors.since: "2025-02-01T10:00:00.5+01:00" has fractional seconds; write whole seconds, e.g. 2025-02-01T09:00:00Z`}},
		{"impossible window", mk("selectors:\n  since: 2025-01-01T00:00:00Z\n  until: 2024-01-01T00:00:00Z"), []string{"c.yaml:8:10: selectors.since: impossible window: since 2025-01-01T00:00:00Z is not before until 2024-01-01T00:00:00Z; since is inclusive, until exclusive: make since earlier or until later"}},
		{"empty window across offsets", mk("selectors:\n  until: 2025-01-01T00:00:00Z\n  since: 2025-01-01T01:00:00+01:00"), []string{"c.yaml:9:10: selectors.since: impossible window: since 2025-01-01T01:00:00+01:00 is not before until 2025-01-01T00:00:00Z; since is inclusive, until exclusive: make since earlier or until later"}},
		{"empty list", mk("selectors:\n  tenants: []"), []string{"c.yaml:8:12: selectors.tenants: is an empty list, which would select nothing; remove the field to select everything"}},
		{"duplicate tenant", mk("selectors:\n  tenants: [acme, acme]"), []string{`c.yaml:8:19: selectors.tenants[1]: "acme" is listed twice (also at line 8); remove one`}},
		{"bad tenant item", mk("selectors:\n  tenants:\n    - acme\n    - ACME"), []string{`c.yaml:10:7: selectors.tenants[1]: "ACME" is not a tenant name: a tenant is 1 to 63 lower-case letters, digits, '_' or '-', starting with a letter or digit; write acme`}},
		{"cross tenant", mk("selectors:\n  tenants: [acme, globex, initech]"), []string{
			"c.yaml:8:19: selectors.tenants[1]: globex is not the contract's tenant acme; remove it, or set allow_cross_tenant: true",
			"c.yaml:8:27: selectors.tenants[2]: initech is not the contract's tenant acme; remove it, or set allow_cross_tenant: true",
		}},
		{"cross tenant explicitly refused", mk("allow_cross_tenant: false", "selectors: {tenants: [globex]}"), []string{
			"c.yaml:8:23: selectors.tenants[0]: globex is not the contract's tenant acme; remove it, or set allow_cross_tenant: true",
		}},
		{"cross tenant with a broken allow", mk("allow_cross_tenant: 1", "selectors: {tenants: [globex]}"), []string{
			"c.yaml:7:21: allow_cross_tenant: want true or false, got an integer 1",
		}},
		{"purl scheme", mk("selectors:\n  products: [npm/lodash]"), []string{`c.yaml:8:14: selectors.products[0]: "npm/lodash" is not a purl prefix; write pkg:<type>[/<namespace>]/<name>[@<version>], or a prefix of one, e.g. pkg:npm/lodash or pkg:maven/org.apache.logging.log4j/`}},
		{"purl scheme case", mk("selectors:\n  products: [PKG:npm/lodash]"), []string{`c.yaml:8:14: selectors.products[0]: "PKG:npm/lodash": the purl scheme is lower case; write pkg:npm/lodash`}},
		{"purl type case", mk("selectors:\n  products: [pkg:Maven/org.x/y]"), []string{`c.yaml:8:14: selectors.products[0]: "pkg:Maven/org.x/y": the purl type is lower case; write pkg:maven/org.x/y`}},
		{"purl slashes", mk("selectors:\n  products: ['pkg://npm/a']"), []string{`c.yaml:8:14: selectors.products[0]: "pkg://npm/a" has '/' after pkg:; write pkg:npm/a`}},
		{"purl no type", mk("selectors:\n  products: ['pkg:']"), []string{`c.yaml:8:14: selectors.products[0]: "pkg:" has no package type; write pkg:<type>[/<namespace>]/<name>[@<version>], or a prefix of one, e.g. pkg:npm/lodash or pkg:maven/org.apache.logging.log4j/`}},
		{"purl type digit", mk("selectors:\n  products: ['pkg:1x/a']"), []string{`c.yaml:8:14: selectors.products[0]: "pkg:1x/a" has an invalid purl type "1x": a type starts with a letter and holds a-z, 0-9, '.', '+' and '-' (e.g. npm, maven, golang)`}},
		{"purl space", mk("selectors:\n  products: ['pkg:npm/a b']"), []string{`c.yaml:8:14: selectors.products[0]: "pkg:npm/a b" contains whitespace or a control character (' '); a purl has none: percent-encode it (a space is %20)`}},
		{"purl empty", mk("selectors:\n  products: ['']"), []string{"c.yaml:8:14: selectors.products[0]: is empty; write pkg:<type>[/<namespace>]/<name>[@<version>], or a prefix of one, e.g. pkg:npm/lodash or pkg:maven/org.apache.logging.log4j/"}},
		{"subject empty", mk("selectors:\n  sbom_subjects: ['', ' a']"), []string{
			"c.yaml:8:19: selectors.sbom_subjects[0]: is empty; write an SBOM subject such as pkg:oci/app or the SBOM's component name",
			`c.yaml:8:23: selectors.sbom_subjects[1]: " a" has leading or trailing spaces; remove them`,
		}},
		{"ecosystem typo", mk("selectors:\n  ecosystems: [pypii]"), []string{`c.yaml:8:16: selectors.ecosystems[0]: unknown ecosystem "pypii"; did you mean PyPI?`}},
		{"ecosystem unknown", mk("selectors:\n  ecosystems: [cobol]"), []string{`c.yaml:8:16: selectors.ecosystems[0]: unknown ecosystem "cobol"; use an OSV ecosystem or purl type such as npm, PyPI, Go, Maven, crates.io, RubyGems, NuGet, Debian or Alpine (docs/contract.md lists all)`}},
		{"ecosystem release", mk("selectors:\n  ecosystems: ['Debian:12']"), []string{`c.yaml:8:16: selectors.ecosystems[0]: "Debian:12" names a release (12); ecosystems select whole ecosystems: write Debian`}},
		{"ecosystem spellings", mk("selectors:\n  ecosystems: [PyPI, pypi, Go, golang]"), []string{
			`c.yaml:8:22: selectors.ecosystems[1]: "pypi" selects the same as "PyPI" (line 8): both mean purl type pypi; remove one`,
			`c.yaml:8:32: selectors.ecosystems[3]: "golang" selects the same as "Go" (line 8): both mean purl type golang; remove one`,
		}},
		{"ecosystems of one type", mk("selectors:\n  ecosystems: [Debian, Ubuntu]"), []string{`c.yaml:8:24: selectors.ecosystems[1]: "Ubuntu" selects the same as "Debian" (line 8): both mean purl type deb; remove one`}},

		{"too many mistakes", mk(strings.Repeat("tenant: acme\n", 150)), append(func() []string {
			var l []string
			for line := 7; line < 7+maxErrors; line++ {
				l = append(l, fmt.Sprintf("c.yaml:%d:1: tenant: written twice, at lines 4 and %d; keep one", line, line))
			}
			return l
		}(), "c.yaml:107:1: 50 more mistakes from here on are not listed; fix the ones above and check again")},

		// Several mistakes come out in file order, whatever order they
		// are found in.
		{"order", mk("-tenant", "selectors:\n  since: 2026-01-01T00:00:00Z\n  until: 2025-01-01T00:00:00Z\n  bogus: 1", "output: x", "exportid: y"), []string{
			"c.yaml:1:1: tenant: missing; add tenant: <name>, e.g. tenant: acme",
			"c.yaml:7:10: selectors.since: impossible window: since 2026-01-01T00:00:00Z is not before until 2025-01-01T00:00:00Z; since is inclusive, until exclusive: make since earlier or until later",
			"c.yaml:9:3: selectors.bogus: unknown field; valid fields here: tenants, since, until, products, sbom_subjects, ecosystems",
			`c.yaml:10:9: output: "x" must end in .tgz or .tar.gz, e.g. x.tgz`,
			"c.yaml:11:1: exportid: unknown field; did you mean export_id?",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error; want %q\n%s", tt.want, clipped(tt.src))
			}
			if c != nil {
				t.Errorf("a contract came back with the errors")
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T is not Errors", err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s\nsource:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"), clipped(tt.src))
			}
			if exitcode.For(err) != exitcode.Invalid {
				t.Errorf("exit code %d, want %d", exitcode.For(err), exitcode.Invalid)
			}
		})
	}
}

func TestThreeMistakes(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "contracts", "invalid", "three-mistakes.yaml")
	_, err := Load(path)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Load = %v, want Errors", err)
	}
	want := []struct {
		line, col int
		field     string
	}{
		{5, 12, "export_id"},
		{10, 10, "selectors.since"},
		{11, 17, "retention_days"},
	}
	if len(es) != len(want) {
		t.Fatalf("%d errors, want 3:\n%v", len(es), err)
	}
	for i, w := range want {
		e := es[i]
		if e.File != path || e.Line != w.line || e.Column != w.col || e.Field != w.field || e.Reason == "" {
			t.Errorf("error %d = %+v, want %s:%d:%d %s", i, *e, path, w.line, w.col, w.field)
		}
		if !strings.HasPrefix(e.Error(), path+":"+itoa(w.line)+":"+itoa(w.col)+": "+w.field+": ") {
			t.Errorf("message %q", e.Error())
		}
	}
	if got, want := err.Error(), es[0].Error()+"; "+es[1].Error()+"; "+es[2].Error(); got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
}

func TestErrorClasses(t *testing.T) {
	fe := &FieldError{File: "c.yaml", Line: 7, Column: 10, Field: "selectors.since", Reason: "r"}
	if fe.Error() != "c.yaml:7:10: selectors.since: r" {
		t.Errorf("FieldError = %q", fe.Error())
	}
	for _, tt := range []struct {
		e    *FieldError
		want string
	}{
		{&FieldError{File: "c.yaml", Line: 7, Reason: "r"}, "c.yaml:7: r"},
		{&FieldError{File: "c.yaml", Reason: "r"}, "c.yaml: r"},
		{&FieldError{File: "c.yaml", Line: 1, Column: 1, Field: "tenant", Reason: "r"}, "c.yaml:1:1: tenant: r"},
	} {
		if tt.e.Error() != tt.want {
			t.Errorf("%+v: %q, want %q", *tt.e, tt.e.Error(), tt.want)
		}
	}
	if !errors.Is(fe, exitcode.ErrInvalid) || exitcode.For(fe) != exitcode.Invalid {
		t.Error("a FieldError is not invalid input")
	}
	es := Errors{fe}
	var got *FieldError
	if !errors.As(error(es), &got) || got != fe {
		t.Error("errors.As does not find the FieldError in Errors")
	}
	if !errors.Is(Errors{}, exitcode.ErrInvalid) {
		t.Error("empty Errors is not invalid input")
	}

	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || exitcode.For(err) != exitcode.IO || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v (exit %d), want an I/O error", err, exitcode.For(err))
	}
	if err != nil && strings.Count(err.Error(), "missing.yaml") != 1 {
		t.Errorf("the path is not named once: %q", err)
	}
	// Not a regular file: refused as invalid input (exit 3); a FIFO in
	// TestLoadFIFO.
	_, err = Load(t.TempDir())
	if err == nil || exitcode.For(err) != exitcode.Invalid || !strings.Contains(err.Error(), "is a directory, not a regular file") {
		t.Errorf("directory: %v (exit %d), want exit 3", err, exitcode.For(err))
	}
}

func TestSamples(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "contracts")
	want := map[string]string{
		"json-raw.yaml":     ProfileJSONRaw,
		"json-policy.yaml":  ProfileJSONPolicy,
		"mirror-full.yaml":  ProfileMirrorFull,
		"mirror-delta.yaml": ProfileMirrorDelta,
	}
	for name, profile := range want {
		c, err := Load(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if c.Profile != profile || c.Tenant != "acme" {
			t.Errorf("%s: profile %s, tenant %s", name, c.Profile, c.Tenant)
		}
		if c.SourceDir != filepath.Join("..", "..", "testdata", "evidence") {
			t.Errorf("%s: SourceDir %s", name, c.SourceDir)
		}
		if profile != ProfileJSONRaw && c.PolicySnapshot != "snap-2025-06" {
			t.Errorf("%s: policy snapshot %q", name, c.PolicySnapshot)
		}
		if profile == ProfileMirrorDelta && c.BasePath != filepath.Join("..", "..", "out", "mirror-full.tgz") {
			t.Errorf("%s: BasePath %s", name, c.BasePath)
		}
	}
	// mirror-delta must select what mirror-full selects, or full + delta
	// cannot reproduce a later full mirror.
	full, err1 := Load(filepath.Join(dir, "mirror-full.yaml"))
	delta, err2 := Load(filepath.Join(dir, "mirror-delta.yaml"))
	if err1 == nil && err2 == nil && !reflect.DeepEqual(full.Selectors, delta.Selectors) {
		t.Errorf("mirror-full and mirror-delta select differently: %+v, %+v", full.Selectors, delta.Selectors)
	}
}

func TestCheck(t *testing.T) {
	valid := filepath.Join("..", "..", "testdata", "contracts")
	if errs := Check([]string{valid}); len(errs) != 0 {
		t.Errorf("Check(%s) = %v", valid, errs)
	}

	// Every invalid sample has at least one mistake, and Check reports
	// them file by file in name order, each file's in line order.
	invalid := filepath.Join(valid, "invalid")
	errs := Check([]string{invalid})
	entries, err := os.ReadDir(invalid)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, filepath.Join(invalid, e.Name()))
	}
	var seen []string
	var prev *FieldError
	for _, err := range errs {
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("Check returned %T %v, want *FieldError", err, err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != fe.File {
			seen = append(seen, fe.File)
		} else if fe.Line < prev.Line {
			t.Errorf("%s: errors out of order: %v after %v", fe.File, fe, prev)
		}
		prev = fe
	}
	if !reflect.DeepEqual(seen, files) {
		t.Errorf("files with errors %v, want every file in order %v", seen, files)
	}

	// Files, directories, .yml, other files and subdirectories; an
	// unreadable path is reported in its place and does not stop Check.
	tmp := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("d/b.yml", mk("tenant: B"))
	write("d/a.yaml", mk("profile: raw"))
	write("d/c.yaml", head)
	write("d/notes.txt", "not a contract")
	write("d/sub/x.yaml", "broken: [")
	one := write("one.yaml", mk("output: a"))
	missing := filepath.Join(tmp, "missing.yaml")
	errs = Check([]string{one, missing, filepath.Join(tmp, "d")})
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	want := []string{
		one + `:7:9: output: "a" must end in .tgz or .tar.gz, e.g. a.tgz`,
		"read contract " + missing + ": no such file or directory",
		filepath.Join(tmp, "d", "a.yaml") + `:5:10: profile: unknown profile "raw"; use one of json:raw, json:policy, mirror:full, mirror:delta, trivy:db, trivy:java-db`,
		filepath.Join(tmp, "d", "b.yml") + `:4:9: tenant: "B" is not a tenant name: a tenant is 1 to 63 lower-case letters, digits, '_' or '-', starting with a letter or digit; write b`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Check:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(errs) == 4 && (exitcode.For(errs[0]) != exitcode.Invalid || exitcode.For(errs[1]) != exitcode.IO) {
		t.Errorf("exit codes %d, %d", exitcode.For(errs[0]), exitcode.For(errs[1]))
	}

	empty := filepath.Join(tmp, "d", "sub", "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	errs = Check([]string{empty})
	if len(errs) != 1 || exitcode.For(errs[0]) != exitcode.Invalid || !strings.Contains(errs[0].Error(), "no contract files") {
		t.Errorf("empty directory: %v", errs)
	}
}

func TestNormalizeEcosystem(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"npm", "npm", true},
		{"NPM", "npm", true},
		{"PyPI", "pypi", true},
		{"pypi", "pypi", true},
		{"Go", "golang", true},
		{"golang", "golang", true},
		{"Maven", "maven", true},
		{"crates.io", "cargo", true},
		{"cargo", "cargo", true},
		{"RubyGems", "gem", true},
		{"gem", "gem", true},
		{"NuGet", "nuget", true},
		{"Packagist", "composer", true},
		{"composer", "composer", true},
		{"Hex", "hex", true},
		{"Pub", "pub", true},
		{"Debian", "deb", true},
		{"Debian:12", "deb", true},
		{"Ubuntu:22.04:LTS", "deb", true},
		{"Alpine:v3.19", "apk", true},
		{"apk", "apk", true},
		{"SwiftURL", "swift", true},
		{"GitHub Actions", "github", true},
		{"Red Hat:enterprise_linux:9", "rpm", true},
		{"rpm", "rpm", true},
		{"", "", false},
		{"cobol", "", false},
		{"crates", "", false},
		{"Linux", "", false},
		{":npm", "", false},
	} {
		got, ok := NormalizeEcosystem(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeEcosystem(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSuggest(t *testing.T) {
	cands := []string{"export_id", "tenant", "selectors", "retention_days", "kind", "base"}
	for in, want := range map[string]string{
		"exportid":  "export_id",
		"Export-ID": "export_id",
		"tenat":     "tenant",
		"selector":  "selectors",
		"retention": "retention_days",
		"kinds":     "kind",
		"bass":      "base",
		"colour":    "",
		"":          "",
		"ret":       "",
	} {
		if got := suggest(in, cands); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

// clipped shortens a test input for a failure message.
func clipped(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "..."
	}
	return s
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
