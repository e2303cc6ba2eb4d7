package javadb

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// MaxLine is the longest line ParseIndex reads (newline excluded); a
// longer one is an invalid line, skipped whole.
const MaxLine = 64 << 10

// Pos is a line of an index file.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return p.File + ":" + strconv.Itoa(p.Line) }

// Entry is a record and the line it was read from.
type Entry struct {
	Record
	Pos Pos
}

// LineError is an invalid line of an index file (exit 3). Field is the
// JSON field at fault, "" when the line as a whole is.
type LineError struct {
	Pos
	Field  string
	Reason string
}

func (e *LineError) Error() string {
	if e.Field == "" {
		return e.Pos.String() + ": " + e.Reason
	}
	return e.Pos.String() + ": " + e.Field + ": " + e.Reason
}

func (e *LineError) Unwrap() error { return exitcode.ErrInvalid }

// fields of a line, in the order errors about missing ones are reported.
var fields = [...]string{"group_id", "artifact_id", "version", "sha1", "archive_type"}

// ParseIndex reads one file of a Maven artefact index, JSON lines of
//
//	{"group_id":"org.example","artifact_id":"lib","version":"1.2.3",
//	 "sha1":"<40 lowercase hex digits of the artefact file>","archive_type":"jar"}
//
// and calls emit for each valid line, in order; name is the file's name in
// errors. Every line must be one JSON object (valid UTF-8, nothing after
// it but spaces, at most MaxLine bytes) with exactly these five string
// fields, each once: an unknown field is refused (a misspelt
// "groupId" would otherwise pass as a missing one, and a field Trivy
// cannot store would be lost without a word). group_id and artifact_id
// follow Maven's rule (A-Z a-z 0-9 _ - .), version is non-empty with no
// whitespace, control character or any of \ / : " < > | ? *, archive_type
// is jar or aar. Blank lines are invalid too; a final newline is optional
// and a CR before a newline is allowed.
//
// A bad line is a *LineError naming file:line and the field. With invalid
// nil, ParseIndex returns the first one; otherwise it passes each to
// invalid (for --skip-invalid: record it and return nil to go on) and
// stops if that returns an error. An error from emit or from reading r
// stops the parse and is returned as it is.
func ParseIndex(r io.Reader, name string, emit func(Entry) error, invalid func(*LineError) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte
	for n := 1; ; n++ {
		line, tooLong, err := readLine(br, &long)
		if err == io.EOF && line == nil && !tooLong {
			return nil // the end, after a final newline or of an empty file
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read %s: %w", name, err)
		}
		pos := Pos{name, n}
		var lerr *LineError
		if tooLong {
			lerr = &LineError{Pos: pos, Reason: fmt.Sprintf("line longer than %d bytes", MaxLine)}
		} else {
			var rec Record
			rec, lerr = parseLine(line, pos)
			if lerr == nil {
				if err := emit(Entry{rec, pos}); err != nil {
					return err
				}
			}
		}
		if lerr != nil {
			if invalid == nil {
				return lerr
			}
			if err := invalid(lerr); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readLine returns the next line without its "\n" (nil at the end of
// input), or tooLong after discarding a line longer than MaxLine. err is
// io.EOF on the last line when it has no final newline.
func readLine(br *bufio.Reader, buf *[]byte) (line []byte, tooLong bool, err error) {
	*buf = (*buf)[:0]
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			*buf = append(*buf, chunk...)
			if len(bytes.TrimSuffix(*buf, []byte("\n"))) > MaxLine {
				tooLong = true
				*buf = (*buf)[:0]
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && err != io.EOF {
			return nil, false, err
		}
		if tooLong {
			return nil, true, err
		}
		if err == io.EOF && len(*buf) == 0 {
			return nil, false, io.EOF
		}
		return bytes.TrimSuffix(*buf, []byte("\n")), false, err
	}
}

// parseLine reads one line strictly.
func parseLine(line []byte, pos Pos) (Record, *LineError) {
	bad := func(field, format string, args ...any) *LineError {
		return &LineError{Pos: pos, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return Record{}, bad("", "blank line; each line must be one JSON object")
	}
	if !utf8.Valid(line) {
		return Record{}, bad("", "not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	tok, err := dec.Token()
	if err != nil {
		return Record{}, bad("", "not valid JSON: %v", jsonReason(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return Record{}, bad("", "not a JSON object")
	}
	var vals [len(fields)]string
	var seen [len(fields)]bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Record{}, bad("", "not valid JSON: %v", jsonReason(err))
		}
		key := tok.(string) // an object's keys are strings
		i := fieldIndex(key)
		if i < 0 {
			return Record{}, bad(key, "unknown field; a line has group_id, artifact_id, version, sha1 and archive_type only")
		}
		if seen[i] {
			return Record{}, bad(key, "given twice")
		}
		seen[i] = true
		tok, err = dec.Token()
		if err != nil {
			return Record{}, bad("", "not valid JSON: %v", jsonReason(err))
		}
		s, ok := tok.(string)
		if !ok {
			return Record{}, bad(key, "must be a string")
		}
		vals[i] = s
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return Record{}, bad("", "not valid JSON: %v", jsonReason(err))
	}
	if rest := line[dec.InputOffset():]; len(bytes.Trim(rest, " \t\r")) != 0 {
		return Record{}, bad("", "data after the JSON object")
	}
	for i, f := range fields {
		if !seen[i] {
			return Record{}, bad(f, "required")
		}
	}
	rec := Record{GroupID: vals[0], ArtifactID: vals[1], Version: vals[2], ArchiveType: vals[4]}
	sha := vals[3]
	if len(sha) != 40 || !isLowerHex(sha) {
		return Record{}, bad("sha1", "%q is not 40 lowercase hex digits", sha)
	}
	hex.Decode(rec.SHA1[:], []byte(sha))
	if field, reason := rec.Validate(); field != "" {
		return Record{}, bad(field, "%s", reason)
	}
	return rec, nil
}

func fieldIndex(key string) int {
	for i, f := range fields {
		if f == key {
			return i
		}
	}
	return -1
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// jsonReason words a decoder error without its Go type.
func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (byte %d)", se.Error(), se.Offset)
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return "unexpected end of line"
	}
	return err.Error()
}
