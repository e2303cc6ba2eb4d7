// Package schema reads the schema YAML of a DatasetExport
// (docs/dataset.md#schema): the table's name and version, its typed
// columns (required, picklist codes, the data subject's id) and the date
// columns that must be ordered. The contract pins the file's SHA-256
// (schema_digest); Load refuses a file whose digest differs.
//
//	sha256sum schemas/client.yaml   # the digest to pin, as sha256:<hex>
package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// MaxSize bounds a schema file.
const MaxSize = 1 << 20

// Schema is a parsed schema file.
type Schema struct {
	table.Schema
	Digest string // "sha256:<hex>" of the file
	// Codes are the picklist columns' allowed values (as text).
	Codes map[string][]string
	// SubjectID is the column holding the data subject's id; "" if none.
	SubjectID string
	// Historical are the date columns that may predate the HMIS epoch
	// (a date of birth): DATE_BEFORE_HMIS_EPOCH skips them.
	Historical map[string]bool
	// DateSequences are pairs of date columns: First must not be after
	// Second when both are set.
	DateSequences []Sequence
}

// Sequence is one date_sequences entry.
type Sequence struct{ First, Second string }

// Index returns the position of column name, or -1.
func (s *Schema) Index(name string) int {
	return slices.IndexFunc(s.Columns, func(c table.Column) bool { return c.Name == name })
}

// MismatchError: the schema file's digest is not the contract's pin.
type MismatchError struct {
	Path      string
	Want, Got string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s: schema digest is %s, the contract pins schema_digest %s; review the schema change and update the pin", e.Path, e.Got, e.Want)
}

func (e *MismatchError) Unwrap() error { return exitcode.ErrInvalid }

// Load reads the schema at path and checks its digest against want
// ("sha256:<hex>"; empty skips the check).
func Load(path, want string) (*Schema, error) {
	data, err := safefile.ReadAll(path, MaxSize)
	if err != nil {
		return nil, fmt.Errorf("read schema %s: %w", path, err)
	}
	got := digest.Sum(data).String()
	if want != "" && got != want {
		return nil, &MismatchError{Path: path, Want: want, Got: got}
	}
	s, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	s.Digest = got
	return s, nil
}

type fileColumn struct {
	Name       string   `yaml:"name"`
	Type       string   `yaml:"type"`
	Required   bool     `yaml:"required"`
	Codes      []string `yaml:"codes"`
	SubjectID  bool     `yaml:"subject_id"`
	Historical bool     `yaml:"historical"`
}

type file struct {
	Name          string       `yaml:"name"`
	Version       string       `yaml:"version"`
	Columns       []fileColumn `yaml:"columns"`
	DateSequences [][]string   `yaml:"date_sequences"`
}

// Parse reads schema YAML; path names the file in messages. Unknown
// fields are refused.
func Parse(path string, data []byte) (s *Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, exitcode.Invalidf("%s: invalid schema YAML: the parser failed (%v)", path, r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f file
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, exitcode.Invalidf("%s: the schema is empty; write name, version and columns", path)
		}
		return nil, exitcode.Invalidf("%s: invalid schema: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	bad := func(format string, args ...any) error {
		return exitcode.Invalidf("%s: %s", path, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(f.Name) == "" {
		return nil, bad("name: missing; add name: <table name>")
	}
	if strings.TrimSpace(f.Version) == "" {
		return nil, bad("version: missing; add version: e.g. \"1\"")
	}
	if len(f.Columns) == 0 {
		return nil, bad("columns: missing; list the table's columns with name and type")
	}
	s = &Schema{Schema: table.Schema{Name: f.Name, Version: f.Version}, Codes: map[string][]string{}, Historical: map[string]bool{}}
	for i, c := range f.Columns {
		where := fmt.Sprintf("columns[%d]", i)
		if strings.TrimSpace(c.Name) == "" {
			return nil, bad("%s.name: missing", where)
		}
		if strings.ContainsAny(c.Name, "\x00\n\r\"") {
			return nil, bad("%s.name: %q holds a NUL, newline or quote", where, c.Name)
		}
		if s.Index(c.Name) >= 0 {
			return nil, bad("%s.name: column %s is listed twice", where, c.Name)
		}
		t := table.Type(c.Type)
		if !slices.Contains(table.Types, t) {
			return nil, bad("%s.type: column %s: unknown type %q; use one of string, int, float, bool, date, timestamp", where, c.Name, c.Type)
		}
		if len(c.Codes) > 0 {
			for _, code := range c.Codes {
				if _, err := table.ParseText(t, code); err != nil || code == "" {
					return nil, bad("%s.codes: column %s: code %q is not a %s", where, c.Name, code, t)
				}
			}
			s.Codes[c.Name] = c.Codes
		}
		if c.Historical {
			if t != table.Date && t != table.Timestamp {
				return nil, bad("%s.historical: column %s is a %s; historical applies to date and timestamp columns", where, c.Name, t)
			}
			s.Historical[c.Name] = true
		}
		if c.SubjectID {
			if s.SubjectID != "" {
				return nil, bad("%s.subject_id: column %s: %s is the subject id already; one column holds it", where, c.Name, s.SubjectID)
			}
			s.SubjectID = c.Name
		}
		s.Columns = append(s.Columns, table.Column{Name: c.Name, Type: t, Required: c.Required})
	}
	for i, pair := range f.DateSequences {
		if len(pair) != 2 {
			return nil, bad("date_sequences[%d]: want a pair [EARLIER, LATER]", i)
		}
		for _, n := range pair {
			j := s.Index(n)
			if j < 0 {
				return nil, bad("date_sequences[%d]: no column %s", i, n)
			}
			if ty := s.Columns[j].Type; ty != table.Date && ty != table.Timestamp {
				return nil, bad("date_sequences[%d]: column %s is a %s, not a date or timestamp", i, n, ty)
			}
		}
		s.DateSequences = append(s.DateSequences, Sequence{pair[0], pair[1]})
	}
	return s, nil
}
