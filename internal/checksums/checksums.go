// Package checksums reads and writes checksums.txt (docs/format.md#checksums):
//
//	root sha256:<merkle root>
//	<sha256 hex>  <path>
//	...
//
// Every line after the first is in `sha256sum` text format, so in an
// extracted bundle `tail -n +2 checksums.txt | sha256sum -c -` checks every
// file. Paths are sorted byte-wise and unique; the root is the RFC 6962
// Merkle Tree Hash of those lines without their LF (package merkle).
package checksums

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/merkle"
	"github.com/stella-ops/stella-export/internal/safepath"
)

// MaxSize bounds how much of a checksums.txt Parse reads (256 MiB: several
// million entries).
const MaxSize = 256 << 20

// rootLineSize is the length of line 1 with its LF.
const rootLineSize = len("root sha256:") + 64 + 1

// SizeFor is the largest checksums.txt that can list at most entries files
// whose paths total at most nameBytes bytes: a reader that refuses more
// entries or name bytes than that need not read a larger file.
func SizeFor(entries int, nameBytes int64) int64 {
	return int64(rootLineSize) + int64(entries)*(64+2+1) + nameBytes
}

// Entry is one file line.
type Entry struct {
	Path   string
	Digest digest.SHA256
}

// Line is the entry's line without LF: the Merkle leaf.
func (e Entry) Line() string { return e.Digest.Hex() + "  " + e.Path }

// File is a parsed or built checksums.txt.
type File struct {
	Root    digest.SHA256
	Entries []Entry
}

// Build sorts nothing: entries must already be in byte-wise path order
// without duplicates, and every path must be safe.
func Build(entries []Entry) (*File, error) {
	var b merkle.Builder
	for i, e := range entries {
		if err := safepath.Check(e.Path, false); err != nil {
			return nil, err
		}
		if e.Path == layout.Checksums {
			return nil, exitcode.Invalidf("%s cannot list itself", layout.Checksums)
		}
		if i > 0 && entries[i-1].Path >= e.Path {
			return nil, fmt.Errorf("entries out of order or duplicated at %q", e.Path)
		}
		b.Add([]byte(e.Line()))
	}
	return &File{Root: b.Root(), Entries: entries}, nil
}

// Bytes is the file's exact content.
func (f *File) Bytes() []byte {
	b, _ := io.ReadAll(f.Reader())
	return b
}

// Size is the length of Bytes without building it.
func (f *File) Size() int64 {
	n := int64(len("root ") + len(f.Root.String()) + 1)
	for _, e := range f.Entries {
		n += int64(2*len(e.Digest)+2+len(e.Path)) + 1
	}
	return n
}

// Reader returns the file's content line by line, so that a bundle of a
// million files never holds its checksums.txt as one buffer.
func (f *File) Reader() io.Reader {
	return &lineReader{f: f, next: -1}
}

type lineReader struct {
	f    *File
	next int    // entry index of the next line; -1 is the root line
	line []byte // the current line
	off  int    // bytes of line already read
}

func (r *lineReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.off == len(r.line) {
			switch {
			case r.next == -1:
				r.line = append(r.line[:0], "root "+r.f.Root.String()+"\n"...)
			case r.next < len(r.f.Entries):
				e := r.f.Entries[r.next]
				r.line = hex.AppendEncode(r.line[:0], e.Digest[:])
				r.line = append(r.line, "  "...)
				r.line = append(r.line, e.Path...)
				r.line = append(r.line, '\n')
			default:
				if n == 0 {
					return 0, io.EOF
				}
				return n, nil
			}
			r.next++
			r.off = 0
		}
		c := copy(p[n:], r.line[r.off:])
		r.off += c
		n += c
	}
	return n, nil
}

// Leaves returns the leaf hashes of the entries in order.
func (f *File) Leaves() []digest.SHA256 {
	l := make([]digest.SHA256, len(f.Entries))
	for i, e := range f.Entries {
		l[i] = merkle.LeafHash([]byte(e.Line()))
	}
	return l
}

// Index returns the position of path, or -1.
func (f *File) Index(path string) int {
	lo, hi := 0, len(f.Entries)
	for lo < hi {
		m := (lo + hi) / 2
		switch c := strings.Compare(f.Entries[m].Path, path); {
		case c == 0:
			return m
		case c < 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return -1
}

// ErrMalformed is wrapped by every *ParseError.
var ErrMalformed = errors.New("malformed checksums.txt")

// ParseError names the line that breaks docs/format.md#checksums.
type ParseError struct {
	Line   int // 1-based; 0 for the whole file
	Reason string
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return e.Reason
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}

func (e *ParseError) Unwrap() []error { return []error{ErrMalformed, exitcode.ErrInvalid} }

// RootMismatchError says the root on line 1 is not the root of the lines.
type RootMismatchError struct {
	Stated, Computed digest.SHA256
}

func (e *RootMismatchError) Error() string {
	return fmt.Sprintf("line 1 states root %s but the listed lines give %s", e.Stated, e.Computed)
}

func (e *RootMismatchError) Unwrap() error { return exitcode.ErrVerify }

// Parse reads a checksums.txt strictly: the format of every line, sorted
// unique safe paths, LF endings with a final LF, at most MaxSize bytes, and a
// root on line 1 that equals the Merkle root of the other lines (else
// *RootMismatchError).
func Parse(r io.Reader) (*File, error) { return ParseLimit(r, MaxSize) }

// ParseLimit is Parse with another size bound. Memory is the paths' bytes
// plus about 50 bytes per entry: lines are read into one reused buffer and
// the paths packed into shared blocks.
func ParseLimit(r io.Reader, limit int64) (*File, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, limit+1), 64<<10)
	var (
		f     File
		total int64
		b     merkle.Builder
		n     int
		paths arena
		buf   []byte
	)
	for {
		buf = buf[:0]
		var err error
		for {
			var chunk []byte
			chunk, err = br.ReadSlice('\n')
			buf = append(buf, chunk...)
			if err != bufio.ErrBufferFull {
				break
			}
			if total+int64(len(buf)) > limit {
				break
			}
		}
		line := buf
		total += int64(len(line))
		if total > limit {
			return nil, &ParseError{Reason: fmt.Sprintf("larger than %d bytes", limit)}
		}
		if err == io.EOF {
			if len(line) > 0 {
				return nil, &ParseError{Line: n + 1, Reason: "no final LF"}
			}
			break
		}
		if err != nil && err != bufio.ErrBufferFull {
			return nil, err
		}
		n++
		line = line[:len(line)-1]
		if bytes.HasSuffix(line, []byte("\r")) {
			return nil, &ParseError{Line: n, Reason: "CRLF line end (want LF)"}
		}
		if n == 1 {
			rest, ok := strings.CutPrefix(string(line), "root ")
			if !ok {
				return nil, &ParseError{Line: 1, Reason: fmt.Sprintf("%q is not \"root sha256:<hex>\"", clip(string(line)))}
			}
			h, err := digest.Parse(rest)
			if err != nil {
				return nil, &ParseError{Line: 1, Reason: fmt.Sprintf("%q is not \"root sha256:<64 lowercase hex>\"", clip(string(line)))}
			}
			f.Root = h
			continue
		}
		e, perr := parseLine(line, &paths)
		if perr != "" {
			return nil, &ParseError{Line: n, Reason: perr}
		}
		if k := len(f.Entries); k > 0 && f.Entries[k-1].Path >= e.Path {
			if f.Entries[k-1].Path == e.Path {
				return nil, &ParseError{Line: n, Reason: fmt.Sprintf("duplicate path %q", clip(e.Path))}
			}
			return nil, &ParseError{Line: n, Reason: fmt.Sprintf("path %q is not in byte-wise order", clip(e.Path))}
		}
		f.Entries = append(f.Entries, e)
		b.Add(line)
	}
	if n == 0 {
		return nil, &ParseError{Reason: "empty file"}
	}
	if got := b.Root(); got != f.Root {
		return &f, &RootMismatchError{Stated: f.Root, Computed: got}
	}
	return &f, nil
}

func parseLine(line []byte, paths *arena) (Entry, string) {
	var e Entry
	if len(line) == 0 {
		return e, "blank line"
	}
	if len(line) < 67 || string(line[64:66]) != "  " {
		return e, fmt.Sprintf("%q is not \"<64 hex>  <path>\"", clip(string(line)))
	}
	hx := line[:64]
	if !isLowerHex(hx) {
		return e, "digest is not lowercase hex"
	}
	if _, err := hex.Decode(e.Digest[:], hx); err != nil {
		return e, "digest is not lowercase hex"
	}
	p := line[66:]
	if err := safepath.Check(string(p), false); err != nil {
		return e, err.Error()
	}
	if string(p) == layout.Checksums {
		return e, layout.Checksums + " lists itself"
	}
	e.Path = paths.add(p)
	return e, ""
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// arena packs strings into shared blocks, so that a million short paths
// cost their bytes and not a million allocations. strings.Builder never
// changes bytes it has handed out, so each string stays valid while the
// block grows.
type arena struct{ b strings.Builder }

const arenaBlock = 1 << 20

func (a *arena) add(p []byte) string {
	if a.b.Cap()-a.b.Len() < len(p) {
		a.b = strings.Builder{}
		a.b.Grow(max(arenaBlock, len(p)))
	}
	start := a.b.Len()
	a.b.Write(p)
	return a.b.String()[start:]
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
