package canonjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

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
