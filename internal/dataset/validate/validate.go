// Package validate applies the CSV validation guardrails of the export
// runbook to dataset rows (docs/dataset.md#validation):
//
//	PICKLIST_INVALID_CODE    a value not among its column's schema codes
//	REQUIRED_FIELD_NULL      a required column is null
//	DATE_BEFORE_HMIS_EPOCH   a date before validation.hmis_epoch (default
//	                         1998-10-01), except in historical columns
//	DATE_SEQUENCE_VIOLATION  a date_sequences pair out of order
//
// Each code is an error, which blocks the export, or a warning, which is
// reported only. The Report counts each code and lists its first
// offenders with row number, column and value; a value of a redacted
// column is shown as its redacted form, never raw.
package validate

import (
	"fmt"
	"io"
	"time"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/dataset/schema"
	"github.com/stella-ops/stella-export/internal/dataset/table"
)

// Format is the report's format string.
const Format = "stella-export/dataset-validation/v1"

// FileName is the report's name in the export directory.
const FileName = "validation-report.json"

// Severities.
const (
	Error   = "error"
	Warning = "warning"
)

// Report is validation-report.json.
type Report struct {
	Format   string       `json:"format"`
	ExportID string       `json:"exportId"`
	Schema   SchemaRef    `json:"schema"`
	Epoch    string       `json:"hmisEpoch"`
	Rows     int64        `json:"rows"`
	Errors   int64        `json:"errors"`
	Warnings int64        `json:"warnings"`
	Blocked  bool         `json:"blocked"`
	Codes    []CodeReport `json:"codes"`
}

// SchemaRef names the schema the rows were checked against.
type SchemaRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Digest  string `json:"digest"`
}

// CodeReport is one code's count and first offenders.
type CodeReport struct {
	Code      string     `json:"code"`
	Severity  string     `json:"severity"`
	Count     int64      `json:"count"`
	Offenders []Offender `json:"offenders"`
}

// Offender is one row's violation. Row is 1-based, counting data rows.
type Offender struct {
	Row    int64  `json:"row"`
	Column string `json:"column"`
	Value  string `json:"value"`
	Detail string `json:"detail,omitempty"`
}

// Shown returns how a value of a column appears in the report: its text
// form, or for a redacted column its redacted form.
type Shown func(col int, v any) string

// Validator checks rows one at a time.
type Validator struct {
	s      *schema.Schema
	cfg    contract.Validation
	show   Shown
	codes  map[string]*CodeReport
	rep    Report
	codeIx []int // picklist: column -> code set index
	sets   []map[string]bool
	seq    [][2]int
}

// New returns a validator of rows of s.
func New(exportID string, s *schema.Schema, cfg contract.Validation, show Shown) *Validator {
	v := &Validator{s: s, cfg: cfg, show: show, codes: map[string]*CodeReport{}}
	v.rep = Report{Format: Format, ExportID: exportID, Epoch: cfg.HMISEpoch.Format(time.DateOnly),
		Schema: SchemaRef{Name: s.Name, Version: s.Version, Digest: s.Digest}, Codes: []CodeReport{}}
	for _, code := range contract.ValidationCodes {
		sev := Error
		for _, w := range cfg.Warnings {
			if w == code {
				sev = Warning
			}
		}
		v.codes[code] = &CodeReport{Code: code, Severity: sev, Offenders: []Offender{}}
	}
	v.codeIx = make([]int, len(s.Columns))
	for i, c := range s.Columns {
		v.codeIx[i] = -1
		if codes, ok := s.Codes[c.Name]; ok {
			set := map[string]bool{}
			for _, code := range codes {
				// compare in canonical text form: "01" and "1" of an int column are one code
				pv, _ := table.ParseText(c.Type, code)
				set[table.FormatValue(c.Type, pv)] = true
			}
			v.codeIx[i] = len(v.sets)
			v.sets = append(v.sets, set)
		}
	}
	for _, sq := range s.DateSequences {
		v.seq = append(v.seq, [2]int{s.Index(sq.First), s.Index(sq.Second)})
	}
	return v
}

func (v *Validator) add(code string, row int64, col int, val any, detail string) {
	cr := v.codes[code]
	cr.Count++
	if cr.Severity == Error {
		v.rep.Errors++
	} else {
		v.rep.Warnings++
	}
	if len(cr.Offenders) < v.cfg.MaxOffenders {
		cr.Offenders = append(cr.Offenders, Offender{Row: row, Column: v.s.Columns[col].Name, Value: v.show(col, val), Detail: detail})
	}
}

// Check checks row number n (1-based).
func (v *Validator) Check(n int64, r table.Row) {
	v.rep.Rows++
	for i, c := range v.s.Columns {
		val := r[i]
		if val == nil {
			if c.Required {
				v.add(contract.CodeRequired, n, i, nil, "")
			}
			continue
		}
		if k := v.codeIx[i]; k >= 0 && !v.sets[k][table.FormatValue(c.Type, val)] {
			v.add(contract.CodePicklist, n, i, val, "")
		}
		if (c.Type == table.Date || c.Type == table.Timestamp) && !v.s.Historical[c.Name] {
			if t := val.(time.Time); t.Before(v.cfg.HMISEpoch) {
				v.add(contract.CodeEpoch, n, i, val, "")
			}
		}
	}
	for _, sq := range v.seq {
		a, b := r[sq[0]], r[sq[1]]
		if a == nil || b == nil {
			continue
		}
		if a.(time.Time).After(b.(time.Time)) {
			v.add(contract.CodeDateSequence, n, sq[1], b, fmt.Sprintf("%s %s is after %s", v.s.Columns[sq[0]].Name, v.show(sq[0], a), v.s.Columns[sq[1]].Name))
		}
	}
}

// Report returns the report so far, codes in documentation order (codes
// never seen included, with count 0).
func (v *Validator) Report() *Report {
	rep := v.rep
	rep.Codes = nil
	for _, code := range contract.ValidationCodes {
		rep.Codes = append(rep.Codes, *v.codes[code])
	}
	rep.Blocked = rep.Errors > 0
	return &rep
}

// FirstError returns the first code (in documentation order) that
// counted a blocking error, "" when nothing blocks.
func (r *Report) FirstError() string {
	for _, c := range r.Codes {
		if c.Severity == Error && c.Count > 0 {
			return c.Code
		}
	}
	return ""
}

// Bytes is the report as canonical JSON.
func (r *Report) Bytes() ([]byte, error) { return canonjson.Marshal(r) }

// Summary writes a readable account of the report: one line per code
// that occurred, then its offenders.
func (r *Report) Summary(w io.Writer) {
	fmt.Fprintf(w, "validation: %d rows, %d errors, %d warnings\n", r.Rows, r.Errors, r.Warnings)
	for _, c := range r.Codes {
		if c.Count == 0 {
			continue
		}
		fmt.Fprintf(w, "  %s (%s): %d\n", c.Code, c.Severity, c.Count)
		for _, o := range c.Offenders {
			d := ""
			if o.Detail != "" {
				d = " (" + o.Detail + ")"
			}
			fmt.Fprintf(w, "    row %d, column %s: %q%s\n", o.Row, o.Column, o.Value, d)
		}
		if n := c.Count - int64(len(c.Offenders)); n > 0 {
			fmt.Fprintf(w, "    and %d more\n", n)
		}
	}
}

// Blocked reports whether an error has been found so far.
func (v *Validator) Blocked() bool { return v.rep.Errors > 0 }
