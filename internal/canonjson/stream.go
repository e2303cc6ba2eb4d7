package canonjson

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"slices"
	"unicode/utf16"
)

// Array is a JSON array written element by element: Len elements from
// Item, or, when Seq is set, the elements Seq yields (an error ends the
// array and is returned by WriteObject). When Object is set, the member is
// that object instead of an array, itself streamed.
type Array struct {
	Len    int
	Item   func(i int) any
	Seq    iter.Seq2[any, error]
	Object *Object
}

// Object is an object member of a streamed document: Head's fields plus
// the streamed Arrays, as WriteObject writes a whole document.
type Object struct {
	Head   any
	Arrays map[string]Array
}

// Appender is a value that appends its own canonical JSON (what Marshal
// would return for it) to b: WriteObject uses it instead of Marshal for
// array elements, the hot path of documents with millions of them.
type Appender interface {
	AppendCanonical(b []byte) []byte
}

// AppendString appends s as Marshal writes a string: invalid UTF-8 becomes
// U+FFFD, as encoding/json does, and the escaping is RFC 8785's.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		b = appendEscapedRune(b, r)
	}
	return append(b, '"')
}

// WriteObject writes, as canonical JSON and one LF, the object made of
// head's fields plus the given arrays, without holding the arrays' JSON in
// memory: large documents (plans, provenance) of millions of entries stream
// out. head must marshal to a JSON object whose keys do not collide with
// the arrays' keys.
func WriteObject(w io.Writer, head any, arrays map[string]Array) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := writeObject(bw, head, arrays); err != nil {
		return err
	}
	bw.WriteByte('\n')
	return bw.Flush()
}

func writeObject(bw *bufio.Writer, head any, arrays map[string]Array) error {
	hb, err := Marshal(head)
	if err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(hb, &fields); err != nil {
		return fmt.Errorf("canonjson: head is not an object: %w", err)
	}
	keys := make([]string, 0, len(fields)+len(arrays))
	for k := range fields {
		if _, dup := arrays[k]; dup {
			return fmt.Errorf("canonjson: key %q both in head and arrays", k)
		}
		keys = append(keys, k)
	}
	for k := range arrays {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	bw.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			bw.WriteByte(',')
		}
		var kb bytesBuf
		if err := writeString(&kb.Buffer, k); err != nil {
			return err
		}
		bw.Write(kb.Bytes())
		bw.WriteByte(':')
		a, ok := arrays[k]
		if !ok {
			bw.Write(fields[k]) // already canonical: a sub-slice of Marshal's output
			continue
		}
		if a.Object != nil {
			if err := writeObject(bw, a.Object.Head, a.Object.Arrays); err != nil {
				return err
			}
			continue
		}
		bw.WriteByte('[')
		var buf []byte
		item := func(j int, v any) error {
			if j > 0 {
				bw.WriteByte(',')
			}
			if a, ok := v.(Appender); ok {
				buf = a.AppendCanonical(buf[:0])
				_, err := bw.Write(buf)
				return err
			}
			b, err := Marshal(v)
			if err != nil {
				return fmt.Errorf("%s[%d]: %w", k, j, err)
			}
			_, err = bw.Write(b)
			return err
		}
		if a.Seq != nil {
			j := 0
			for v, err := range a.Seq {
				if err != nil {
					return err
				}
				if err := item(j, v); err != nil {
					return err
				}
				j++
			}
		} else {
			for j := 0; j < a.Len; j++ {
				if err := item(j, a.Item(j)); err != nil {
					return err
				}
			}
		}
		bw.WriteByte(']')
	}
	_, err = bw.WriteString("}")
	return err
}

type bytesBuf struct{ bytes.Buffer }

// CompareKeys orders two object keys (UTF-8) as canonical JSON orders
// them: by their UTF-16 code units (RFC 8785).
func CompareKeys(a, b []byte) int { return compareUTF16(a, b) }

// compareKeys orders object keys by their UTF-16 code units (RFC 8785).
func compareKeys(a, b string) int {
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

// ExpectDelim reads the next token of a streaming decoder and fails unless
// it is the delimiter want: the step readers of large documents (plans,
// provenance) take between the values they decode one at a time.
func ExpectDelim(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected %q, found %v", string(want), t)
	}
	return nil
}

// SkipValue reads one whole value of a streaming decoder token by token,
// so that skipping a large value holds no more than one token; step (nil
// for none) is called before each token, for callers that bound a value's
// tokens.
func SkipValue(dec *json.Decoder, step func()) error {
	depth := 0
	for {
		if step != nil {
			step()
		}
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
