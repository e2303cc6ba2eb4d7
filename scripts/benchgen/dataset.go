package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/stella-ops/stella-export/internal/dataset/table"
)

// The HMIS-like client table of -dataset: one row per enrollment.
const datasetSchemaYAML = `name: hmis_clients
version: "1"
columns:
  - {name: personal_id, type: string, required: true, subject_id: true}
  - {name: ssn, type: string}
  - {name: first_name, type: string}
  - {name: dob, type: date, historical: true}
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
