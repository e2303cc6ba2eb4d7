package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/stella-ops/stella-export/internal/dataset/parquet"
	"github.com/stella-ops/stella-export/internal/dataset/table"
)

// The HMIS-like client table of -dataset: one row per enrollment.
const datasetSchemaYAML = `name: hmis_clients
version: "1"
columns:
  - {name: personal_id, type: string, required: true, subject_id: true}
  - {name: ssn, type: string}
  - {name: first_name, type: string}
  - {name: dob, type: date}
  - {name: gender, type: int, codes: [0, 1, 2, 3, 4, 5, 8, 9, 99]}
  - {name: veteran_status, type: int, codes: [0, 1, 8, 9, 99]}
  - {name: vawa_protected, type: bool, required: true}
  - {name: project_type, type: int, required: true, codes: [1, 2, 3, 4, 6, 8, 9, 10, 11, 12, 13, 14]}
  - {name: entry_date, type: date, required: true}
  - {name: exit_date, type: date}
  - {name: monthly_income, type: float}
  - {name: updated_at, type: timestamp, required: true}
date_sequences:
  - [entry_date, exit_date]
`

// datasetSchema is datasetSchemaYAML as a table schema.
var datasetSchema = table.Schema{Name: "hmis_clients", Version: "1", Columns: []table.Column{
	{Name: "personal_id", Type: table.String, Required: true},
	{Name: "ssn", Type: table.String},
	{Name: "first_name", Type: table.String},
	{Name: "dob", Type: table.Date},
	{Name: "gender", Type: table.Int},
	{Name: "veteran_status", Type: table.Int},
	{Name: "vawa_protected", Type: table.Bool, Required: true},
	{Name: "project_type", Type: table.Int, Required: true},
	{Name: "entry_date", Type: table.Date, Required: true},
	{Name: "exit_date", Type: table.Date},
	{Name: "monthly_income", Type: table.Float},
	{Name: "updated_at", Type: table.Timestamp, Required: true},
}}

var firstNames = []string{"Ana", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kwame", "Lena", "Mateo", "Noor", "Olu", "Priya"}

// writeDataset writes DIR/clients.csv (rows deterministic rows, header
// first) and DIR/clients.schema.yaml.
func writeDataset(dir string, rows int) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "clients.schema.yaml"), []byte(datasetSchemaYAML), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "clients.csv"))
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i, c := range datasetSchema.Columns {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString(c.Name)
	}
	w.WriteByte('\n')
	rng := rand.New(rand.NewPCG(17, 2026))
	epoch := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	var b []byte
	for i := 0; i < rows; i++ {
		b = b[:0]
		b = fmt.Appendf(b, "P%09d,", i)
		if rng.IntN(10) != 0 {
			b = fmt.Appendf(b, "%03d-%02d-%04d", 100+rng.IntN(800), 1+rng.IntN(99), 1+rng.IntN(9999))
		}
		b = append(b, ',')
		b = append(b, firstNames[rng.IntN(len(firstNames))]...)
		b = append(b, ',')
		if rng.IntN(20) != 0 {
			b = time.Date(1940+rng.IntN(65), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC).AppendFormat(b, time.DateOnly)
		}
		b = append(b, ',')
		b = strconv.AppendInt(b, int64([]int{0, 1, 2, 3, 4, 5, 8, 9, 99}[rng.IntN(9)]), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64([]int{0, 1, 8, 9, 99}[rng.IntN(5)]), 10)
		b = append(b, ',')
		b = strconv.AppendBool(b, rng.IntN(25) == 0)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64([]int{1, 2, 3, 4, 6, 8, 9, 10, 11, 12, 13, 14}[rng.IntN(12)]), 10)
		b = append(b, ',')
		entry := epoch.AddDate(0, 0, rng.IntN(3650))
		b = entry.AppendFormat(b, time.DateOnly)
		b = append(b, ',')
		if rng.IntN(3) != 0 {
			b = entry.AddDate(0, 0, rng.IntN(400)).AppendFormat(b, time.DateOnly)
		}
		b = append(b, ',')
		if rng.IntN(4) != 0 {
			b = strconv.AppendFloat(b, float64(rng.IntN(500000))/100, 'f', 2, 64)
		}
		b = append(b, ',')
		b = entry.Add(time.Duration(rng.Int64N(int64(400*24*time.Hour)))).Truncate(time.Microsecond).AppendFormat(b, "2006-01-02T15:04:05.999999Z")
		b = append(b, '\n')
		w.Write(b)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// datasetParquet is the bench's CSV → Parquet conversion with the
// redaction the DuckDB anchor applies: first_name dropped, ssn replaced by
// hex HMAC-SHA-256 under salt, VAWA-protected rows suppressed. It reads the
// CSV with encoding/csv and parses each column to the schema's type (a
// minimal path of our own: the dataset export's CSV source lives in the
// run command), then writes through internal/dataset/parquet.
func datasetParquet(in, out, compression string, salt []byte) (int64, error) {
	f, err := os.Open(in)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.ReuseRecord = true
	r.FieldsPerRecord = len(datasetSchema.Columns)
	if _, err := r.Read(); err != nil {
		return 0, fmt.Errorf("%s: header: %w", in, err)
	}
	var outCols []table.Column
	var pick []int
	for i, c := range datasetSchema.Columns {
		if c.Name == "first_name" {
			continue
		}
		outCols = append(outCols, c)
		pick = append(pick, i)
	}
	outSchema := table.Schema{Name: datasetSchema.Name, Version: datasetSchema.Version, Columns: outCols}
	o, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	defer o.Close()
	bw := bufio.NewWriterSize(o, 1<<20)
	pw, err := parquet.NewWriter(bw, outSchema, parquet.Options{Compression: compression})
	if err != nil {
		return 0, err
	}
	mac := hmac.New(sha256.New, salt)
	var sum [sha256.Size]byte
	row := make(table.Row, len(outCols))
	var n int64
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("%s: %w", in, err)
		}
		if rec[6] == "true" {
			continue // VAWA-protected: suppressed
		}
		for j, i := range pick {
			c := datasetSchema.Columns[i]
			v, err := parseField(c.Type, rec[i])
			if err != nil {
				return n, fmt.Errorf("%s:%d: column %s: %w", in, line, c.Name, err)
			}
			if c.Name == "ssn" && v != nil {
				mac.Reset()
				mac.Write([]byte(rec[i]))
				v = hex.EncodeToString(mac.Sum(sum[:0]))
			}
			row[j] = v
		}
		if err := pw.Write(row); err != nil {
			return n, err
		}
		n++
	}
	if err := pw.Close(); err != nil {
		return n, err
	}
	if err := bw.Flush(); err != nil {
		return n, err
	}
	return n, o.Close()
}

func parseField(t table.Type, s string) (any, error) {
	if s == "" {
		return nil, nil
	}
	switch t {
	case table.String:
		return s, nil
	case table.Int:
		return strconv.ParseInt(s, 10, 64)
	case table.Float:
		return strconv.ParseFloat(s, 64)
	case table.Bool:
		return strconv.ParseBool(s)
	case table.Date:
		return time.Parse(time.DateOnly, s)
	case table.Timestamp:
		return time.Parse(time.RFC3339Nano, s)
	}
	return nil, fmt.Errorf("type %s", t)
}
