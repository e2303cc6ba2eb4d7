package javadb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"strings"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/extsort"
)

// ConflictError is one SHA-1 given for two different artefacts (exit 3):
// the first line that gave it and the first line that gave it otherwise.
type ConflictError struct {
	SHA1          [20]byte
	First, Second Entry
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: sha1 %x: %s here, %s at %s", e.Second.Pos, e.SHA1, e.Second.Record, e.First.Record, e.First.Pos)
}

func (e *ConflictError) Unwrap() error { return exitcode.ErrInvalid }

// Collector gathers the entries of every index file and hands them to
// Write in order. Memory stays under its budget; beyond it records spill
// to disk (internal/extsort).
//
// The same SHA-1 given twice with the same coordinates and archive type
// (an index listing one file twice, or two index files overlapping) is
// stored once, from its first line; Duplicates counts the others. The
// same SHA-1 with different coordinates is a *ConflictError; with
// OnConflict nil, Records returns the first one (in SHA-1 order).
// Otherwise OnConflict gets each (for --skip-invalid: record it and return
// nil to go on) and every record of that SHA-1 is left out, since neither
// can be trusted.
type Collector struct {
	// OnConflict, when set, receives conflicts instead of Records failing.
	OnConflict func(*ConflictError) error

	ctx    context.Context
	dir    string
	budget int64
	bySHA  *extsort.Sorter

	// Duplicates is the number of entries dropped as repeats of an
	// identical earlier one; Conflicts the number of SHA-1s left out
	// through OnConflict. Both are set by Records.
	Duplicates int
	Conflicts  int
}

// NewCollector returns a collector holding at most about budget bytes of
// records in memory, spilling below dir ("" for the system's temporary
// directory); ctx's partial set removes the spill files on a forced exit.
func NewCollector(ctx context.Context, dir string, budget int64) *Collector {
	return &Collector{
		ctx: ctx, dir: dir, budget: budget,
		bySHA: extsort.New(dir, budget, compareSHA).Track(ctx),
	}
}

// Add takes one entry, as ParseIndex emits it. Entries are compared in
// the order they are added: add files in a fixed order (sorted paths) for
// a result that does not depend on the file system.
func (c *Collector) Add(e Entry) error {
	if field, reason := e.Validate(); field != "" {
		return &LineError{Pos: e.Pos, Field: field, Reason: reason}
	}
	if strings.IndexByte(e.Pos.File, 0) >= 0 {
		return fmt.Errorf("java index: file name %q has a NUL byte", e.Pos.File)
	}
	return c.bySHA.Add(encodeEntry(e))
}

// Len is the number of entries added.
func (c *Collector) Len() int { return c.bySHA.Len() }

// Records checks the SHA-1s and returns the records in Compare order, each
// SHA-1 once, ready for Write. Close the result when done with it.
func (c *Collector) Records(ctx context.Context) (*Records, error) {
	sorted, err := c.bySHA.Sort(ctx)
	if err != nil {
		return nil, fmt.Errorf("java index: %w", err)
	}
	defer sorted.Close()
	byCoord := extsort.New(c.dir, c.budget, compareCoord).Track(c.ctx)
	ok := false
	defer func() {
		if !ok {
			byCoord.Close()
		}
	}()

	// One SHA-1 at a time: its first entry and the first that differs.
	var first, second Entry
	have, conflict := false, false
	flush := func() error {
		if !have {
			return nil
		}
		if conflict {
			cerr := &ConflictError{SHA1: first.SHA1, First: first, Second: second}
			if c.OnConflict == nil {
				return cerr
			}
			c.Conflicts++
			return c.OnConflict(cerr)
		}
		return byCoord.Add(encodeRecord(first.Record))
	}
	n := 0
	for rec, err := range sorted.All() {
		if err != nil {
			return nil, fmt.Errorf("java index: %w", err)
		}
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return nil, exitcode.Cause(ctx, ctx.Err())
		}
		e, err := decodeEntry(rec)
		if err != nil {
			return nil, err
		}
		switch {
		case !have || e.SHA1 != first.SHA1:
			if err := flush(); err != nil {
				return nil, err
			}
			first, have, conflict = e, true, false
		case e.Record == first.Record:
			c.Duplicates++
		case !conflict:
			second, conflict = e, true
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	out, err := byCoord.Sort(ctx)
	if err != nil {
		return nil, fmt.Errorf("java index: %w", err)
	}
	ok = true
	return &Records{sorted: out}, nil
}

// Close removes the collector's spill files.
func (c *Collector) Close() error { return c.bySHA.Close() }

// Records is a collector's result.
type Records struct {
	sorted *extsort.Sorted
}

// Len is the number of records.
func (r *Records) Len() int { return r.sorted.Len() }

// All yields the records in Compare order; it can be passed to Write.
func (r *Records) All() iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for b, err := range r.sorted.All() {
			if err != nil {
				yield(Record{}, fmt.Errorf("java index: %w", err))
				return
			}
			rec, err := decodeRecord(b)
			if !yield(rec, err) || err != nil {
				return
			}
		}
	}
}

// Close removes the spill files.
func (r *Records) Close() error { return r.sorted.Close() }

// Encodings. Coordinates hold no NUL (Validate), so NUL separates them
// and byte order of encodeRecord is Compare order:
//
//	entry:  sha1[20] group \0 artifact \0 version \0 type \0 file \0 line(uvarint)
//	record: group \0 artifact \0 version \0 sha1[20] type
//
// compareSHA orders entries by SHA-1 alone; extsort is stable, so entries
// of one SHA-1 keep the order they were added in.

func encodeEntry(e Entry) []byte {
	b := make([]byte, 0, 20+len(e.GroupID)+len(e.ArtifactID)+len(e.Version)+len(e.ArchiveType)+len(e.Pos.File)+5+binary.MaxVarintLen64)
	b = append(b, e.SHA1[:]...)
	for _, s := range []string{e.GroupID, e.ArtifactID, e.Version, e.ArchiveType, e.Pos.File} {
		b = append(b, s...)
		b = append(b, 0)
	}
	return binary.AppendUvarint(b, uint64(e.Pos.Line))
}

var errCorrupt = errors.New("java index: spilled record corrupt")

func decodeEntry(b []byte) (Entry, error) {
	var e Entry
	if len(b) < 20 {
		return e, errCorrupt
	}
	copy(e.SHA1[:], b)
	b = b[20:]
	var parts [5]string
	for i := range parts {
		j := bytes.IndexByte(b, 0)
		if j < 0 {
			return e, errCorrupt
		}
		parts[i], b = string(b[:j]), b[j+1:]
	}
	line, n := binary.Uvarint(b)
	if n <= 0 || n != len(b) {
		return e, errCorrupt
	}
	e.GroupID, e.ArtifactID, e.Version, e.ArchiveType, e.Pos.File = parts[0], parts[1], parts[2], parts[3], parts[4]
	e.Pos.Line = int(line)
	return e, nil
}

func compareSHA(a, b []byte) int { return bytes.Compare(a[:20], b[:20]) }

func encodeRecord(r Record) []byte {
	b := make([]byte, 0, len(r.GroupID)+len(r.ArtifactID)+len(r.Version)+3+20+len(r.ArchiveType))
	for _, s := range []string{r.GroupID, r.ArtifactID, r.Version} {
		b = append(b, s...)
		b = append(b, 0)
	}
	b = append(b, r.SHA1[:]...)
	return append(b, r.ArchiveType...)
}

func decodeRecord(b []byte) (Record, error) {
	var r Record
	var parts [3]string
	for i := range parts {
		j := bytes.IndexByte(b, 0)
		if j < 0 {
			return r, errCorrupt
		}
		parts[i], b = string(b[:j]), b[j+1:]
	}
	if len(b) < 20 {
		return r, errCorrupt
	}
	copy(r.SHA1[:], b)
	r.GroupID, r.ArtifactID, r.Version, r.ArchiveType = parts[0], parts[1], parts[2], string(b[20:])
	return r, nil
}

func compareCoord(a, b []byte) int { return bytes.Compare(a, b) }
