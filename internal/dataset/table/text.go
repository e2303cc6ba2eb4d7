package table

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseText reads the text form of a value of type t, as CSV cells and
// SQLite text hold it: "" is null; int is a base-10 integer; float a
// decimal number (not NaN or infinite); bool true/false (also 1/0,
// yes/no, any case); date YYYY-MM-DD; timestamp RFC 3339 (converted to
// UTC) or a date (midnight UTC). The error says why s is not of type t.
func ParseText(t Type, s string) (any, error) {
	if s == "" {
		return nil, nil
	}
	switch t {
	case String:
		return s, nil
	case Int:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not an integer", quote(s))
		}
		return n, nil
	case Float:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s is not a finite number", quote(s))
		}
		return f, nil
	case Bool:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "1", "yes", "t", "y":
			return true, nil
		case "false", "0", "no", "f", "n":
			return false, nil
		}
		return nil, fmt.Errorf("%s is not true or false", quote(s))
	case Date:
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%s is not a date (YYYY-MM-DD)", quote(s))
		}
		return d, nil
	case Timestamp:
		s = strings.TrimSpace(s)
		if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return ts.UTC(), nil
		}
		if d, err := time.Parse(time.DateOnly, s); err == nil {
			return d, nil
		}
		return nil, fmt.Errorf("%s is not an RFC 3339 timestamp", quote(s))
	}
	return nil, fmt.Errorf("unknown column type %q", string(t))
}

// FormatText is the text form of a value, the inverse of ParseText: null
// is "", floats the shortest decimal that reads back, dates YYYY-MM-DD,
// timestamps RFC 3339 in UTC with the fractional seconds they have.
func FormatText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		x = x.UTC()
		return x.Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// FormatValue is FormatText knowing the column type: a Date is written
// YYYY-MM-DD.
func FormatValue(t Type, v any) string {
	if d, ok := v.(time.Time); ok && t == Date {
		return d.UTC().Format(time.DateOnly)
	}
	return FormatText(v)
}

// Check returns an error unless v is a value of type t (or nil).
func Check(t Type, v any) error {
	ok := false
	switch v.(type) {
	case nil:
		ok = true
	case string:
		ok = t == String
	case int64:
		ok = t == Int
	case float64:
		ok = t == Float
	case bool:
		ok = t == Bool
	case time.Time:
		ok = t == Date || t == Timestamp
	}
	if !ok {
		return errors.New("value of type " + fmt.Sprintf("%T", v) + " in a " + string(t) + " column")
	}
	return nil
}

// CheckRow returns an error unless row has one value per column of s,
// each of its column's type (Check) or nil; a null in a required column is
// not its concern (validation reports it).
func (s Schema) CheckRow(row Row) error {
	if len(row) != len(s.Columns) {
		return fmt.Errorf("row of %d values for %d columns", len(row), len(s.Columns))
	}
	for i, c := range s.Columns {
		if err := Check(c.Type, row[i]); err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
	}
	return nil
}

// quote quotes s for a message, shortened when long.
func quote(s string) string {
	if len(s) > 60 {
		return strconv.Quote(s[:60]) + "..."
	}
	return strconv.Quote(s)
}
