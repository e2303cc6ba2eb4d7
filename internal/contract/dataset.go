package contract

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// KindDataset is the kind of dataset exports (docs/contract.md#datasetexport):
// a table read from a CSV, JSON lines, Parquet or SQLite source, checked
// against a schema, validated, redacted and written as Parquet, CSV or
// JSON lines.
const KindDataset = "DatasetExport"

// Dataset formats.
const (
	FormatParquet = "parquet"
	FormatCSV     = "csv"
	FormatJSONL   = "jsonl"
)

// Delivery methods.
const (
	DeliverLocal     = "local"
	DeliverS3        = "s3"
	DeliverPresigned = "presigned"
	DeliverSnowflake = "snowflake"
)

// Hash modes of the runbook (docs/contract.md#hash_mode).
const (
	HashAllSSN   = "HASH_ALL_SSN"
	HashNone     = "HASH_NONE"
	HashVAWAOnly = "HASH_VAWA_ONLY"
)

// Validation codes of the runbook's CSV guardrails; they are rows of
// internal/exitcode's error-code table too.
const (
	CodePicklist     = exitcode.CodePicklistInvalid
	CodeRequired     = exitcode.CodeRequiredNull
	CodeEpoch        = exitcode.CodeBeforeHMISEpoch
	CodeDateSequence = exitcode.CodeDateSequence
)

// ValidationCodes lists the guardrail codes in documentation order.
var ValidationCodes = []string{CodePicklist, CodeRequired, CodeEpoch, CodeDateSequence}

var (
	formats         = []string{FormatParquet, FormatCSV, FormatJSONL}
	deliveryMethods = []string{DeliverLocal, DeliverS3, DeliverPresigned, DeliverSnowflake}
	hashModes       = []string{HashAllSSN, HashNone, HashVAWAOnly}
	sourceKinds     = []string{"csv", "jsonl", "parquet", "sqlite"}
	// codecs by format; the first is the default.
	datasetCodecs = map[string][]string{
		FormatParquet: {"snappy", "zstd", "gzip", "none"},
		FormatCSV:     {"none", "gzip", "zstd"},
		FormatJSONL:   {"none", "gzip", "zstd"},
	}
)

// DefaultHMISEpoch is validation.hmis_epoch when not written: the HMIS
// data standards' epoch, 1998-10-01.
var DefaultHMISEpoch = time.Date(1998, 10, 1, 0, 0, 0, 0, time.UTC)

// Dataset holds the fields of a DatasetExport contract. The shared fields
// (compression, retention_days, encryption) are in Contract.
type Dataset struct {
	// DatasetRef is the source as written: csv:PATH, jsonl:PATH,
	// parquet:PATH, sqlite:PATH?table=T or sqlite:PATH?query=SELECT...
	DatasetRef string
	// SourceKind is csv, jsonl, parquet or sqlite; SourcePath the file,
	// resolved against the contract's directory; Table or Query the
	// SQLite source's table or SELECT.
	SourceKind string
	SourcePath string
	Table      string
	Query      string

	SchemaRef    string // as written
	SchemaPath   string // resolved
	SchemaDigest string // "sha256:<hex>"

	Format         string
	Destination    string // as written, {year} and {month} expanded by run
	DeliveryMethod string // default local

	Redaction   Redaction
	Aggregation *Aggregation
	Validation  Validation
	Split       Split

	// The runbook's request fields, recorded in the consent ledger.
	ExportType   string
	ExportReason string
	ConsentScope string
	HashMode     string
	RequestedBy  string
	PeriodStart  time.Time // zero when not written
	PeriodEnd    time.Time
}

// Redaction says which columns are dropped, masked or hashed, and which
// rows are suppressed (VAWA-protected records).
type Redaction struct {
	Drop          []string
	Mask          []string
	Hash          []string
	SuppressWhere map[string]string // column -> value as text
	// SuppressOrder is SuppressWhere's columns as written.
	SuppressOrder []string
}

// Aggregation replaces rows with one row per group.
type Aggregation struct {
	GroupBy []string
	Count   bool     // measures.count: '*'
	Sum     []string // measures.sum
}

// Validation configures the guardrails.
type Validation struct {
	HMISEpoch time.Time
	// Warnings are the codes reported without blocking the export.
	Warnings []string
	// MaxOffenders bounds the offenders listed per code; default 20.
	MaxOffenders int
}

// Split bounds the data files: a new file starts after Rows rows or once
// a file reaches Bytes bytes (0: no bound).
type Split struct {
	Rows  int64
	Bytes int64
}

var datasetKind = &kindSpec{
	fields: []field{
		{"dataset_ref", "missing; add dataset_ref: csv:<file>, e.g. dataset_ref: csv:data/clients.csv", readDatasetRef},
		{"schema_ref", "missing; add schema_ref: <schema YAML>, e.g. schema_ref: schemas/client.yaml", readSchemaRef},
		{"schema_digest", "missing; add schema_digest: sha256:<hex> (sha256sum of the schema file)", readSchemaDigest},
		{"format", "missing; add format: one of " + strings.Join(formats, ", "), readFormat},
		{"compression", "", readDatasetCompression},
		{"destination", "", readDestination},
		{"encryption", "", readEncryption},
		{"retention_days", "", readRetention},
		{"delivery_method", "", readDeliveryMethod},
		{"redaction", "", readRedaction},
		{"aggregation", "", readAggregation},
		{"validation", "", readValidation},
		{"split", "", readSplit},
		{"export_type", "", readMeta(func(d *Dataset, s string) { d.ExportType = s })},
		{"export_reason", "", readMeta(func(d *Dataset, s string) { d.ExportReason = s })},
		{"consent_scope", "", readMeta(func(d *Dataset, s string) { d.ConsentScope = s })},
		{"hash_mode", "", readHashMode},
		{"requested_by", "", readMeta(func(d *Dataset, s string) { d.RequestedBy = s })},
		{"period", "", readPeriod},
	},
	check: checkDataset,
}

func ds(c *Contract) *Dataset {
	if c.Dataset == nil {
		c.Dataset = &Dataset{DeliveryMethod: DeliverLocal, Validation: Validation{HMISEpoch: DefaultHMISEpoch, MaxOffenders: 20}}
	}
	return c.Dataset
}

func readDatasetRef(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.nonEmpty(path, v, "dataset_ref: csv:data/clients.csv")
	if !ok {
		return
	}
	d := ds(c)
	kind, rest, found := strings.Cut(s, ":")
	if !found || !contains(sourceKinds, kind) {
		p.errorf(v, path, "%s is not a dataset source; write csv:PATH, jsonl:PATH, parquet:PATH, sqlite:PATH?table=T or sqlite:PATH?query=SELECT...", quote(s))
		return
	}
	if strings.IndexByte(rest, 0) >= 0 {
		p.errorf(v, path, "contains a NUL byte; write the source file's path")
		return
	}
	file := rest
	if kind == "sqlite" {
		var q string
		file, q, found = strings.Cut(rest, "?")
		switch {
		case !found:
			p.errorf(v, path, "a SQLite source names its table or query: write sqlite:%s?table=NAME or sqlite:%s?query=SELECT...", rest, rest)
			return
		case strings.HasPrefix(q, "table="):
			t := strings.TrimPrefix(q, "table=")
			if !sqlIdent.MatchString(t) {
				p.errorf(v, path, "table %s is not a plain table name (letters, digits and '_', not starting with a digit)", quote(t))
				return
			}
			d.Table = t
		case strings.HasPrefix(q, "query="):
			sq := strings.TrimSpace(strings.TrimPrefix(q, "query="))
			if reason := checkSelect(sq); reason != "" {
				p.errorf(v, path, "%s", reason)
				return
			}
			d.Query = strings.TrimSpace(strings.TrimSuffix(sq, ";"))
		default:
			p.errorf(v, path, "%s: after '?' write table=NAME or query=SELECT...", quote(s))
			return
		}
	}
	if strings.TrimSpace(file) == "" {
		p.errorf(v, path, "%s names no file; write %s:PATH", quote(s), kind)
		return
	}
	d.DatasetRef, d.SourceKind, d.SourcePath = s, kind, file
}

var sqlIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// checkSelect accepts one SELECT (or WITH ... SELECT) statement: no ';'
// but a final one. The source is opened read-only besides; this check
// gives the clear message.
func checkSelect(q string) string {
	q = strings.TrimSuffix(strings.TrimSpace(q), ";")
	fields := strings.Fields(strings.ToUpper(q))
	if len(fields) == 0 || (fields[0] != "SELECT" && fields[0] != "WITH") {
		return fmt.Sprintf("query %s is not a SELECT; a SQLite source reads with a single SELECT statement", quote(q))
	}
	if strings.Contains(q, ";") {
		return fmt.Sprintf("query %s holds more than one statement; write a single SELECT", quote(q))
	}
	return ""
}

func readSchemaRef(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.nonEmpty(path, v, "schema_ref: schemas/client.yaml")
	if !ok {
		return
	}
	if strings.IndexByte(s, 0) >= 0 {
		p.errorf(v, path, "contains a NUL byte; write the schema file's path")
		return
	}
	ds(c).SchemaRef = s
}

var sha256Digest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func readSchemaDigest(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.str(path, v)
	if !ok {
		return
	}
	if !sha256Digest.MatchString(s) {
		if len(s) == 64 && sha256Digest.MatchString("sha256:"+strings.ToLower(s)) {
			p.errorf(v, path, "%s lacks the algorithm; write sha256:%s", quote(s), strings.ToLower(s))
			return
		}
		p.errorf(v, path, "%s is not a digest; write sha256:<64 lower-case hex digits> (sha256sum of the schema file)", quote(s))
		return
	}
	ds(c).SchemaDigest = s
}

func readFormat(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.str(path, v)
	if !ok {
		return
	}
	if s == "json" {
		p.errorf(v, path, "format json is written as JSON lines; write format: jsonl")
		return
	}
	if !contains(formats, s) {
		p.errorf(v, path, "unknown format %s; use one of %s", quote(s), strings.Join(formats, ", "))
		return
	}
	ds(c).Format = s
}

// readDatasetCompression reads the SVC-002 string form (snappy) or the
// mapping {codec: snappy[, level: N]}; the codec is checked against the
// format in checkDataset.
func readDatasetCompression(p *parser, c *Contract, path string, v *yaml.Node) {
	c.Compression = Compression{}
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
		c.Compression.Codec = v.Value
		return
	}
	if v.Kind != yaml.MappingNode {
		p.errorf(v, path, "want a codec such as snappy, or a mapping such as {codec: zstd}, got %s", describe(v))
		return
	}
	p.mapping(c, path, v, []field{
		{"codec", "missing; add codec: e.g. codec: zstd", func(p *parser, c *Contract, path string, v *yaml.Node) {
			if s, ok := p.str(path, v); ok {
				c.Compression.Codec = s
			}
		}},
		{"level", "", readLevel},
	}, true)
}

func readDestination(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.nonEmpty(path, v, "destination: out/delivered/{year}/{month}")
	if !ok {
		return
	}
	if strings.IndexByte(s, 0) >= 0 {
		p.errorf(v, path, "contains a NUL byte")
		return
	}
	for _, m := range placeholder.FindAllString(s, -1) {
		if m != "{year}" && m != "{month}" && m != "{export_id}" && m != "{tenant}" {
			p.errorf(v, path, "unknown placeholder %s; destination may use {year}, {month}, {tenant} and {export_id}", m)
			return
		}
	}
	ds(c).Destination = s
}

// deliveryScheme is how the destination of each remote method starts;
// Snowflake's also may be an external stage, @STAGE/path.
var (
	deliveryScheme  = map[string]string{DeliverS3: "s3://", DeliverPresigned: "https://", DeliverSnowflake: "snowflake://"}
	deliveryExample = map[string]string{DeliverS3: "s3://bucket/prefix", DeliverPresigned: "https://host/path", DeliverSnowflake: "@STAGE/path (or snowflake://@STAGE/path)"}
)

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

func readDeliveryMethod(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.str(path, v)
	if !ok {
		return
	}
	if !contains(deliveryMethods, s) {
		p.errorf(v, path, "unknown delivery_method %s; use one of %s", quote(s), strings.Join(deliveryMethods, ", "))
		return
	}
	ds(c).DeliveryMethod = s
}

func readMeta(set func(*Dataset, string)) func(p *parser, c *Contract, path string, v *yaml.Node) {
	return func(p *parser, c *Contract, path string, v *yaml.Node) {
		s, ok := p.nonEmpty(path, v, "a short text")
		if !ok {
			return
		}
		if len(s) > 1024 {
			p.errorf(v, path, "is %d bytes long; keep it to 1024", len(s))
			return
		}
		set(ds(c), s)
	}
}

func readHashMode(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.str(path, v)
	if !ok {
		return
	}
	if !contains(hashModes, s) {
		if g := suggest(s, hashModes); g != "" {
			p.errorf(v, path, "unknown hash_mode %s; did you mean %s?", quote(s), g)
			return
		}
		p.errorf(v, path, "unknown hash_mode %s; use one of %s", quote(s), strings.Join(hashModes, ", "))
		return
	}
	ds(c).HashMode = s
}

func readPeriod(p *parser, c *Contract, path string, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		p.errorf(v, path, "want a mapping {start: 2024-01-01, end: 2024-12-31}, got %s", describe(v))
		return
	}
	p.mapping(c, path, v, []field{
		{"start", "missing; add start: YYYY-MM-DD", func(p *parser, c *Contract, path string, v *yaml.Node) {
			if t, ok := p.date(path, v); ok {
				ds(c).PeriodStart = t
			}
		}},
		{"end", "missing; add end: YYYY-MM-DD", func(p *parser, c *Contract, path string, v *yaml.Node) {
			if t, ok := p.date(path, v); ok {
				ds(c).PeriodEnd = t
			}
		}},
	}, true)
}

// date reads a calendar day, YYYY-MM-DD, quoted or not.
func (p *parser) date(path string, v *yaml.Node) (time.Time, bool) {
	if v.Kind != yaml.ScalarNode || (v.ShortTag() != "!!str" && v.ShortTag() != "!!timestamp") {
		p.errorf(v, path, "want a date such as 2024-01-01, got %s", describe(v))
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, v.Value)
	if err != nil {
		p.errorf(v, path, "%s is not a date; write YYYY-MM-DD, e.g. 2024-01-01", quote(v.Value))
		return time.Time{}, false
	}
	return t, true
}

var redactionFields = []field{
	{"drop", "", readColumns(func(r *Redaction, l []string) { r.Drop = l })},
	{"mask", "", readColumns(func(r *Redaction, l []string) { r.Mask = l })},
	{"hash", "", readColumns(func(r *Redaction, l []string) { r.Hash = l })},
	{"suppress_where", "", readSuppress},
}

func readRedaction(p *parser, c *Contract, path string, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		p.errorf(v, path, "want a mapping of drop, mask, hash or suppress_where, got %s", describe(v))
		return
	}
	ds(c)
	p.mapping(c, path, v, redactionFields, true)
}

func checkColumnName(s string) string {
	if strings.TrimSpace(s) == "" {
		return "is empty; write a column name of the schema"
	}
	return ""
}

func readColumns(set func(*Redaction, []string)) func(p *parser, c *Contract, path string, v *yaml.Node) {
	return func(p *parser, c *Contract, path string, v *yaml.Node) {
		if l, ok := p.list(path, v, checkColumnName, nil); ok {
			set(&ds(c).Redaction, l)
		}
	}
}

func readSuppress(p *parser, c *Contract, path string, v *yaml.Node) {
	if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
		p.errorf(v, path, "want a mapping of column to value, e.g. {DomesticViolenceSurvivor: \"1\"}, got %s", describe(v))
		return
	}
	r := &ds(c).Redaction
	r.SuppressWhere = map[string]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		kpath := join(path, fieldName(k.Value))
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, path, "a key is %s; keys are column names", describe(k))
			continue
		}
		if _, dup := r.SuppressWhere[k.Value]; dup {
			p.errorf(k, kpath, "written twice; keep one")
			continue
		}
		p.pos[kpath] = Pos{k.Line, k.Column}
		p.keys[kpath], p.vals[kpath] = k, val
		if val.Kind != yaml.ScalarNode || val.ShortTag() == "!!null" {
			p.errorf(val, kpath, "want the value that marks a suppressed row, got %s", describe(val))
			continue
		}
		r.SuppressWhere[k.Value] = val.Value
		r.SuppressOrder = append(r.SuppressOrder, k.Value)
	}
}

func readAggregation(p *parser, c *Contract, path string, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		p.errorf(v, path, "want a mapping {group_by: [...], measures: {count: '*', sum: [...]}}, got %s", describe(v))
		return
	}
	d := ds(c)
	d.Aggregation = &Aggregation{}
	p.mapping(c, path, v, []field{
		{"group_by", "missing; add group_by: [COLUMN, ...]", func(p *parser, c *Contract, path string, v *yaml.Node) {
			if l, ok := p.list(path, v, checkColumnName, nil); ok {
				d.Aggregation.GroupBy = l
			}
		}},
		{"measures", "missing; add measures: {count: '*'}", readMeasures},
	}, true)
}

func readMeasures(p *parser, c *Contract, path string, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		p.errorf(v, path, "want a mapping {count: '*', sum: [...]}, got %s", describe(v))
		return
	}
	a := c.Dataset.Aggregation
	p.mapping(c, path, v, []field{
		{"count", "", func(p *parser, c *Contract, path string, v *yaml.Node) {
			if s, ok := p.str(path, v); ok {
				if s != "*" {
					p.errorf(v, path, "count counts rows: write count: '*'")
					return
				}
				a.Count = true
			}
		}},
		{"sum", "", func(p *parser, c *Contract, path string, v *yaml.Node) {
			if l, ok := p.list(path, v, checkColumnName, nil); ok {
				a.Sum = l
			}
		}},
	}, true)
	if !a.Count && len(a.Sum) == 0 && p.keys[path+".count"] == nil && p.keys[path+".sum"] == nil {
		p.errorf(v, path, "names no measure; add count: '*' or sum: [COLUMN, ...]")
	}
}

func readValidation(p *parser, c *Contract, path string, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		p.errorf(v, path, "want a mapping of hmis_epoch, warnings or max_offenders, got %s", describe(v))
		return
	}
	d := ds(c)
	p.mapping(c, path, v, []field{
		{"hmis_epoch", "", func(p *parser, c *Contract, path string, v *yaml.Node) {
			if t, ok := p.date(path, v); ok {
				d.Validation.HMISEpoch = t
			}
		}},
		{"warnings", "", func(p *parser, c *Contract, path string, v *yaml.Node) {
			check := func(s string) string {
				if contains(ValidationCodes, s) {
					return ""
				}
				if g := suggest(s, ValidationCodes); g != "" {
					return fmt.Sprintf("unknown code %s; did you mean %s?", quote(s), g)
				}
				return fmt.Sprintf("unknown code %s; codes: %s", quote(s), strings.Join(ValidationCodes, ", "))
			}
			if l, ok := p.list(path, v, check, nil); ok {
				d.Validation.Warnings = l
			}
		}},
		{"max_offenders", "", func(p *parser, c *Contract, path string, v *yaml.Node) {
			if n, ok := p.integer(path, v, 0, 10000); ok {
				d.Validation.MaxOffenders = n
			}
		}},
	}, true)
}

// maxSplitBytes and the least size bound keep split files sensible.
const (
	minSplitBytes = 1 << 10
	maxSplitRows  = 1 << 40
)

func readSplit(p *parser, c *Contract, path string, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		p.errorf(v, path, "want a mapping {rows: N} or {bytes: N}, got %s", describe(v))
		return
	}
	d := ds(c)
	p.mapping(c, path, v, []field{
		{"rows", "", func(p *parser, c *Contract, path string, v *yaml.Node) {
			if n, ok := p.integer(path, v, 1, maxSplitRows); ok {
				d.Split.Rows = int64(n)
			}
		}},
		{"bytes", "", func(p *parser, c *Contract, path string, v *yaml.Node) {
			if n, ok := p.integer(path, v, minSplitBytes, maxSplitRows); ok {
				d.Split.Bytes = int64(n)
			}
		}},
	}, true)
}

// checkDataset relates the fields of a DatasetExport and resolves paths.
func checkDataset(p *parser, c *Contract, root *yaml.Node) {
	d := ds(c)
	if d.SourcePath != "" {
		d.SourcePath = resolve(c.Path, d.SourcePath)
	}
	if d.SchemaRef != "" {
		d.SchemaPath = resolve(c.Path, d.SchemaRef)
	}
	if d.Format != "" {
		codecs := datasetCodecs[d.Format]
		switch {
		case p.keys["compression"] == nil:
			c.Compression = Compression{Codec: codecs[0]}
		case c.Compression.Codec == "":
			// reported
		case !contains(codecs, c.Compression.Codec):
			at := p.vals["compression"]
			if v := p.vals["compression.codec"]; v != nil {
				at = v
			}
			p.errorf(at, "compression", "codec %s does not apply to format %s; use one of %s", quote(c.Compression.Codec), d.Format, strings.Join(codecs, ", "))
		}
		if c.Compression.Level != 0 && c.Compression.Codec != "zstd" {
			p.errorf(p.vals["compression.level"], "compression.level", "applies to codec zstd only; remove it")
		}
		if c.Compression.Codec == "zstd" && c.Compression.Level == 0 {
			c.Compression.Level = defaultZstdLevel
		}
	}
	if !d.PeriodStart.IsZero() && !d.PeriodEnd.IsZero() && d.PeriodEnd.Before(d.PeriodStart) {
		p.errorf(p.vals["period.end"], "period.end", "%s is before period.start %s; the period is inclusive: make end later", d.PeriodEnd.Format(time.DateOnly), d.PeriodStart.Format(time.DateOnly))
	}
	if d.Destination != "" && (strings.Contains(d.Destination, "{year}") || strings.Contains(d.Destination, "{month}")) && d.PeriodStart.IsZero() && p.keys["period"] == nil {
		p.errorf(p.vals["destination"], "destination", "{year} and {month} come from the export period; add period: {start: YYYY-MM-DD, end: YYYY-MM-DD}")
	}
	if d.DeliveryMethod != DeliverLocal && d.Destination == "" && p.keys["delivery_method"] != nil {
		p.errorf(p.vals["delivery_method"], "destination", "required by delivery_method %s; add destination: e.g. s3://bucket/prefix/{year}/{month}", d.DeliveryMethod)
	}
	if want, ok := deliveryScheme[d.DeliveryMethod]; ok && d.Destination != "" && !strings.HasPrefix(d.Destination, want) &&
		!(d.DeliveryMethod == DeliverSnowflake && strings.HasPrefix(d.Destination, "@")) {
		p.errorf(p.vals["destination"], "destination", "%s is not a %s target; delivery_method %s delivers to %s...", quote(d.Destination), d.DeliveryMethod, d.DeliveryMethod, deliveryExample[d.DeliveryMethod])
	}
	if d.DeliveryMethod == DeliverLocal && strings.Contains(d.Destination, "://") {
		p.errorf(p.vals["destination"], "destination", "%s is a URL; delivery_method local copies to a directory: write a path, or set delivery_method: s3", quote(d.Destination))
	}
	if d.HashMode == HashVAWAOnly && len(d.Redaction.SuppressWhere) == 0 {
		p.errorf(p.vals["hash_mode"], "hash_mode", "HASH_VAWA_ONLY hashes the identifiers of VAWA-protected rows, which redaction.suppress_where selects; add it")
	}
	if e := c.Encryption; e != nil && e.Mode != "" && p.keys["encryption.scope"] == nil {
		// a dataset's data files are under data/; the dataset documents
		// (hashed subjects, digests, counts) stay readable
		e.Scope = ScopeData
	}
	checkEncryption(p, c)
}
