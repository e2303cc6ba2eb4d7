package bundle

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/partial"
)

// sumFile holds the payload's lines of checksums.txt, "<hex>  <path>\n" in
// byte-wise path order, in a temporary file: the hashing pass writes it,
// the writing pass reads it back in step with the payload. On Unix the
// file loses its name as soon as it is created, so nothing is left behind
// whatever happens to the process.
type sumFile struct {
	f       *os.File
	w       *bufio.Writer
	size    int64
	n       int
	line    []byte
	closed  bool
	path    string // the name, when removing it at once failed
	untrack func()
}

func newSumFile(ctx context.Context, dir string) (*sumFile, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, ".stella-export-sums-*")
	if err != nil {
		return nil, fmt.Errorf("create temporary file: %w", err)
	}
	s := &sumFile{f: f, w: bufio.NewWriterSize(f, 256<<10), untrack: func() {}}
	if err := os.Remove(f.Name()); err != nil {
		s.path = f.Name()
		s.untrack = partial.Track(ctx, s.path)
	}
	return s, nil
}

// add appends the line of one payload file and returns it without its
// LF, valid until the next call.
func (s *sumFile) add(path string, d digest.SHA256) ([]byte, error) {
	s.line = hex.AppendEncode(s.line[:0], d[:])
	s.line = append(s.line, "  "...)
	s.line = append(s.line, path...)
	s.line = append(s.line, '\n')
	if _, err := s.w.Write(s.line); err != nil {
		return nil, fmt.Errorf("write temporary file: %w", err)
	}
	s.size += int64(len(s.line))
	s.n++
	return s.line[:len(s.line)-1], nil
}

func (s *sumFile) flush() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write temporary file: %w", err)
	}
	return nil
}

func (s *sumFile) close() {
	if s.closed {
		return
	}
	s.closed = true
	s.f.Close()
	if s.path != "" {
		os.Remove(s.path)
		s.untrack()
	}
}

// lines reads the lines back from the start.
func (s *sumFile) lines() *lineReader {
	return &lineReader{br: bufio.NewReaderSize(io.NewSectionReader(s.f, 0, s.size), 64<<10)}
}

// lineReader reads payload lines one at a time.
type lineReader struct {
	br  *bufio.Reader
	buf []byte
}

// next returns the next line with its LF, valid until the following call,
// or io.EOF.
func (r *lineReader) next() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.buf = append(r.buf[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = r.br.ReadSlice('\n')
			r.buf = append(r.buf, line...)
		}
		line = r.buf
	}
	if err == io.EOF && len(line) == 0 {
		return nil, io.EOF
	}
	if err != nil || len(line) < 68 || line[64] != ' ' || line[65] != ' ' {
		return nil, fmt.Errorf("read temporary file: malformed line %q (%v)", clip(line), err)
	}
	return line, nil
}

// linePath is the path of a line read by next.
func linePath(line []byte) []byte { return line[66 : len(line)-1] }

func lineDigest(line []byte) (digest.SHA256, error) {
	var d digest.SHA256
	if _, err := hex.Decode(d[:], line[:64]); err != nil {
		return d, fmt.Errorf("read temporary file: %w", err)
	}
	return d, nil
}

func clip(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "..."
	}
	return string(b)
}

// errEntriesGone is yielded by Summary.Entries once Write has returned.
var errEntriesGone = errors.New("the payload entries are only available while render runs")

// mergedLines yields the lines of checksums.txt after the root line, each
// with its LF: the payload lines of s merged by path with gen, the
// generated files (sorted, none of them a payload name).
type mergedLines struct {
	r    *lineReader
	gen  []checksums.Entry
	head []byte // next payload line; nil once they are all read
	eof  bool
	buf  []byte
}

func newMergedLines(s *sumFile, gen []checksums.Entry) *mergedLines {
	return &mergedLines{r: s.lines(), gen: gen}
}

func (m *mergedLines) next() ([]byte, error) {
	if m.head == nil && !m.eof {
		line, err := m.r.next()
		if err == io.EOF {
			m.eof = true
		} else if err != nil {
			return nil, err
		}
		m.head = line
	}
	if len(m.gen) > 0 && (m.head == nil || bytes.Compare([]byte(m.gen[0].Path), linePath(m.head)) < 0) {
		m.buf = append(append(m.buf[:0], m.gen[0].Line()...), '\n')
		m.gen = m.gen[1:]
		return m.buf, nil
	}
	if m.head == nil {
		return nil, io.EOF
	}
	line := m.head
	m.head = nil
	return line, nil
}

// sumsReader streams checksums.txt: the root line, then the merged lines.
type sumsReader struct {
	m    *mergedLines
	line []byte
	off  int
}

func (r *sumsReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.off == len(r.line) {
			line, err := r.m.next()
			if err != nil {
				if n > 0 && err == io.EOF {
					return n, nil
				}
				return n, err
			}
			r.line, r.off = line, 0
		}
		c := copy(p[n:], r.line[r.off:])
		r.off += c
		n += c
	}
	return n, nil
}
