package validate

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/dataset/schema"
	"github.com/stella-ops/stella-export/internal/dataset/table"
)

const src = `name: t
version: "1"
columns:
  - {name: id, type: string, required: true}
  - {name: code, type: int, codes: ["1", "2", "99"]}
  - {name: dob, type: date, historical: true}
  - {name: entry, type: date, required: true}
  - {name: exit, type: timestamp}
date_sequences: [[entry, exit]]
`

func day(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }

func TestCodes(t *testing.T) {
	s, err := schema.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	cfg := contract.Validation{HMISEpoch: contract.DefaultHMISEpoch, Warnings: []string{contract.CodeDateSequence}, MaxOffenders: 1}
	v := New("urn:x:y", s, cfg, func(col int, v any) string {
		if col == 0 && v != nil {
			return "H(" + v.(string) + ")"
		}
		return table.FormatValue(s.Columns[col].Type, v)
	})
	rows := []table.Row{
		{"a", int64(1), day("1950-01-01"), day("2024-01-01"), day("2024-02-01")}, // clean; a historical dob
		{"b", int64(3), nil, day("2024-01-01"), nil},                             // picklist
		{nil, int64(99), nil, nil, nil},                                          // required x2
		{"d", nil, nil, day("1998-09-30"), nil},                                  // epoch
		{"e", nil, nil, day("2024-03-01"), day("2024-02-01")},                    // sequence (warning)
		{"f", int64(7), nil, day("2024-01-01"), nil},                             // picklist, past max offenders
	}
	for i, r := range rows {
		v.Check(int64(i+1), r)
	}
	rep := v.Report()
	got := map[string]int64{}
	for _, c := range rep.Codes {
		got[c.Code] = c.Count
	}
	want := map[string]int64{contract.CodePicklist: 2, contract.CodeRequired: 2, contract.CodeEpoch: 1, contract.CodeDateSequence: 1}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d, want %d", k, got[k], n)
		}
	}
	if rep.Errors != 5 || rep.Warnings != 1 || !rep.Blocked || rep.Rows != 6 {
		t.Errorf("report %+v", rep)
	}
	if p := rep.Codes[0]; len(p.Offenders) != 1 || p.Offenders[0] != (Offender{Row: 2, Column: "code", Value: "3"}) {
		t.Errorf("picklist offenders %+v", p.Offenders)
	}
	if q := rep.Codes[3]; q.Severity != Warning || q.Offenders[0].Detail != "entry 2024-03-01 is after exit" || q.Offenders[0].Value != "2024-02-01T00:00:00Z" {
		t.Errorf("sequence %+v", q)
	}
	var buf bytes.Buffer
	rep.Summary(&buf)
	if !strings.Contains(buf.String(), "  PICKLIST_INVALID_CODE (error): 2\n    row 2, column code: \"3\"\n    and 1 more\n") {
		t.Errorf("summary:\n%s", buf.String())
	}
	b, err := rep.Bytes()
	if err != nil || !bytes.HasPrefix(b, []byte(`{"blocked":true,"codes":[`)) {
		t.Errorf("canonical report: %s %v", b, err)
	}
	// warnings alone do not block
	v = New("urn:x:y", s, cfg, func(int, any) string { return "" })
	v.Check(1, rows[4])
	if v.Blocked() || v.Report().Blocked {
		t.Error("a warning blocked")
	}
}

func TestShownIsUsed(t *testing.T) {
	s, _ := schema.Parse("t.yaml", []byte(src))
	cfg := contract.Validation{HMISEpoch: contract.DefaultHMISEpoch, MaxOffenders: 5}
	v := New("urn:x:y", s, cfg, func(col int, v any) string { return "shown" })
	v.Check(1, table.Row{"raw-id", int64(5), nil, day("2024-01-01"), nil})
	for _, c := range v.Report().Codes {
		for _, o := range c.Offenders {
			if o.Value != "shown" {
				t.Errorf("offender value %q not from Shown", o.Value)
			}
		}
	}
}
