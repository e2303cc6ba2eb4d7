// Streaming: values larger than the in-memory limit, read in chunks and
// indexed (objects) or copied through (arrays and strings).

package canonjson

import (
	"bytes"
	"fmt"
	"slices"
)

// value canonicalises the value starting at off, whose end is not yet
// known, and returns the offset after it.
func (s *rawState) value(off int64, depth int) (int64, error) {
	b, err := s.chunk(off, s.limit, true)
	if err != nil {
		return 0, err
	}
	if len(b) > s.limit {
		b = b[:s.limit]
	}
	n, err := s.mem(b, off, off+int64(len(b)) == s.size, depth)
	if err == nil {
		return off + int64(n), s.maybeFlush()
	}
	if err != errIncomplete {
		return 0, err
	}
	return s.big(off, b[0], depth)
}

// valueSpan canonicalises the value that occupies [off, end).
func (s *rawState) valueSpan(off, end int64, depth int) error {
	if n := end - off; n <= int64(s.limit) {
		b, err := s.chunk(off, int(n), false)
		if err != nil {
			return err
		}
		k, err := s.mem(b[:n], off, true, depth)
		if err != nil {
			return err
		}
		if int64(k) != n {
			return &SyntaxError{off + int64(k), fmt.Sprintf("invalid character %s after value", quoteByte(b[k]))}
		}
		return s.maybeFlush()
	}
	c, err := s.byteAt(off)
	if err != nil {
		return err
	}
	got, err := s.big(off, c, depth)
	if err != nil {
		return err
	}
	if got != end {
		return &SyntaxError{got, "invalid character after value"}
	}
	return nil
}

// big streams a value too large to hold in memory.
func (s *rawState) big(off int64, c byte, depth int) (int64, error) {
	switch {
	case c == '{':
		return s.streamObject(off, depth)
	case c == '[':
		return s.streamArray(off, depth)
	case c == '"':
		return s.streamString(off)
	case c == '-' || c >= '0' && c <= '9':
		return 0, &SyntaxError{off, fmt.Sprintf("number longer than %d bytes", s.limit)}
	}
	return 0, &SyntaxError{off, fmt.Sprintf("invalid character %s looking for a value", quoteByte(c))}
}

func (s *rawState) streamArray(off int64, depth int) (int64, error) {
	if depth >= MaxRawDepth {
		return 0, depthError(off)
	}
	s.out = append(s.out, '[')
	pos, err := s.skipWS(off + 1)
	if err != nil {
		return 0, err
	}
	c, err := s.byteAt(pos)
	if err != nil {
		return 0, err
	}
	if c == ']' {
		s.out = append(s.out, ']')
		return pos + 1, nil
	}
	for {
		end, err := s.value(pos, depth+1)
		if err != nil {
			return 0, err
		}
		if pos, err = s.skipWS(end); err != nil {
			return 0, err
		}
		if c, err = s.byteAt(pos); err != nil {
			return 0, err
		}
		switch c {
		case ',':
			s.out = append(s.out, ',')
			if pos, err = s.skipWS(pos + 1); err != nil {
				return 0, err
			}
		case ']':
			s.out = append(s.out, ']')
			return pos + 1, s.maybeFlush()
		default:
			return 0, &SyntaxError{pos, fmt.Sprintf("invalid character %s after array element", quoteByte(c))}
		}
	}
}

// bigMember is one member of an object too large to hold in memory.
type bigMember struct {
	key        []byte // decoded
	keyOff     int64
	start, end int64 // the value's bytes
}

// streamObject indexes the members of a large object in one pass, then
// canonicalises their values in key order.
func (s *rawState) streamObject(off int64, depth int) (int64, error) {
	if depth >= MaxRawDepth {
		return 0, depthError(off)
	}
	var ms []bigMember
	pos, err := s.skipWS(off + 1)
	if err != nil {
		return 0, err
	}
	c, err := s.byteAt(pos)
	if err != nil {
		return 0, err
	}
	for c != '}' || len(ms) > 0 {
		if c != '"' {
			return 0, &SyntaxError{pos, fmt.Sprintf("invalid character %s looking for an object key", quoteByte(c))}
		}
		b, err := s.chunk(pos, s.limit, true)
		if err != nil {
			return 0, err
		}
		if len(b) > s.limit {
			b = b[:s.limit]
		}
		key, j, err := appendStringBody(nil, b, 1, false, pos+int64(len(b)) == s.size)
		if err == errShort {
			return 0, &SyntaxError{pos, fmt.Sprintf("object key longer than %d bytes", s.limit)}
		}
		if err != nil {
			return 0, rebase(err, pos)
		}
		m := bigMember{key: key, keyOff: pos}
		if pos, err = s.skipWS(pos + int64(j)); err != nil {
			return 0, err
		}
		if c, err = s.byteAt(pos); err != nil {
			return 0, err
		}
		if c != ':' {
			return 0, &SyntaxError{pos, fmt.Sprintf("invalid character %s after object key", quoteByte(c))}
		}
		if m.start, err = s.skipWS(pos + 1); err != nil {
			return 0, err
		}
		if m.end, err = s.skip(m.start, depth+1); err != nil {
			return 0, err
		}
		ms = append(ms, m)
		if pos, err = s.skipWS(m.end); err != nil {
			return 0, err
		}
		if c, err = s.byteAt(pos); err != nil {
			return 0, err
		}
		if c == '}' {
			break
		}
		if c != ',' {
			return 0, &SyntaxError{pos, fmt.Sprintf("invalid character %s after object member", quoteByte(c))}
		}
		if pos, err = s.skipWS(pos + 1); err != nil {
			return 0, err
		}
		if c, err = s.byteAt(pos); err != nil {
			return 0, err
		}
	}
	slices.SortStableFunc(ms, func(a, b bigMember) int { return compareUTF16(a.key, b.key) })
	for i := 1; i < len(ms); i++ {
		if bytes.Equal(ms[i-1].key, ms[i].key) {
			return 0, &SyntaxError{max(ms[i-1].keyOff, ms[i].keyOff), fmt.Sprintf("duplicate object key %s", quoteKey(ms[i].key))}
		}
	}
	s.out = append(s.out, '{')
	for i, m := range ms {
		if i > 0 {
			s.out = append(s.out, ',')
		}
		s.out = appendEscapedString(s.out, m.key)
		s.out = append(s.out, ':')
		if err := s.valueSpan(m.start, m.end, depth+1); err != nil {
			return 0, err
		}
	}
	s.out = append(s.out, '}')
	return pos + 1, s.maybeFlush()
}

// streamString re-escapes a large string piece by piece.
func (s *rawState) streamString(off int64) (int64, error) {
	s.out = append(s.out, '"')
	pos := off + 1
	for {
		b, err := s.chunk(pos, 16, true)
		if err != nil {
			return 0, err
		}
		out, j, err := appendStringBody(s.out, b, 0, true, pos+int64(len(b)) == s.size)
		s.out = out
		if err == nil {
			return pos + int64(j), s.maybeFlush()
		}
		if err != errShort {
			return 0, rebase(err, pos)
		}
		pos += int64(j)
		if err := s.maybeFlush(); err != nil {
			return 0, err
		}
	}
}

// skip finds the end of the value at off without canonicalising it. It
// checks strings, bracket nesting and depth; the value is parsed fully when
// it is canonicalised.
func (s *rawState) skip(off int64, depth int) (int64, error) {
	k := skipper{depth: depth}
	for {
		if off >= s.size {
			if k.scalar {
				return off, nil
			}
			return 0, &SyntaxError{s.size, "unexpected end of input"}
		}
		b, err := s.chunk(off, 1, true)
		if err != nil {
			return 0, err
		}
		n, done, err := k.feed(b, off)
		off += int64(n)
		if err != nil || done {
			return off, err
		}
	}
}

type skipper struct {
	depth    int    // nesting of the value being skipped
	stack    []byte // open brackets
	started  bool
	scalar   bool // a number or literal, ended by any other byte
	inString bool
	escaped  bool
}

// feed consumes b, the document from offset base on, and reports how many
// bytes belong to the value and whether it has ended.
func (k *skipper) feed(b []byte, base int64) (int, bool, error) {
	i := 0
	if !k.started {
		k.started = true
		switch c := b[0]; {
		case c == '"':
			k.inString, i = true, 1
		case c == '{' || c == '[':
			if k.depth >= MaxRawDepth {
				return 0, false, depthError(base)
			}
			k.stack, i = append(k.stack, c), 1
		case c == '-' || c >= '0' && c <= '9' || c == 't' || c == 'f' || c == 'n':
			k.scalar = true
		default:
			return 0, false, &SyntaxError{base, fmt.Sprintf("invalid character %s looking for a value", quoteByte(c))}
		}
	}
	if k.scalar {
		for i < len(b) && scalarByte[b[i]] {
			i++
		}
		return i, i < len(b), nil
	}
	for i < len(b) {
		if k.inString {
			if k.escaped {
				k.escaped = false
				i++
				continue
			}
			i += quoteRun(b[i:])
			if i == len(b) {
				break
			}
			if b[i] == '\\' {
				k.escaped = true
				i++
				continue
			}
			k.inString = false
			i++
			if len(k.stack) == 0 {
				return i, true, nil
			}
			continue
		}
		for i < len(b) && !structural[b[i]] {
			i++
		}
		if i == len(b) {
			break
		}
		c := b[i]
		i++
		switch c {
		case '"':
			k.inString = true
		case '{', '[':
			if k.depth+len(k.stack) >= MaxRawDepth {
				return 0, false, depthError(base + int64(i-1))
			}
			k.stack = append(k.stack, c)
		case '}', ']':
			open := k.stack[len(k.stack)-1]
			if open == '{' != (c == '}') {
				return 0, false, &SyntaxError{base + int64(i-1), fmt.Sprintf("%s closes %s", quoteByte(c), quoteByte(open))}
			}
			k.stack = k.stack[:len(k.stack)-1]
			if len(k.stack) == 0 {
				return i, true, nil
			}
		}
	}
	return i, false, nil
}
