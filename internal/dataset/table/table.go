// Package table is the row model shared by the dataset exports' readers,
// validators and writers (kind DatasetExport): a schema of typed columns
// and rows of Go values, streamed one row at a time.
package table

import "time"

// Type is a column type of a dataset schema.
type Type string

const (
	String    Type = "string"
	Int       Type = "int"
	Float     Type = "float"
	Bool      Type = "bool"
	Date      Type = "date"      // a calendar day, held as midnight UTC
	Timestamp Type = "timestamp" // an instant, held in UTC
)

// Types lists the column types in documentation order.
var Types = []Type{String, Int, Float, Bool, Date, Timestamp}

// Column is one column of a schema.
type Column struct {
	Name     string
	Type     Type
	Required bool
}

// Schema is the columns of a table, in output order.
type Schema struct {
	Name    string
	Version string
	Columns []Column
}

// Row is one row in schema order. A value is nil (null), or by column
// type: string, int64, float64, bool, or time.Time (UTC; for Date at
// midnight).
type Row []any

// Reader yields rows of a source. Next returns io.EOF after the last row.
// The returned Row may be reused by the next call.
type Reader interface {
	Next() (Row, error)
	Close() error
}

// Writer writes rows to one output file. Close flushes what the format
// buffers and writes its footer; it does not close the underlying
// io.Writer.
type Writer interface {
	Write(Row) error
	Close() error
}

// Day returns t's calendar day as a Date value.
func Day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
