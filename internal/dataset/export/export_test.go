package export

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/dataset/csv"
	"github.com/stella-ops/stella-export/internal/dataset/parquet"
	"github.com/stella-ops/stella-export/internal/dataset/redact"
	"github.com/stella-ops/stella-export/internal/dataset/schema"
	"github.com/stella-ops/stella-export/internal/digest"
)

const testSchema = `name: client
version: "1"
columns:
  - {name: PersonalID, type: string, required: true, subject_id: true}
  - {name: SSN, type: string}
  - {name: Gender, type: int, required: true, codes: ["0", "1", "2"]}
  - {name: DV, type: int}
  - {name: Income, type: float}
  - {name: EntryDate, type: date, required: true}
  - {name: ExitDate, type: date}
date_sequences: [[EntryDate, ExitDate]]
`

const testCSV = `PersonalID,SSN,Gender,DV,Income,EntryDate,ExitDate
P1,111-11-1111,0,0,10.5,2024-01-01,2024-02-01
P2,222-22-2222,1,1,20,2024-01-02,
P3,333-33-3333,1,0,,2024-01-03,2024-03-01
P1,111-11-1111,2,0,5,2024-04-01,
P4,444-44-4444,0,1,1,2024-05-01,2024-05-02
`

type fixture struct {
	dir   string
	res   *Result
	files map[string][]byte
}

// run exports testCSV (or csvText) under the contract's extra fields.
func run(t *testing.T, extra, csvText string) (*fixture, error) {
	t.Helper()
	return runWith(t, extra, csvText, "csv:in.csv", func(string) {})
}

// runWith exports from ref after prepare(dir) made the source.
func runWith(t *testing.T, extra, csvText, ref string, prepare func(dir string)) (*fixture, error) {
	t.Helper()
	dir := t.TempDir()
	prepare(dir)
	if csvText == "" {
		csvText = testCSV
	}
	for name, text := range map[string]string{"s.yaml": testSchema, "in.csv": csvText} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			continue // prepare made it (a FIFO, say)
		}
		must(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
	}
	src := fmt.Sprintf(`apiVersion: stella-export/v1
kind: DatasetExport
export_id: urn:stella:export:acme:t
tenant: acme
dataset_ref: %s
schema_ref: s.yaml
schema_digest: %s
%s
`, ref, digest.Sum([]byte(testSchema)), extra)
	c, err := contract.Parse(filepath.Join(dir, "c.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadSchema(c)
	if err != nil {
		return nil, err
	}
	h, err := redact.NewHasher(bytes.Repeat([]byte{7}, 16), "acme", "test")
	if err != nil {
		t.Fatal(err)
	}
	in, err := OpenSource(c, s)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	stageDir := filepath.Join(dir, "stage")
	must(t, os.Mkdir(stageDir, 0o755))
	stage := adapters.NewStage(context.Background(), stageDir, 0)
	defer stage.Close()
	res, err := Export(context.Background(), c, s, in, stage, Options{Hasher: h, ExportedAt: time.Date(2025, 1, 7, 14, 30, 0, 0, time.UTC)})
	if err != nil {
		return nil, err
	}
	f := &fixture{dir: stageDir, res: res, files: map[string][]byte{}}
	must(t, filepath.WalkDir(stageDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(stageDir, p)
		f.files[filepath.ToSlash(rel)] = b
		return err
	}))
	return f, nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestExportCSV(t *testing.T) {
	f, err := run(t, "format: csv\nredaction: {drop: [SSN], hash: [PersonalID], suppress_where: {DV: '1'}}", "")
	if err != nil {
		t.Fatal(err)
	}
	h, _ := redact.NewHasher(bytes.Repeat([]byte{7}, 16), "acme", "test")
	want := "PersonalID,Gender,DV,Income,EntryDate,ExitDate\n" +
		h.Hash("P1") + ",0,0,10.5,2024-01-01,2024-02-01\n" +
		h.Hash("P3") + ",1,0,,2024-01-03,2024-03-01\n" +
		h.Hash("P1") + ",2,0,5,2024-04-01,\n"
	if got := string(f.files["data/part-00001.csv"]); got != want {
		t.Errorf("data:\n%s\nwant:\n%s", got, want)
	}
	m := f.res.Manifest
	if m.Totals.Records != 3 || m.Totals.SourceRows != 5 || m.Redaction.SuppressedRows != 2 || m.Totals.Files != 1 {
		t.Errorf("totals %+v, redaction %+v", m.Totals, m.Redaction)
	}
	if f.res.Ledger.DataSubjectCount != 2 {
		t.Errorf("ledger subjects %d, want 2 (P1 twice, P3)", f.res.Ledger.DataSubjectCount)
	}
	led := string(f.files[LedgerName])
	for _, id := range []string{"P1", "P3"} {
		if !strings.Contains(led, `"`+h.Hash(id)+`"`) {
			t.Errorf("ledger lacks the hash of %s: %s", id, led)
		}
	}
	if strings.Contains(led, h.Hash("P2")) {
		t.Errorf("ledger names the suppressed subject P2")
	}
	for _, name := range []string{ManifestName, SumsName, LedgerName, LineageName, AuditName, SuccessName, "validation-report.json"} {
		if _, ok := f.files[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	sums := string(f.files[SumsName])
	d := digest.Sum(f.files["data/part-00001.csv"])
	if !strings.HasPrefix(sums, strings.TrimPrefix(d.String(), "sha256:")+"  data/part-00001.csv\n") {
		t.Errorf("manifest.sha256:\n%s", sums)
	}
}

func TestExportSplitAndCodecs(t *testing.T) {
	for _, codec := range []string{"none", "gzip", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			extra := "format: jsonl\ncompression: " + codec + "\nsplit: {rows: 2}"
			a, err := run(t, extra, "")
			if err != nil {
				t.Fatal(err)
			}
			b, err := run(t, extra, "")
			if err != nil {
				t.Fatal(err)
			}
			ext := map[string]string{"none": ".jsonl", "gzip": ".jsonl.gz", "zstd": ".jsonl.zst"}[codec]
			var lines int
			for i := 1; i <= 3; i++ {
				name := fmt.Sprintf("data/part-%05d%s", i, ext)
				data, ok := a.files[name]
				if !ok {
					t.Fatalf("no %s", name)
				}
				if !bytes.Equal(data, b.files[name]) {
					t.Errorf("%s differs between two runs", name)
				}
				lines += bytes.Count(decompress(t, codec, data), []byte("\n"))
			}
			if _, ok := a.files[fmt.Sprintf("data/part-00004%s", ext)]; ok || lines != 5 {
				t.Errorf("%d lines in 3 files, want 5 (2+2+1) and no fourth file", lines)
			}
			if a.res.Manifest.Files[2].Records != 1 {
				t.Errorf("files %+v", a.res.Manifest.Files)
			}
		})
	}
}

func decompress(t *testing.T, codec string, b []byte) []byte {
	var r io.Reader = bytes.NewReader(b)
	switch codec {
	case "gzip":
		gz, err := gzip.NewReader(r)
		must(t, err)
		r = gz
	case "zstd":
		z, err := zstd.NewReader(r)
		must(t, err)
		defer z.Close()
		r = z
	}
	out, err := io.ReadAll(r)
	must(t, err)
	return out
}

func TestExportAggregation(t *testing.T) {
	f, err := run(t, "format: csv\nredaction: {drop: [SSN]}\naggregation: {group_by: [Gender], measures: {count: '*', sum: [Income]}}", "")
	if err != nil {
		t.Fatal(err)
	}
	want := "Gender,count,sum_Income\n0,2,11.5\n1,2,20\n2,1,5\n"
	if got := string(f.files["data/part-00001.csv"]); got != want {
		t.Errorf("aggregates:\n%s\nwant:\n%s", got, want)
	}
	if _, err := run(t, "format: csv\nredaction: {drop: [SSN]}\naggregation: {group_by: [SSN], measures: {count: '*'}}", ""); err == nil ||
		!strings.Contains(err.Error(), "aggregation.group_by[0]: no column SSN in the redacted rows") {
		t.Errorf("group by a dropped column: %v", err)
	}
	if _, err := run(t, "format: csv\naggregation: {group_by: [Gender], measures: {sum: [EntryDate]}}", ""); err == nil ||
		!strings.Contains(err.Error(), "column EntryDate is a date; sum adds int and float columns") {
		t.Errorf("sum of a date: %v", err)
	}
}

func TestHashModes(t *testing.T) {
	h, _ := redact.NewHasher(bytes.Repeat([]byte{7}, 16), "acme", "test")
	f, err := run(t, "format: csv\nhash_mode: HASH_ALL_SSN", "")
	if err != nil {
		t.Fatal(err)
	}
	data := string(f.files["data/part-00001.csv"])
	if strings.Contains(data, "111-11-1111") || strings.Contains(data, "P1,") || !strings.Contains(data, h.Hash("111-11-1111")) {
		t.Errorf("HASH_ALL_SSN:\n%s", data)
	}
	// HASH_VAWA_ONLY: DV=1 rows kept, their identifiers hashed; others plain
	f, err = run(t, "format: csv\nhash_mode: HASH_VAWA_ONLY\nredaction: {suppress_where: {DV: '1'}}", "")
	if err != nil {
		t.Fatal(err)
	}
	data = string(f.files["data/part-00001.csv"])
	if !strings.Contains(data, "P1,111-11-1111,") || strings.Contains(data, "P2,") || strings.Contains(data, "222-22-2222") ||
		!strings.Contains(data, h.Hash("P2")+","+h.Hash("222-22-2222")+",1,1,20,") {
		t.Errorf("HASH_VAWA_ONLY:\n%s", data)
	}
	s := f.res.Manifest.Redaction
	if s.SuppressedRows != 0 || s.VAWAProtectedRows != 2 || f.res.Manifest.Totals.Records != 5 {
		t.Errorf("HASH_VAWA_ONLY counts %+v", s)
	}
}

func TestRedactionErrors(t *testing.T) {
	for extra, want := range map[string]string{
		"format: csv\nredaction: {hash: [Nope]}":              "c.yaml:9:20: redaction.hash[0]: no column Nope in schema client",
		"format: csv\nredaction: {drop: [SSN], mask: [SSN]}":  "c.yaml:9:33: redaction.mask[0]: column SSN is redacted twice",
		"format: csv\nredaction: {suppress_where: {Nope: x}}": "redaction.suppress_where: no column Nope in schema client",
	} {
		_, err := run(t, extra, "")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", extra, err, want)
		}
	}
}

func TestBlocked(t *testing.T) {
	bad := strings.Replace(testCSV, "P3,333-33-3333,1,0,,2024-01-03,2024-03-01", "P3,333-33-3333,5,0,,2024-01-03,2023-03-01", 1)
	f, err := run(t, "format: csv\nredaction: {hash: [PersonalID, SSN]}", bad)
	if err != nil {
		t.Fatal(err)
	}
	r := f.res.Report
	if !f.res.Blocked || r.Errors != 2 || r.Rows != 5 {
		t.Fatalf("report %+v", r)
	}
	if len(f.files) != 0 {
		var names []string
		for n := range f.files {
			names = append(names, n)
		}
		t.Errorf("a blocked export staged %v", names)
	}
	if o := r.Codes[0].Offenders[0]; o.Row != 3 || o.Column != "Gender" || o.Value != "5" {
		t.Errorf("picklist offender %+v", o)
	}
}

func TestEmptySource(t *testing.T) {
	f, err := run(t, "format: csv", "PersonalID,SSN,Gender,DV,Income,EntryDate,ExitDate\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(f.files["data/part-00001.csv"]); got != "PersonalID,SSN,Gender,DV,Income,EntryDate,ExitDate\n" {
		t.Errorf("empty export: %q", got)
	}
}

func TestDestination(t *testing.T) {
	c := &contract.Contract{Tenant: "acme", ExportID: "urn:x:y", Dataset: &contract.Dataset{Destination: "s3://b/{tenant}/{year}/{month}/{export_id}"}}
	at := time.Date(2025, 3, 9, 0, 0, 0, 0, time.UTC)
	if got := Destination(c, at); got != "s3://b/acme/2025/03/urn:x:y" {
		t.Errorf("destination %s", got)
	}
	c.Dataset.PeriodStart = time.Date(2024, 11, 1, 0, 0, 0, 0, time.UTC)
	if got := Destination(c, at); got != "s3://b/acme/2024/11/urn:x:y" {
		t.Errorf("destination with period %s", got)
	}
}

// TestParquet: a Parquet export reads back (through the Parquet reader)
// as the same rows as the CSV export of the same source and redaction, is
// byte-identical on a second run, and a Parquet source made of those rows
// exports the same CSV as the CSV source.
func TestParquet(t *testing.T) {
	const red = "redaction: {drop: [SSN], hash: [PersonalID], suppress_where: {DV: '1'}}"
	plain, err := run(t, "format: csv\n"+red, "")
	if err != nil {
		t.Fatal(err)
	}
	pq, err := run(t, "format: parquet\n"+red, "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := run(t, "format: parquet\n"+red, "")
	if err != nil {
		t.Fatal(err)
	}
	data := pq.files["data/part-00001.parquet"]
	if len(data) == 0 {
		t.Fatalf("no Parquet data file: %v", keys(pq.files))
	}
	if !bytes.Equal(data, again.files["data/part-00001.parquet"]) {
		t.Error("two Parquet exports differ")
	}
	out := pq.res.Output
	r, err := parquet.NewReader(bytes.NewReader(data), int64(len(data)), out)
	if err != nil {
		t.Fatal(err)
	}
	var csvOut bytes.Buffer
	cw, err := csv.NewWriter(&csvOut, out)
	if err != nil {
		t.Fatal(err)
	}
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		must(t, cw.Write(row))
	}
	must(t, cw.Close())
	if got, want := csvOut.String(), string(plain.files["data/part-00001.csv"]); got != want {
		t.Errorf("Parquet rows as CSV:\n%s\nthe CSV export:\n%s", got, want)
	}

	// A Parquet source: the test table written through the Parquet writer.
	fromParquet, err := runWith(t, "format: csv\n"+red, "", "parquet:in.parquet", func(dir string) {
		var sb bytes.Buffer
		sch, err := schema.Parse("s.yaml", []byte(testSchema))
		must(t, err)
		cr, err := csv.NewReader(strings.NewReader(testCSV), sch.Schema, "in.csv")
		must(t, err)
		pw, err := parquet.NewWriter(&sb, sch.Schema, parquet.Options{})
		must(t, err)
		for {
			row, err := cr.Next()
			if err == io.EOF {
				break
			}
			must(t, err)
			must(t, pw.Write(row))
		}
		must(t, pw.Close())
		must(t, os.WriteFile(filepath.Join(dir, "in.parquet"), sb.Bytes(), 0o644))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(fromParquet.files["data/part-00001.csv"]), string(plain.files["data/part-00001.csv"]); got != want {
		t.Errorf("export of the Parquet source:\n%s\nof the CSV source:\n%s", got, want)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
