package canonjson

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// MaxRawDepth is the deepest nesting of arrays and objects Raw accepts.
const MaxRawDepth = 1000

// rawInMemory is the largest value, in bytes, that Raw canonicalises in
// memory; larger values are streamed. A variable so that tests can force
// the streaming path on small documents.
var rawInMemory = 4 << 20

const (
	rawMinInMemory = 64       // smaller limits would split literals
	rawFlush       = 64 << 10 // output is written in pieces of about this size
	rawMinRead     = 4 << 10  // smallest read from the source
)

// SyntaxError says where and why a document is not acceptable JSON.
type SyntaxError struct {
	Offset int64 // byte offset in the document
	Reason string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("byte %d: %s", e.Offset, e.Reason) }

// Unwrap classifies every syntax error as invalid input (exit 3).
func (e *SyntaxError) Unwrap() error { return exitcode.ErrInvalid }

// errIncomplete: a value runs past the end of an in-memory buffer that
// the document continues beyond; the caller streams it instead.
var errIncomplete = errors.New("canonjson: value continues past the buffer")

// errShort: a string ends inside the buffer's last escape or character.
var errShort = errors.New("canonjson: string continues past the buffer")

// Raw writes the canonical form of the JSON value in r[0:size] to w,
// without a trailing LF, and returns the number of bytes written.
//
// The canonical form changes no value: object keys are sorted by UTF-16
// code units and strings are escaped as RFC 8785 section 3.2 requires,
// literals are true, false and null, no whitespace is written, and every
// number is copied byte for byte as its source token (1.0, 1e5 and
// 12345678901234567890 stay as they are, where RFC 8785 would rewrite them).
// For documents whose numbers are already in ECMAScript shortest form
// (integers up to 2^53, for one) the output is RFC 8785 output. The input
// must be one JSON text (RFC 8259) in UTF-8, optionally surrounded by
// whitespace; duplicate object keys, unpaired surrogate escapes, nesting
// deeper than MaxRawDepth and data after the value give a *SyntaxError.
//
// Memory is bounded by nesting depth and the member count of the largest
// object, not by size: values up to 4 MiB are canonicalised in memory;
// larger objects are indexed in one pass (key and byte span of each member)
// and their members read back in key order; larger arrays and strings are
// streamed. A 500 MiB SBOM whose bulk is one components array is read about
// twice and needs about 20 MiB. Each level of nested large objects adds one
// more read of its span. When streaming, object keys and numbers longer than
// 4 MiB are refused.
//
// On error w may have received part of the output: write to a temporary
// file and discard it.
func Raw(w io.Writer, r io.ReaderAt, size int64) (int64, error) {
	s := rawPool.Get().(*rawState)
	s.reset(w, r, size)
	err := s.run()
	if err == nil {
		err = s.flush()
	}
	n := s.written
	s.reset(nil, nil, 0)
	rawPool.Put(s)
	return n, err
}

// RawBytes returns the canonical form of the JSON value in b, as Raw
// writes it.
func RawBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(b))
	if _, err := Raw(&buf, bytes.NewReader(b), int64(len(b))); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var rawPool = sync.Pool{New: func() any { return new(rawState) }}

// rawState is one Raw call. Its buffers are kept in rawPool between calls.
type rawState struct {
	w       io.Writer
	r       io.ReaderAt
	size    int64
	limit   int // largest value canonicalised in memory
	written int64

	win    []byte // bytes [winOff, winOff+len(win)) of the document
	winOff int64

	out     []byte      // output not yet written to w
	recs    []memberRec // members of the objects being canonicalised in memory
	arena   []byte      // their decoded keys
	scratch []byte      // for reordering members

	// the in-memory buffer being canonicalised
	src   []byte
	base  int64 // offset of src[0] in the document
	final bool  // src ends where the value must end
}

// memberRec is one member of an object canonicalised in memory.
type memberRec struct {
	prefix       uint64 // the key's first 8 bytes, big-endian, zero-padded
	keyOff       int64  // offset of the key in the document, for errors
	kStart, kEnd int    // decoded key in arena
	oStart, oEnd int    // `"key":value` in out
}

func (s *rawState) reset(w io.Writer, r io.ReaderAt, size int64) {
	s.w, s.r, s.size, s.written = w, r, size, 0
	s.limit = max(rawInMemory, rawMinInMemory)
	s.win, s.winOff = s.win[:0], 0
	s.out, s.recs, s.arena, s.src = s.out[:0], s.recs[:0], s.arena[:0], nil
}

func (s *rawState) run() error {
	pos, err := s.skipWS(0)
	if err != nil {
		return err
	}
	if pos == s.size {
		return &SyntaxError{pos, "unexpected end of input: no JSON value"}
	}
	end, err := s.value(pos, 0)
	if err != nil {
		return err
	}
	pos, err = s.skipWS(end)
	if err != nil {
		return err
	}
	if pos != s.size {
		b, err := s.chunk(pos, 1, false)
		if err != nil {
			return err
		}
		return &SyntaxError{pos, fmt.Sprintf("trailing data after JSON value (%s)", quoteByte(b[0]))}
	}
	return nil
}

func (s *rawState) flush() error {
	if len(s.out) == 0 {
		return nil
	}
	n, err := s.w.Write(s.out)
	s.written += int64(n)
	s.out = s.out[:0]
	return err
}

func (s *rawState) maybeFlush() error {
	if len(s.out) < rawFlush {
		return nil
	}
	return s.flush()
}

// chunk returns the document from off on: at least n bytes unless the
// document ends sooner, often more. The slice is valid until the next call.
// Sequential readers set ahead to read the window's capacity at once.
func (s *rawState) chunk(off int64, n int, ahead bool) ([]byte, error) {
	if rem := s.size - off; int64(n) > rem {
		n = int(rem)
	}
	end := s.winOff + int64(len(s.win))
	if off >= s.winOff && off+int64(n) <= end {
		return s.win[off-s.winOff:], nil
	}
	want := max(n, rawMinRead)
	if ahead {
		want = max(n, 2*s.limit)
	}
	want = int(min(int64(want), s.size-off))
	keep := 0
	if off >= s.winOff && off < end {
		keep = copy(s.win[:cap(s.win)], s.win[off-s.winOff:])
	}
	if want > cap(s.win) {
		grown := make([]byte, want, max(want, int(min(int64(2*s.limit), s.size))))
		copy(grown, s.win[:keep])
		s.win = grown
	}
	s.win, s.winOff = s.win[:want], off
	if keep < want {
		got, err := s.r.ReadAt(s.win[keep:], off+int64(keep))
		if got < want-keep {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			s.win = s.win[:0]
			return nil, fmt.Errorf("read at byte %d: %w", off+int64(keep+got), err)
		}
	}
	return s.win, nil
}

func (s *rawState) byteAt(off int64) (byte, error) {
	if off >= s.size {
		return 0, &SyntaxError{s.size, "unexpected end of input"}
	}
	b, err := s.chunk(off, 1, true)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (s *rawState) skipWS(off int64) (int64, error) {
	for off < s.size {
		b, err := s.chunk(off, 1, true)
		if err != nil {
			return 0, err
		}
		i := 0
		for i < len(b) && isWS(b[i]) {
			i++
		}
		off += int64(i)
		if i < len(b) {
			break
		}
	}
	return off, nil
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

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

var scalarByte, stringStop, plainByte, structural [256]bool

func init() {
	for c := 0; c < 256; c++ {
		scalarByte[c] = c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '+' || c == '-' || c == '.'
		stringStop[c] = c == '"' || c == '\\'
		plainByte[c] = c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
		structural[c] = c == '"' || c == '{' || c == '[' || c == '}' || c == ']'
	}
}

// SWAR constants: test eight bytes at once.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// zeroBytes has the high bit set in (at least) the lowest byte of x that
// is zero; bytes above it may be false positives.
func zeroBytes(x uint64) uint64 { return (x - ones) & ^x & highs }

// plainRun returns the length of the prefix of b that a string copies as
// it is: ASCII from 0x20 on, except '"' and '\\'.
func plainRun(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		m := (x-0x20*ones)&^x&highs | zeroBytes(x^'"'*ones) | zeroBytes(x^'\\'*ones) | x&highs
		if m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(b) && plainByte[b[i]] {
		i++
	}
	return i
}

// quoteRun returns the length of the prefix of b without '"' or '\\'.
func quoteRun(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if m := zeroBytes(x^'"'*ones) | zeroBytes(x^'\\'*ones); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(b) && !stringStop[b[i]] {
		i++
	}
	return i
}

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

// appendStringBody reads the JSON string whose contents start at src[i]
// (after the opening quote) and appends it to dst: canonically escaped and
// with the closing quote when escape is set, decoded otherwise. It returns
// the index after the closing quote. When src ends first and final is not
// set, it returns errShort and the index of the first byte not consumed.
// Other errors are *SyntaxError with offsets relative to src.
func appendStringBody(dst, src []byte, i int, escape, final bool) ([]byte, int, error) {
	for {
		start := i
		i += plainRun(src[i:])
		dst = append(dst, src[start:i]...)
		if i >= len(src) {
			if !final {
				return dst, i, errShort
			}
			return dst, i, &SyntaxError{int64(i), "unexpected end of input in string"}
		}
		switch c := src[i]; {
		case c == '"':
			if escape {
				dst = append(dst, '"')
			}
			return dst, i + 1, nil
		case c == '\\':
			r, n, err := decodeEscape(src[i:], final)
			if err == errShort {
				return dst, i, err
			}
			if err != nil {
				return dst, i, rebase(err, int64(i))
			}
			if escape {
				dst = appendEscapedRune(dst, r)
			} else {
				dst = utf8.AppendRune(dst, r)
			}
			i += n
		case c < 0x20:
			return dst, i, &SyntaxError{int64(i), fmt.Sprintf("control character %s in string", quoteByte(c))}
		default:
			if !utf8.FullRune(src[i:]) {
				if !final {
					return dst, i, errShort
				}
				return dst, i, &SyntaxError{int64(i), "invalid UTF-8 in string"}
			}
			r, n := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && n == 1 {
				return dst, i, &SyntaxError{int64(i), "invalid UTF-8 in string"}
			}
			dst = append(dst, src[i:i+n]...)
			i += n
		}
	}
}

// decodeEscape decodes the escape sequence at b[0] ('\\').
func decodeEscape(b []byte, final bool) (rune, int, error) {
	if len(b) < 2 {
		if !final {
			return 0, 0, errShort
		}
		return 0, 0, &SyntaxError{0, "unexpected end of input in string"}
	}
	switch b[1] {
	case '"', '\\', '/':
		return rune(b[1]), 2, nil
	case 'b':
		return '\b', 2, nil
	case 'f':
		return '\f', 2, nil
	case 'n':
		return '\n', 2, nil
	case 'r':
		return '\r', 2, nil
	case 't':
		return '\t', 2, nil
	case 'u':
	default:
		return 0, 0, &SyntaxError{0, fmt.Sprintf("invalid escape \\%s in string", string(rune(b[1])))}
	}
	if len(b) < 6 && !final {
		return 0, 0, errShort
	}
	r := hex4(b[2:])
	if r < 0 {
		return 0, 0, &SyntaxError{0, "invalid \\u escape in string"}
	}
	if !utf16.IsSurrogate(r) {
		return r, 6, nil
	}
	if r >= 0xDC00 {
		return 0, 0, &SyntaxError{0, fmt.Sprintf("unpaired surrogate \\u%04x in string", r)}
	}
	if len(b) < 12 && !final {
		return 0, 0, errShort
	}
	if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
		if r2 := hex4(b[8:]); r2 >= 0xDC00 && r2 <= 0xDFFF {
			return utf16.DecodeRune(r, r2), 12, nil
		}
	}
	return 0, 0, &SyntaxError{0, fmt.Sprintf("unpaired surrogate \\u%04x in string", r)}
}

func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(v)
	}
	return r
}

const lowerHex = "0123456789abcdef"

// appendEscapedRune appends r as RFC 8785 section 3.2.2.2 serialises it
// inside a string.
func appendEscapedRune(dst []byte, r rune) []byte {
	switch r {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	if r < 0x20 {
		return append(dst, '\\', 'u', '0', '0', lowerHex[r>>4], lowerHex[r&0xf])
	}
	return utf8.AppendRune(dst, r)
}

// appendEscapedString appends the valid UTF-8 string s, quoted and
// escaped as RFC 8785 requires.
func appendEscapedString(dst, s []byte) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		start := i
		for i < len(s) && (plainByte[s[i]] || s[i] >= 0x80) {
			i++
		}
		dst = append(dst, s[start:i]...)
		if i < len(s) {
			dst = appendEscapedRune(dst, rune(s[i]))
			i++
		}
	}
	return append(dst, '"')
}

// compareUTF16 orders two valid UTF-8 strings by their UTF-16 code units,
// as RFC 8785 section 3.2.3 sorts object keys.
func compareUTF16[S ~string | ~[]byte](a, b S) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		return cmp.Compare(len(a), len(b))
	}
	for i > 0 && a[i]&0xc0 == 0x80 {
		i--
	}
	return cmp.Compare(utf16Rank(runeAt(a, i)), utf16Rank(runeAt(b, i)))
}

// utf16Rank maps code points to an order that agrees with comparing their
// UTF-16 encodings: supplementary characters (surrogate pairs, 0xD800...)
// sort between U+D7FF and U+E000.
func utf16Rank(r rune) rune {
	switch {
	case r < 0xd800:
		return r
	case r >= 0x10000:
		return 0xd800 + (r - 0x10000)
	default:
		return r + 0x100000
	}
}

// runeAt decodes the rune starting at s[i] of valid UTF-8.
func runeAt[S ~string | ~[]byte](s S, i int) rune {
	c := rune(s[i])
	switch {
	case c < 0x80:
		return c
	case c < 0xe0:
		return (c&0x1f)<<6 | rune(s[i+1]&0x3f)
	case c < 0xf0:
		return (c&0x0f)<<12 | rune(s[i+1]&0x3f)<<6 | rune(s[i+2]&0x3f)
	default:
		return (c&0x07)<<18 | rune(s[i+1]&0x3f)<<12 | rune(s[i+2]&0x3f)<<6 | rune(s[i+3]&0x3f)
	}
}

func rebase(err error, by int64) error {
	if se, ok := err.(*SyntaxError); ok {
		se.Offset += by
	}
	return err
}

func depthError(off int64) error {
	return &SyntaxError{off, fmt.Sprintf("nesting deeper than %d levels", MaxRawDepth)}
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func quoteKey(k []byte) string {
	if len(k) > 80 {
		return strconv.Quote(string(k[:80])) + "..."
	}
	return strconv.Quote(string(k))
}
