// In-memory canonicalisation of values up to the in-memory limit, with
// object members reordered by UTF-16 key order.

package canonjson

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
)

// mem canonicalises the value at src[0] into s.out and returns its length.
// final says that the value must end within src; otherwise running out of
// src gives errIncomplete and leaves s.out as it was.
func (s *rawState) mem(src []byte, base int64, final bool, depth int) (int, error) {
	s.src, s.base, s.final = src, base, final
	outMark, recMark, arenaMark := len(s.out), len(s.recs), len(s.arena)
	n, err := s.memValue(0, depth)
	s.src = nil
	if err != nil {
		s.out, s.recs, s.arena = s.out[:outMark], s.recs[:recMark], s.arena[:arenaMark]
		return 0, err
	}
	return n, nil
}

// short reports running out of src at i.
func (s *rawState) short() error {
	if !s.final {
		return errIncomplete
	}
	return &SyntaxError{s.base + int64(len(s.src)), "unexpected end of input"}
}

func (s *rawState) errAt(i int, format string, args ...any) error {
	return &SyntaxError{s.base + int64(i), fmt.Sprintf(format, args...)}
}

func (s *rawState) ws(i int) int {
	for i < len(s.src) && isWS(s.src[i]) {
		i++
	}
	return i
}

func (s *rawState) memValue(i, depth int) (int, error) {
	src := s.src
	if i >= len(src) {
		return 0, s.short()
	}
	switch c := src[i]; {
	case c == '{':
		return s.memObject(i, depth)
	case c == '[':
		return s.memArray(i, depth)
	case c == '"':
		s.out = append(s.out, '"')
		out, j, err := appendStringBody(s.out, src, i+1, true, s.final)
		s.out = out
		if err == errShort {
			return 0, errIncomplete
		}
		if err != nil {
			return 0, rebase(err, s.base)
		}
		return j, nil
	case c == 't':
		return s.memLiteral(i, "true")
	case c == 'f':
		return s.memLiteral(i, "false")
	case c == 'n':
		return s.memLiteral(i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return s.memNumber(i)
	default:
		return 0, s.errAt(i, "invalid character %s looking for a value", quoteByte(c))
	}
}

func (s *rawState) memLiteral(i int, lit string) (int, error) {
	rest := s.src[i:]
	if len(rest) < len(lit) && string(rest) == lit[:len(rest)] {
		return 0, s.short()
	}
	if len(rest) < len(lit) || string(rest[:len(lit)]) != lit {
		return 0, s.errAt(i, "invalid literal (want %s)", lit)
	}
	s.out = append(s.out, lit...)
	return i + len(lit), nil
}

// memNumber copies a number token as it is, after checking it against the
// grammar of RFC 8259 section 6.
func (s *rawState) memNumber(i int) (int, error) {
	src := s.src
	j := i
	if src[j] == '-' {
		j++
	}
	switch {
	case j == len(src):
		return 0, s.short()
	case src[j] == '0':
		j++
	case src[j] >= '1' && src[j] <= '9':
		j = digitsFrom(src, j)
	default:
		return 0, s.errAt(j, "invalid number: %s where a digit is required", quoteByte(src[j]))
	}
	for _, part := range [2]byte{'.', 'e'} {
		if j == len(src) || src[j] != part && !(part == 'e' && src[j] == 'E') {
			continue
		}
		j++
		if part == 'e' && j < len(src) && (src[j] == '+' || src[j] == '-') {
			j++
		}
		k := digitsFrom(src, j)
		if k == j {
			if j == len(src) {
				return 0, s.short()
			}
			return 0, s.errAt(j, "invalid number: %s where a digit is required", quoteByte(src[j]))
		}
		j = k
	}
	if j == len(src) && !s.final {
		return 0, errIncomplete // the number may go on
	}
	s.out = append(s.out, src[i:j]...)
	return j, nil
}

func digitsFrom(b []byte, j int) int {
	for j < len(b) && isDigit(b[j]) {
		j++
	}
	return j
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (s *rawState) memArray(i, depth int) (int, error) {
	if depth >= MaxRawDepth {
		return 0, depthError(s.base + int64(i))
	}
	s.out = append(s.out, '[')
	j := s.ws(i + 1)
	if j >= len(s.src) {
		return 0, s.short()
	}
	if s.src[j] == ']' {
		s.out = append(s.out, ']')
		return j + 1, nil
	}
	for {
		var err error
		if j, err = s.memValue(j, depth+1); err != nil {
			return 0, err
		}
		if j = s.ws(j); j >= len(s.src) {
			return 0, s.short()
		}
		switch c := s.src[j]; c {
		case ',':
			s.out = append(s.out, ',')
			j = s.ws(j + 1)
		case ']':
			s.out = append(s.out, ']')
			return j + 1, nil
		default:
			return 0, s.errAt(j, "invalid character %s after array element", quoteByte(c))
		}
	}
}

func (s *rawState) memObject(i, depth int) (int, error) {
	if depth >= MaxRawDepth {
		return 0, depthError(s.base + int64(i))
	}
	objStart := len(s.out)
	recBase, arenaBase := len(s.recs), len(s.arena)
	s.out = append(s.out, '{')
	j := s.ws(i + 1)
	if j >= len(s.src) {
		return 0, s.short()
	}
	if s.src[j] == '}' {
		s.out = append(s.out, '}')
		return j + 1, nil
	}
	sorted := true
	for {
		if s.src[j] != '"' {
			return 0, s.errAt(j, "invalid character %s looking for an object key", quoteByte(s.src[j]))
		}
		rec := memberRec{keyOff: s.base + int64(j), kStart: len(s.arena)}
		arena, k, err := appendStringBody(s.arena, s.src, j+1, false, s.final)
		s.arena = arena
		if err == errShort {
			return 0, errIncomplete
		}
		if err != nil {
			return 0, rebase(err, s.base)
		}
		rec.kEnd = len(s.arena)
		key := s.arena[rec.kStart:rec.kEnd]
		rec.prefix = keyPrefix(key)
		if len(s.recs) > recBase {
			switch c := s.compareKeys(s.recs[len(s.recs)-1], rec); {
			case c == 0:
				return 0, s.errAt(j, "duplicate object key %s", quoteKey(key))
			case c > 0:
				sorted = false
			}
		}
		if j = s.ws(k); j >= len(s.src) {
			return 0, s.short()
		}
		if s.src[j] != ':' {
			return 0, s.errAt(j, "invalid character %s after object key", quoteByte(s.src[j]))
		}
		rec.oStart = len(s.out)
		s.out = appendEscapedString(s.out, key)
		s.out = append(s.out, ':')
		if j, err = s.memValue(s.ws(j+1), depth+1); err != nil {
			return 0, err
		}
		rec.oEnd = len(s.out)
		s.recs = append(s.recs, rec)
		if j = s.ws(j); j >= len(s.src) {
			return 0, s.short()
		}
		if c := s.src[j]; c == '}' {
			break
		} else if c != ',' {
			return 0, s.errAt(j, "invalid character %s after object member", quoteByte(c))
		}
		s.out = append(s.out, ',')
		if j = s.ws(j + 1); j >= len(s.src) {
			return 0, s.short()
		}
	}
	s.out = append(s.out, '}')
	if !sorted {
		if err := s.reorder(objStart, s.recs[recBase:]); err != nil {
			return 0, err
		}
	}
	s.recs, s.arena = s.recs[:recBase], s.arena[:arenaBase]
	return j + 1, nil
}

// reorder rewrites the object at out[objStart:] with its members in key
// order.
func (s *rawState) reorder(objStart int, recs []memberRec) error {
	key := func(m memberRec) []byte { return s.arena[m.kStart:m.kEnd] }
	slices.SortFunc(recs, s.compareKeys)
	for i := 1; i < len(recs); i++ {
		if bytes.Equal(key(recs[i-1]), key(recs[i])) {
			return &SyntaxError{max(recs[i-1].keyOff, recs[i].keyOff), fmt.Sprintf("duplicate object key %s", quoteKey(key(recs[i])))}
		}
	}
	body := objStart + 1
	s.scratch = append(s.scratch[:0], s.out[body:len(s.out)-1]...)
	p := body
	for i, m := range recs {
		if i > 0 {
			s.out[p] = ','
			p++
		}
		p += copy(s.out[p:], s.scratch[m.oStart-body:m.oEnd-body])
	}
	return nil
}

// compareKeys orders members by key as compareUTF16 does, deciding from
// the keys' first 8 bytes where it can.
func (s *rawState) compareKeys(a, b memberRec) int {
	if d := a.prefix ^ b.prefix; d != 0 {
		// The first differing byte decides if both are ASCII (a zero pad
		// byte stands for "shorter", which sorts first too).
		sh := 56 - bits.LeadingZeros64(d)&^7
		if ca, cb := byte(a.prefix>>sh), byte(b.prefix>>sh); ca < 0x80 && cb < 0x80 {
			return cmp.Compare(ca, cb)
		}
	}
	return compareUTF16(s.arena[a.kStart:a.kEnd], s.arena[b.kStart:b.kEnd])
}

func keyPrefix(k []byte) uint64 {
	var p [8]byte
	copy(p[:], k)
	return binary.BigEndian.Uint64(p[:])
}
