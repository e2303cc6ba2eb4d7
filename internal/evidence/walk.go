package evidence

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// walk streams one JSON document token by token and reports every scalar
// with its path ("affected[].package.purl": object keys joined by '.',
// array elements as "[]") and the end of every object (so callers can group
// fields of one array element). Memory is bounded by the nesting depth, not
// the document's size.
type visitor interface {
	scalar(path string, v any)
	endObject(path string)
}

const maxWalkDepth = 512

func walk(r io.Reader, v visitor) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return syntaxErr(dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("the document is not a JSON object")
	}
	path := make([]byte, 0, 128)
	if err := walkObject(dec, v, path, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("data after the JSON value (offset %d)", dec.InputOffset())
		}
		return syntaxErr(dec, err)
	}
	return nil
}

func syntaxErr(dec *json.Decoder, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("invalid JSON at offset %d: %v", dec.InputOffset(), err)
}

func walkObject(dec *json.Decoder, v visitor, path []byte, depth int) error {
	base := len(path)
	seen := map[string]struct{}{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxErr(dec, err)
		}
		key := tok.(string)
		if _, dup := seen[key]; dup {
			return fmt.Errorf("duplicate key %q in %s", key, pathName(path))
		}
		if len(seen) < 4096 {
			seen[key] = struct{}{}
		}
		p := path[:base]
		if base > 0 {
			p = append(p, '.')
		}
		p = append(p, key...)
		if err := walkValue(dec, v, p, depth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return syntaxErr(dec, err)
	}
	v.endObject(string(path[:base]))
	return nil
}

func pathName(p []byte) string {
	if len(p) == 0 {
		return "the top-level object"
	}
	return string(p)
}

func walkValue(dec *json.Decoder, v visitor, path []byte, depth int) error {
	if depth > maxWalkDepth {
		return fmt.Errorf("nesting deeper than %d at %s", maxWalkDepth, path)
	}
	tok, err := dec.Token()
	if err != nil {
		return syntaxErr(dec, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return walkObject(dec, v, path, depth+1)
		case '[':
			p := append(path, "[]"...)
			for dec.More() {
				if err := walkValue(dec, v, p, depth+1); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return syntaxErr(dec, err)
			}
			return nil
		}
	default:
		v.scalar(string(path), t)
	}
	return nil
}
