// Package canonjson writes canonical JSON (docs/format.md#canonical-json):
// RFC 8785 (JSON Canonicalization Scheme) bytes followed by one LF.
//
// Only the subset of JSON stella-export uses is accepted: objects, arrays,
// strings, booleans, null and integers in the IEEE 754 safe range
// (|n| <= 2^53-1). Floats and exponents are refused, so every number has a
// single spelling. Object keys are sorted by their UTF-16 code units, strings
// are escaped exactly as ECMAScript's JSON.stringify does, and no whitespace
// is written. The result is what `jq -cS` prints for ASCII keys, with the JCS
// string escaping.
//
// Raw and RawBytes canonicalise third-party evidence documents (OSV,
// OpenVEX, CycloneDX, SPDX, policy findings) the same way, except that they
// accept any JSON number and copy its token unchanged, and that Raw streams:
// its memory does not grow with the document's size.
package canonjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"
)

const maxSafeInt = 1<<53 - 1

// Marshal encodes v with encoding/json and returns its canonical form,
// without a trailing LF.
func Marshal(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return Canonicalize(raw)
}

// MarshalLine is Marshal followed by one LF: the on-disk form of every JSON
// document stella-export writes.
func MarshalLine(v any) ([]byte, error) {
	b, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Canonicalize re-encodes one JSON text canonically. Duplicate object keys,
// non-integer numbers, invalid UTF-8 and trailing data are errors.
func Canonicalize(data []byte) ([]byte, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("canonjson: input is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var buf bytes.Buffer
	if err := encodeValue(dec, &buf, 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("canonjson: trailing data after JSON value")
	}
	return buf.Bytes(), nil
}

const maxDepth = 256

func encodeValue(dec *json.Decoder, buf *bytes.Buffer, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("canonjson: nesting deeper than %d", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("canonjson: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return encodeObject(dec, buf, depth)
		case '[':
			buf.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					buf.WriteByte(',')
				}
				if err := encodeValue(dec, buf, depth+1); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return fmt.Errorf("canonjson: %w", err)
			}
			buf.WriteByte(']')
			return nil
		}
		return fmt.Errorf("canonjson: unexpected %v", t)
	case string:
		return writeString(buf, t)
	case json.Number:
		return writeNumber(buf, t)
	case bool:
		if t {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
		return nil
	case nil:
		buf.WriteString("null")
		return nil
	}
	return fmt.Errorf("canonjson: unexpected token %v", tok)
}

type member struct {
	key   string
	value []byte
}

func encodeObject(dec *json.Decoder, buf *bytes.Buffer, depth int) error {
	var members []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("canonjson: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("canonjson: object key %v is not a string", tok)
		}
		if seen[key] {
			return fmt.Errorf("canonjson: duplicate object key %q", key)
		}
		seen[key] = true
		var vb bytes.Buffer
		if err := encodeValue(dec, &vb, depth+1); err != nil {
			return err
		}
		members = append(members, member{key: key, value: vb.Bytes()})
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("canonjson: %w", err)
	}
	slices.SortFunc(members, func(a, b member) int { return compareUTF16(a.key, b.key) })
	buf.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := writeString(buf, m.key); err != nil {
			return err
		}
		buf.WriteByte(':')
		buf.Write(m.value)
	}
	buf.WriteByte('}')
	return nil
}

func writeNumber(buf *bytes.Buffer, n json.Number) error {
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return fmt.Errorf("canonjson: number %s is not an integer (canonical JSON allows integers only)", n)
	}
	if i > maxSafeInt || i < -maxSafeInt {
		return fmt.Errorf("canonjson: integer %s is outside the exact range of IEEE 754 doubles", n)
	}
	buf.WriteString(strconv.FormatInt(i, 10))
	return nil
}

// writeString escapes s as RFC 8785 section 3.2.2.2 requires.
func writeString(buf *bytes.Buffer, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("canonjson: string %q is not valid UTF-8", s)
	}
	buf.WriteByte('"')
	for _, r := range s {
		buf.Write(appendEscapedRune(buf.AvailableBuffer(), r))
	}
	buf.WriteByte('"')
	return nil
}
