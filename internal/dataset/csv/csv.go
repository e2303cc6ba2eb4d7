// Package csv reads and writes dataset tables as CSV (RFC 4180): a
// header row of column names, then one record per row, a null as an empty
// cell, values in table.FormatValue's text form. Both stream one row at a
// time.
package csv

import (
	"bufio"
	stdcsv "encoding/csv"
	"errors"
	"fmt"
	"io"

	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// MaxRecordBytes bounds one CSV record, so that a file without line breaks
// cannot take all memory.
const MaxRecordBytes = 1 << 20

// Reader reads rows of a schema from CSV whose header names the columns;
// columns not in the schema are ignored, and their order is free.
type Reader struct {
	name   string
	cr     *stdcsv.Reader
	cols   []int // schema column -> CSV field
	schema table.Schema
	row    table.Row
	n      int // data rows read
}

// NewReader reads the header. name is the source in messages. A schema
// column missing from the header is an error naming it (exit 3).
func NewReader(r io.Reader, s table.Schema, name string) (*Reader, error) {
	br := bufio.NewReaderSize(&limitLines{r: r}, 64<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	cr := stdcsv.NewReader(br)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = 0
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, exitcode.Invalidf("%s: the file is empty; a CSV source starts with a header row of column names", name)
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	idx := map[string]int{}
	for i, h := range head {
		if _, dup := idx[h]; dup {
			return nil, exitcode.Invalidf("%s: header: column %s is named twice", name, h)
		}
		idx[h] = i
	}
	rd := &Reader{name: name, cr: cr, schema: s, row: make(table.Row, len(s.Columns))}
	for _, c := range s.Columns {
		i, ok := idx[c.Name]
		if !ok {
			return nil, exitcode.Invalidf("%s: header: column %s of the schema is missing", name, c.Name)
		}
		rd.cols = append(rd.cols, i)
	}
	return rd, nil
}

// Next returns the next row; the row is reused by the next call.
func (r *Reader) Next() (table.Row, error) {
	rec, err := r.cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, csvError(r.name, err)
	}
	r.n++
	for i, c := range r.schema.Columns {
		v, err := table.ParseText(c.Type, rec[r.cols[i]])
		if err != nil {
			return nil, exitcode.Invalidf("%s: row %d: column %s: %v", r.name, r.n, c.Name, err)
		}
		r.row[i] = v
	}
	return r.row, nil
}

// Close does nothing: the caller closes the underlying reader.
func (r *Reader) Close() error { return nil }

func csvError(name string, err error) error {
	var pe *stdcsv.ParseError
	if errors.As(err, &pe) {
		return exitcode.Invalidf("%s:%d:%d: %v", name, pe.Line, pe.Column, pe.Err)
	}
	var le *lineError
	if errors.As(err, &le) {
		return exitcode.Invalidf("%s: %v", name, le)
	}
	return fmt.Errorf("read %s: %w", name, err)
}

type lineError struct{}

func (*lineError) Error() string {
	return fmt.Sprintf("a line is longer than %d bytes; a CSV source has one record per line", MaxRecordBytes)
}

// limitLines fails once MaxRecordBytes pass without a line break.
type limitLines struct {
	r   io.Reader
	run int
}

func (l *limitLines) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, c := range p[:n] {
		if c == '\n' {
			l.run = 0
		} else if l.run++; l.run > MaxRecordBytes {
			return 0, &lineError{}
		}
	}
	return n, err
}

// Writer writes rows as CSV with a header row.
type Writer struct {
	cw     *stdcsv.Writer
	schema table.Schema
	rec    []string
}

// NewWriter writes the header row to w.
func NewWriter(w io.Writer, s table.Schema) (*Writer, error) {
	cw := stdcsv.NewWriter(w)
	head := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		head[i] = c.Name
	}
	if err := cw.Write(head); err != nil {
		return nil, err
	}
	return &Writer{cw: cw, schema: s, rec: make([]string, len(s.Columns))}, nil
}

// Write writes one row.
func (w *Writer) Write(r table.Row) error {
	for i, c := range w.schema.Columns {
		w.rec[i] = table.FormatValue(c.Type, r[i])
	}
	return w.cw.Write(w.rec)
}

// Close flushes the buffered records.
func (w *Writer) Close() error {
	w.cw.Flush()
	return w.cw.Error()
}
