package contract

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const datasetFields = "apiVersion, kind, export_id, tenant, dataset_ref, schema_ref, schema_digest, format, compression, destination, encryption, retention_days, delivery_method, redaction, aggregation, validation, split, export_type, export_reason, consent_scope, hash_mode, requested_by, period"

const dsDigest = "sha256:7f5577ce7b1b45e1ac6e8a0db04c433b73eac660e1c6867f8e73eac8417a3143"

// dsHead is a minimal valid DatasetExport; lines 1-8.
const dsHead = `apiVersion: stella-export/v1
kind: DatasetExport
export_id: urn:stella:export:acme:clients
tenant: acme
dataset_ref: csv:data/clients.csv
schema_ref: client.schema.yaml
schema_digest: ` + dsDigest + `
format: csv
`

func TestDatasetValid(t *testing.T) {
	src := dsHead + `compression: {codec: zstd, level: 5}
destination: out/{year}/{month}
retention_days: 90
delivery_method: local
redaction:
  drop: [FirstName]
  mask: [DOB]
  hash: [PersonalID]
  suppress_where: {DomesticViolenceSurvivor: "1"}
aggregation:
  group_by: [Gender]
  measures: {count: '*', sum: [MonthlyIncome]}
validation: {hmis_epoch: 2000-01-01, warnings: [DATE_SEQUENCE_VIOLATION], max_offenders: 5}
split: {rows: 1000, bytes: 1048576}
export_type: HUD_HMIS
export_reason: Annual HUD APR reporting
consent_scope: FULL_EXPORT
hash_mode: HASH_VAWA_ONLY
requested_by: steward@acme.example
period: {start: 2024-01-01, end: 2024-12-31}
encryption: alias/acme
`
	c, err := Parse("dir/c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Dataset
	want := &Dataset{
		DatasetRef: "csv:data/clients.csv", SourceKind: "csv", SourcePath: "dir/data/clients.csv",
		SchemaRef: "client.schema.yaml", SchemaPath: "dir/client.schema.yaml", SchemaDigest: dsDigest,
		Format: FormatCSV, Destination: "out/{year}/{month}", DeliveryMethod: DeliverLocal,
		Redaction: Redaction{Drop: []string{"FirstName"}, Mask: []string{"DOB"}, Hash: []string{"PersonalID"},
			SuppressWhere: map[string]string{"DomesticViolenceSurvivor": "1"}, SuppressOrder: []string{"DomesticViolenceSurvivor"}},
		Aggregation: &Aggregation{GroupBy: []string{"Gender"}, Count: true, Sum: []string{"MonthlyIncome"}},
		Validation:  Validation{HMISEpoch: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), Warnings: []string{CodeDateSequence}, MaxOffenders: 5},
		Split:       Split{Rows: 1000, Bytes: 1 << 20},
		ExportType:  "HUD_HMIS", ExportReason: "Annual HUD APR reporting", ConsentScope: "FULL_EXPORT", HashMode: HashVAWAOnly,
		RequestedBy: "steward@acme.example",
		PeriodStart: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC),
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("dataset:\n%+v\nwant:\n%+v", d, want)
	}
	if c.Compression != (Compression{Codec: "zstd", Level: 5}) {
		t.Errorf("compression %+v", c.Compression)
	}
	if c.Encryption == nil || c.Encryption.Scope != ScopeData || c.Encryption.Key != "alias/acme" {
		t.Errorf("encryption %+v, want envelope alias/acme with scope data", c.Encryption)
	}
	if got := c.Where("redaction.hash[0]"); got != "dir/c.yaml:16:10" {
		t.Errorf("Where(redaction.hash[0]) = %s", got)
	}
}

func TestDatasetDefaults(t *testing.T) {
	for _, tt := range []struct {
		format string
		want   Compression
	}{{"csv", Compression{Codec: "none"}}, {"jsonl", Compression{Codec: "none"}}, {"parquet", Compression{Codec: "snappy"}}} {
		c, err := Parse("c.yaml", []byte(strings.Replace(dsHead, "format: csv", "format: "+tt.format, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if c.Compression != tt.want {
			t.Errorf("%s: compression %+v, want %+v", tt.format, c.Compression, tt.want)
		}
		d := c.Dataset
		if d.DeliveryMethod != DeliverLocal || !d.Validation.HMISEpoch.Equal(DefaultHMISEpoch) || d.Validation.MaxOffenders != 20 {
			t.Errorf("%s: defaults %+v", tt.format, d)
		}
	}
	c, err := Parse("c.yaml", []byte(dsHead+"compression: gzip\n"))
	if err != nil || c.Compression.Codec != "gzip" {
		t.Errorf("string compression: %v %+v", err, c)
	}
	c, err = Parse("c.yaml", []byte(strings.Replace(dsHead, "csv:data/clients.csv", `"sqlite:db.sqlite?query=SELECT * FROM client;"`, 1)))
	if err != nil || c.Dataset.Query != "SELECT * FROM client" || c.Dataset.SourcePath != "db.sqlite" {
		t.Errorf("sqlite query: %v %+v", err, c)
	}
}

func TestDatasetErrors(t *testing.T) {
	for _, tt := range []struct {
		name, extra string
		want        []string
	}{
		{"codec for format", "compression: snappy", []string{`c.yaml:9:14: compression: codec "snappy" does not apply to format csv; use one of none, gzip, zstd`}},
		{"level without zstd", "compression: {codec: gzip, level: 3}", []string{"c.yaml:9:35: compression.level: applies to codec zstd only; remove it"}},
		{"format json", "", nil},
		{"hash mode", "hash_mode: HASH_ALL_SSNS", []string{`c.yaml:9:12: hash_mode: unknown hash_mode "HASH_ALL_SSNS"; did you mean HASH_ALL_SSN?`}},
		{"vawa without suppress", "hash_mode: HASH_VAWA_ONLY", []string{"c.yaml:9:12: hash_mode: HASH_VAWA_ONLY hashes the identifiers of VAWA-protected rows, which redaction.suppress_where selects; add it"}},
		{"warning code", "validation: {warnings: [REQUIRED_FIELD_NUL]}", []string{`c.yaml:9:25: validation.warnings[0]: unknown code "REQUIRED_FIELD_NUL"; did you mean REQUIRED_FIELD_NULL?`}},
		{"period order", "period: {start: 2024-12-31, end: 2024-01-01}", []string{"c.yaml:9:34: period.end: 2024-01-01 is before period.start 2024-12-31; the period is inclusive: make end later"}},
		{"template without period", "destination: out/{year}", []string{"c.yaml:9:14: destination: {year} and {month} come from the export period; add period: {start: YYYY-MM-DD, end: YYYY-MM-DD}"}},
		{"unknown placeholder", "destination: out/{day}", []string{"c.yaml:9:14: destination: unknown placeholder {day}; destination may use {year}, {month}, {tenant} and {export_id}"}},
		{"s3 without destination", "delivery_method: s3", []string{"c.yaml:9:18: destination: required by delivery_method s3; add destination: e.g. s3://bucket/prefix/{year}/{month}"}},
		{"s3 target", "delivery_method: s3\ndestination: https://x/y", []string{`c.yaml:10:14: destination: "https://x/y" is not a s3 target; delivery_method s3 delivers to s3://bucket/prefix...`}},
		{"local to URL", "destination: s3://b/p", []string{`c.yaml:9:14: destination: "s3://b/p" is a URL; delivery_method local copies to a directory: write a path, or set delivery_method: s3`}},
		{"count not star", "aggregation: {group_by: [a], measures: {count: a}}", []string{"c.yaml:9:48: aggregation.measures.count: count counts rows: write count: '*'"}},
		{"empty drop", "redaction: {drop: []}", []string{"c.yaml:9:19: redaction.drop: is an empty list, which would select nothing; remove the field to select everything"}},
		{"split rows", "split: {rows: 0}", []string{"c.yaml:9:15: split.rows: 0 is out of range; use an integer from 1 to 1099511627776"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := dsHead + tt.extra + "\n"
			if tt.name == "format json" {
				src = strings.Replace(dsHead, "format: csv", "format: json", 1)
				tt.want = []string{"c.yaml:8:9: format: format json is written as JSON lines; write format: jsonl"}
			}
			_, err := Parse("c.yaml", []byte(src))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %v is not Errors", err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestDatasetSourceRefs(t *testing.T) {
	for ref, want := range map[string]string{
		"xlsx:a.xlsx":                                `"xlsx:a.xlsx" is not a dataset source`,
		"sqlite:a.db":                                "a SQLite source names its table or query",
		"sqlite:a.db?table=1x":                       `table "1x" is not a plain table name`,
		`"sqlite:a.db?query=DELETE FROM t"`:          "is not a SELECT",
		`"sqlite:a.db?query=SELECT 1; DROP TABLE t"`: "holds more than one statement",
		`"csv:"`: `"csv:" names no file`,
	} {
		_, err := Parse("c.yaml", []byte(strings.Replace(dsHead, "csv:data/clients.csv", ref, 1)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", ref, err, want)
		}
	}
}
