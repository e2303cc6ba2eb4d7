package table

import (
	"fmt"
	"math"
	"testing"
	"time"
)

func TestParseFormatText(t *testing.T) {
	ts := time.Date(2024, 12, 9, 3, 58, 0, 500_000_000, time.UTC)
	day := time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		t    Type
		in   string
		want any
		out  string // FormatValue of the value; "" means in
	}{
		{String, "x,y", "x,y", ""},
		{String, "", nil, ""},
		{Int, "-42", int64(-42), ""},
		{Int, " 7 ", int64(7), "7"},
		{Float, "2477.76", 2477.76, ""},
		{Float, "1e3", 1000.0, "1000"},
		{Bool, "TRUE", true, "true"},
		{Bool, "0", false, "false"},
		{Date, "2024-02-29", day, ""},
		{Timestamp, "2024-12-09T04:58:00.5+01:00", ts, "2024-12-09T03:58:00.5Z"},
		{Timestamp, "2024-02-29", day, "2024-02-29T00:00:00Z"},
	} {
		got, err := ParseText(tt.t, tt.in)
		if err != nil {
			t.Errorf("ParseText(%s, %q): %v", tt.t, tt.in, err)
			continue
		}
		if g, ok := got.(time.Time); ok {
			if !g.Equal(tt.want.(time.Time)) || g.Location() != time.UTC {
				t.Errorf("ParseText(%s, %q) = %v, want %v in UTC", tt.t, tt.in, g, tt.want)
			}
		} else if got != tt.want {
			t.Errorf("ParseText(%s, %q) = %#v, want %#v", tt.t, tt.in, got, tt.want)
		}
		want := tt.out
		if want == "" {
			want = tt.in
		}
		if got != nil {
			if s := FormatValue(tt.t, got); s != want {
				t.Errorf("FormatValue(%s, %#v) = %q, want %q", tt.t, got, s, want)
			}
		}
	}
	for _, tt := range []struct {
		t  Type
		in string
	}{{Int, "1.5"}, {Int, "99999999999999999999"}, {Float, "NaN"}, {Float, "Inf"}, {Bool, "maybe"}, {Date, "2024-02-30"}, {Date, "2024/01/01"}, {Timestamp, "noon"}, {"money", "1"}} {
		if v, err := ParseText(tt.t, tt.in); err == nil {
			t.Errorf("ParseText(%s, %q) = %#v, want an error", tt.t, tt.in, v)
		}
	}
	if err := Check(Float, math.Pi); err != nil {
		t.Error(err)
	}
	if err := Check(Int, "1"); err == nil {
		t.Error("Check(Int, string) passed")
	}
}

// TestCheckRow: a row is checked column by column against the schema's
// types; a wrong count or a value of another type is an error naming the
// column, a null anywhere is not.
func TestCheckRow(t *testing.T) {
	s := Schema{Columns: []Column{{Name: "id", Type: String, Required: true}, {Name: "n", Type: Int}, {Name: "d", Type: Date}}}
	day := time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		row  Row
		want string
	}{
		{Row{"a", int64(1), day}, ""},
		{Row{nil, nil, nil}, ""},
		{Row{"a", 1, day}, "column n: value of type int in a int column"},
		{Row{"a", int64(1), "2024-02-29"}, "column d: value of type string in a date column"},
		{Row{"a", int64(1)}, "row of 2 values for 3 columns"},
	} {
		err := s.CheckRow(c.row)
		if got := fmt.Sprint(err); (c.want == "" && err != nil) || (c.want != "" && got != c.want) {
			t.Errorf("CheckRow(%#v) = %v, want %q", c.row, err, c.want)
		}
	}
}
