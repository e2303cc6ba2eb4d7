package evidence

import (
	"errors"
	"fmt"
	"io"

	"github.com/go-json-experiment/json/jsontext"
)

// walk streams one JSON document token by token and reports every scalar
// with its path ("affected[].package.purl": object keys joined by '.',
// array elements as "[]") and the end of every object (so callers can group
// fields of one array element). Memory is bounded by the nesting depth and
// the longest token, not the document's size.
//
// The tokenizer is jsontext's (the streaming layer of encoding/json/v2):
// it reads without allocating per token, several times faster than
// encoding/json's Decoder.Token.
type visitor interface {
	scalar(path []byte, v jsontext.Token) // v is valid until the walk goes on
	endObject(path []byte)
}

const maxWalkDepth = 512

func walk(r io.Reader, v visitor) error {
	// Duplicate keys and invalid UTF-8 are left to the canonical check that
	// follows the walk, so a document is refused in one set of words.
	dec := jsontext.NewDecoder(r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	tok, err := dec.ReadToken()
	if err != nil {
		return syntaxErr(dec, err)
	}
	if tok.Kind() != '{' {
		return errors.New("the document is not a JSON object")
	}
	path := make([]byte, 0, 128)
	if err := walkObject(dec, v, path, 1); err != nil {
		return err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("data after the JSON value (offset %d)", dec.InputOffset())
		}
		return syntaxErr(dec, err)
	}
	return nil
}

// syntaxErr reports a tokenizer error in one line: where, and why in
// jsontext's words without its package prefix.
func syntaxErr(dec *jsontext.Decoder, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at offset %d: %v", se.ByteOffset, se.Err)
	}
	if isReadErr(err) {
		return err
	}
	return fmt.Errorf("invalid JSON at offset %d: %v", dec.InputOffset(), err)
}

func walkObject(dec *jsontext.Decoder, v visitor, path []byte, depth int) error {
	base := len(path)
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return syntaxErr(dec, err)
		}
		p := path[:base]
		if base > 0 {
			p = append(p, '.')
		}
		p = append(p, tok.String()...)
		if err := walkValue(dec, v, p, depth); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return syntaxErr(dec, err)
	}
	v.endObject(path[:base])
	return nil
}

func walkValue(dec *jsontext.Decoder, v visitor, path []byte, depth int) error {
	if depth > maxWalkDepth {
		return fmt.Errorf("nesting deeper than %d at %s", maxWalkDepth, path)
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return syntaxErr(dec, err)
	}
	switch tok.Kind() {
	case '{':
		return walkObject(dec, v, path, depth+1)
	case '[':
		p := append(path, "[]"...)
		for dec.PeekKind() != ']' {
			if err := walkValue(dec, v, p, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.ReadToken(); err != nil {
			return syntaxErr(dec, err)
		}
		return nil
	default:
		v.scalar(path, tok)
	}
	return nil
}
