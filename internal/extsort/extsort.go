// Package extsort sorts byte records that need not fit in memory: an
// external merge sort under a memory budget.
//
// Records are added one by one and kept in memory until they reach half
// the budget (record bytes plus a fixed per-record overhead); then they are
// sorted and written as one sorted run to a spill file, on a goroutine of
// its own while the next run fills the other half. Sort merges the
// runs (at most MaxFanIn at a time, with a heap) into one sorted file, or
// sorts in memory when nothing was spilled. The order is stable: records
// that compare equal come out in the order they were added, so the result
// does not depend on the budget.
//
// Spill files live in a private directory created on the first spill,
// .stella-export-spill-<pid>-<random> inside the directory the caller names
// (beside the output, so that the spill lands on the same file system).
// The sorter and its result remove their files on Close; with Track the
// directory is also in the command's internal/partial set, so a forced
// exit removes it; partial.CleanStale removes the directories of
// processes that no longer exist (killed with SIGKILL, or a machine that
// lost power).
//
// A spill file is a sequence of records, each a uvarint length and the
// record's bytes.
package extsort

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"

	"github.com/stella-ops/stella-export/internal/partial"
)

// RecordOverhead is what the budget counts per record beyond its bytes (the
// slice header that indexes it and the sort's bookkeeping).
const RecordOverhead = 32

// MaxFanIn is the number of runs merged at a time; more runs merge in
// several passes.
const MaxFanIn = 64

// MaxRecord is the largest record a spill file may hold.
const MaxRecord = 1 << 30

// DirPrefix starts the name of every spill directory (followed by the
// process id; internal/partial.CleanStale removes those of dead processes).
const DirPrefix = partial.DirPrefix + "spill-"

// chunkSize is the size of the arena blocks records are copied into.
const chunkSize = 1 << 20

// Sorter collects records and sorts them. It is not safe for concurrent
// use.
type Sorter struct {
	parent string
	budget int64
	less   func(a, b []byte) int

	recs   []entry  // the current in-memory run
	chunks [][]byte // arena blocks; the last one is being filled
	used   int64
	n      int

	ctx     context.Context // for Track
	dir     string          // spill directory, "" until the first spill
	untrack func()
	runs    []string
	seq     int
	sorted  bool
	closed  bool

	// A full run is sorted and written on a goroutine of its own while
	// the next one fills (one at a time): each holds at most half the
	// budget. pending delivers its result; spare is the arena it used,
	// for the run after next.
	pending chan spillResult
	spare   *arena
}

type spillResult struct {
	name  string
	err   error
	arena *arena
}

// arena is the memory of one in-memory run.
type arena struct {
	recs   []entry
	chunks [][]byte
}

// New returns a sorter that orders records with less (negative when a
// sorts first) under budget bytes of memory, spilling to a directory it
// creates inside dir ("" means os.TempDir()). Every run holds at least one
// record, so a tiny budget makes many runs, not an error; callers that take
// the budget from a user set a sensible minimum.
func New(dir string, budget int64, less func(a, b []byte) int) *Sorter {
	if dir == "" {
		dir = os.TempDir()
	}
	return &Sorter{parent: dir, budget: max(budget, 1), less: less}
}

// MkdirSpill creates a new spill directory in parent ("" means
// os.TempDir()), named as the sorter's are (DirPrefix, the process id,
// random), so that partial.CleanStale removes it if the process dies. Other
// temporary files of a run that may grow large live in one.
func MkdirSpill(parent string) (string, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	d, err := os.MkdirTemp(parent, partial.DirPattern("spill"))
	if err != nil {
		return "", fmt.Errorf("create spill directory: %w", err)
	}
	return d, nil
}

// Track registers the spill directory, once created, in ctx's partial set
// (internal/partial), so that a forced exit removes it. It returns s.
func (s *Sorter) Track(ctx context.Context) *Sorter {
	s.ctx = ctx
	if s.dir != "" && s.untrack == nil {
		s.untrack = partial.Track(ctx, s.dir)
	}
	return s
}

// Len is the number of records added.
func (s *Sorter) Len() int { return s.n }

// Add copies rec into the sorter, spilling a sorted run when the budget is
// reached.
func (s *Sorter) Add(rec []byte) error {
	if s.sorted || s.closed {
		return errors.New("extsort: add after sort or close")
	}
	if len(rec) > MaxRecord {
		return fmt.Errorf("extsort: record of %d bytes, larger than %d", len(rec), MaxRecord)
	}
	cost := int64(len(rec)) + RecordOverhead
	if len(s.recs) > 0 && s.used+cost > s.budget/2 {
		if err := s.spillAsync(); err != nil {
			return err
		}
	}
	s.recs = append(s.recs, entry{s.copy(rec), s.n})
	s.used += cost
	s.n++
	return nil
}

// copy puts rec into the arena.
func (s *Sorter) copy(rec []byte) []byte {
	if len(rec) > chunkSize/4 {
		return append([]byte(nil), rec...)
	}
	last := len(s.chunks) - 1
	if last < 0 || cap(s.chunks[last])-len(s.chunks[last]) < len(rec) {
		size := min(int64(chunkSize), max(s.budget/4, 256))
		s.chunks = append(s.chunks, make([]byte, 0, max(size, int64(len(rec)))))
		last++
	}
	c := s.chunks[last]
	c = append(c, rec...)
	s.chunks[last] = c
	return c[len(c)-len(rec) : len(c) : len(c)]
}

// reset empties the in-memory run, keeping the arena for the next one.
func (s *Sorter) reset() {
	clear(s.recs)
	s.recs = s.recs[:0]
	if len(s.chunks) > 0 {
		// Keep one block: the next run refills it.
		keep := s.chunks[0][:0]
		clear(s.chunks)
		s.chunks = append(s.chunks[:0], keep)
	}
	s.used = 0
}

// entry is one record of the in-memory run and its position in the order
// records were added, which breaks ties.
type entry struct {
	rec []byte
	pos int
}

// sortMem sorts the in-memory run stably: records less finds equal keep
// the order they were added in. Breaking ties by position lets pdqsort do
// it, which moves entries far less than a stable merge sort does.
func (s *Sorter) sortMem() { sortEntries(s.recs, s.less) }

func sortEntries(recs []entry, less func(a, b []byte) int) {
	slices.SortFunc(recs, func(a, b entry) int {
		if c := less(a.rec, b.rec); c != 0 {
			return c
		}
		return a.pos - b.pos
	})
}

// spillDir creates the spill directory on first use.
func (s *Sorter) spillDir() (string, error) {
	if s.dir != "" {
		return s.dir, nil
	}
	d, err := MkdirSpill(s.parent)
	if err != nil {
		return "", err
	}
	s.dir = d
	if s.ctx != nil {
		s.untrack = partial.Track(s.ctx, d)
	}
	return d, nil
}

func (s *Sorter) newRun() (*os.File, error) {
	dir, err := s.spillDir()
	if err != nil {
		return nil, err
	}
	s.seq++
	name := filepath.Join(dir, fmt.Sprintf("run-%06d", s.seq))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create spill file: %w", err)
	}
	return f, nil
}

// wait waits for the run being spilled, if any, and takes its result.
func (s *Sorter) wait() error {
	if s.pending == nil {
		return nil
	}
	r := <-s.pending
	s.pending = nil
	s.spare = r.arena
	if r.err != nil {
		return r.err
	}
	s.runs = append(s.runs, r.name)
	return nil
}

// spillAsync hands the in-memory run to a goroutine that sorts it and
// writes it to a new run file, after the one before it is written, and
// starts the next run in the spare arena.
func (s *Sorter) spillAsync() error {
	if err := s.wait(); err != nil {
		return err
	}
	f, err := s.newRun()
	if err != nil {
		return err
	}
	full := &arena{recs: s.recs, chunks: s.chunks}
	next := s.spare
	if next == nil {
		next = &arena{}
	}
	s.spare = nil
	s.recs, s.chunks, s.used = next.recs[:0], next.chunks, 0
	if len(s.chunks) > 0 {
		s.chunks = append(s.chunks[:0], s.chunks[0][:0])
	}
	done := make(chan spillResult, 1)
	s.pending = done
	less, bufSize := s.less, s.bufSize()
	go func() {
		sortEntries(full.recs, less)
		w := newRunWriter(f, bufSize)
		for _, r := range full.recs {
			w.write(r.rec)
		}
		err := w.close()
		if err != nil {
			os.Remove(f.Name())
		}
		clear(full.recs)
		full.recs = full.recs[:0]
		done <- spillResult{name: f.Name(), err: err, arena: full}
	}()
	return nil
}

// spill writes the in-memory run, sorted, to a new run file.
func (s *Sorter) spill() error {
	if err := s.wait(); err != nil {
		return err
	}
	s.sortMem()
	f, err := s.newRun()
	if err != nil {
		return err
	}
	w := newRunWriter(f, s.bufSize())
	for _, r := range s.recs {
		w.write(r.rec)
	}
	if err := w.close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	s.runs = append(s.runs, f.Name())
	s.reset()
	return nil
}

// bufSize is the buffer of one run reader or writer: the merge holds
// MaxFanIn+1 of them within the budget.
func (s *Sorter) bufSize() int {
	return int(min(max(s.budget/(2*(MaxFanIn+1)), 4<<10), 256<<10))
}

// Sort finishes adding and returns the records in order. The sorter's
// spill directory (if any) passes to the result: close the result to
// remove it; closing the sorter as well is harmless.
func (s *Sorter) Sort(ctx context.Context) (*Sorted, error) {
	if s.sorted || s.closed {
		return nil, errors.New("extsort: sort after sort or close")
	}
	s.sorted = true
	if err := s.wait(); err != nil {
		return nil, err
	}
	if s.dir != "" && s.untrack == nil {
		s.untrack = partial.Track(ctx, s.dir)
	}
	if len(s.runs) == 0 {
		s.sortMem()
		out := &Sorted{n: s.n, mem: s.recs}
		s.recs, s.chunks = nil, nil
		return out, nil
	}
	if len(s.recs) > 0 {
		if err := s.spill(); err != nil {
			return nil, err
		}
	}
	s.recs, s.chunks = nil, nil
	for len(s.runs) > 1 {
		var next []string
		for i := 0; i < len(s.runs); i += MaxFanIn {
			group := s.runs[i:min(i+MaxFanIn, len(s.runs))]
			if len(group) == 1 {
				next = append(next, group[0])
				continue
			}
			name, err := s.merge(ctx, group)
			if err != nil {
				return nil, err
			}
			for _, r := range group {
				os.Remove(r)
			}
			next = append(next, name)
		}
		s.runs = next
	}
	out := &Sorted{n: s.n, file: s.runs[0], dir: s.dir, untrack: s.untrack, bufSize: s.bufSize()}
	s.dir, s.untrack, s.runs = "", nil, nil
	return out, nil
}

// merge merges the runs of group into a new run.
func (s *Sorter) merge(ctx context.Context, group []string) (string, error) {
	f, err := s.newRun()
	if err != nil {
		return "", err
	}
	w := newRunWriter(f, s.bufSize())
	h := &mergeHeap{less: s.less}
	defer func() {
		for _, r := range h.all {
			r.close()
		}
	}()
	for i, name := range group {
		r, err := openRun(name, s.bufSize())
		if err != nil {
			w.close()
			os.Remove(f.Name())
			return "", err
		}
		r.idx = i
		h.all = append(h.all, r)
		ok, err := r.next()
		if err != nil {
			w.close()
			os.Remove(f.Name())
			return "", err
		}
		if ok {
			h.push(r)
		}
	}
	for k := 0; len(h.items) > 0; k++ {
		if k%4096 == 0 && ctx.Err() != nil {
			w.close()
			os.Remove(f.Name())
			return "", context.Cause(ctx)
		}
		r := h.items[0]
		w.write(r.cur)
		ok, err := r.next()
		if err != nil {
			w.close()
			os.Remove(f.Name())
			return "", err
		}
		if ok {
			h.fix()
		} else {
			h.pop()
		}
	}
	if err := w.close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// Close removes every temporary file the sorter still owns (not those it
// handed to a Sorted). It is safe to call more than once.
func (s *Sorter) Close() error {
	s.closed = true
	s.wait()
	s.recs, s.chunks, s.spare = nil, nil, nil
	if s.dir == "" {
		return nil
	}
	err := os.RemoveAll(s.dir)
	if s.untrack != nil {
		s.untrack()
	}
	s.dir, s.untrack, s.runs = "", nil, nil
	if err != nil {
		return fmt.Errorf("remove spill directory: %w", err)
	}
	return nil
}

// Sorted is the sorted records, in memory or in one spill file. It can be
// iterated more than once, but not concurrently with Close.
type Sorted struct {
	n       int
	mem     []entry
	file    string
	dir     string
	untrack func()
	bufSize int
	closed  bool
}

// Len is the number of records.
func (r *Sorted) Len() int { return r.n }

// Spilled reports whether the records are in a file rather than memory.
func (r *Sorted) Spilled() bool { return r.file != "" }

// All yields the records in order. A record is valid only until the next
// step. An error (reading the spill file) ends the iteration: it is yielded
// once with a nil record.
func (r *Sorted) All() iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		if r.closed {
			yield(nil, errors.New("extsort: iteration after close"))
			return
		}
		if r.file == "" {
			for _, e := range r.mem {
				if !yield(e.rec, nil) {
					return
				}
			}
			return
		}
		rd, err := openRun(r.file, r.bufSize)
		if err != nil {
			yield(nil, err)
			return
		}
		defer rd.close()
		for k := 0; ; k++ {
			ok, err := rd.next()
			if err != nil {
				yield(nil, err)
				return
			}
			if !ok {
				if k != r.n {
					yield(nil, fmt.Errorf("read spill file %s: %d records, want %d", r.file, k, r.n))
				}
				return
			}
			if !yield(rd.cur, nil) {
				return
			}
		}
	}
}

// Close releases the records and removes the spill directory. It is safe
// to call more than once.
func (r *Sorted) Close() error {
	if r == nil || r.closed {
		return nil
	}
	r.closed = true
	r.mem = nil
	if r.dir == "" {
		return nil
	}
	err := os.RemoveAll(r.dir)
	if r.untrack != nil {
		r.untrack()
	}
	if err != nil {
		return fmt.Errorf("remove spill directory: %w", err)
	}
	return nil
}

// --- run files ---

type runWriter struct {
	f   *os.File
	bw  *bufio.Writer
	err error
	hdr [binary.MaxVarintLen64]byte
}

func newRunWriter(f *os.File, size int) *runWriter {
	return &runWriter{f: f, bw: bufio.NewWriterSize(f, size)}
}

func (w *runWriter) write(rec []byte) {
	if w.err != nil {
		return
	}
	n := binary.PutUvarint(w.hdr[:], uint64(len(rec)))
	if _, err := w.bw.Write(w.hdr[:n]); err != nil {
		w.err = err
		return
	}
	_, w.err = w.bw.Write(rec)
}

func (w *runWriter) close() error {
	err := w.err
	if err == nil {
		err = w.bw.Flush()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write spill file %s: %w", w.f.Name(), err)
	}
	return nil
}

type runReader struct {
	f   *os.File
	br  *bufio.Reader
	buf []byte
	cur []byte
	idx int // position in the merge group, for stability
}

func openRun(name string, size int) (*runReader, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read spill file: %w", err)
	}
	return &runReader{f: f, br: bufio.NewReaderSize(f, size)}, nil
}

// next reads the next record into cur; false at the end of the run.
func (r *runReader) next() (bool, error) {
	n, err := binary.ReadUvarint(r.br)
	if err == io.EOF {
		r.cur = nil
		return false, nil
	}
	if err != nil {
		return false, r.fail(err)
	}
	if n > MaxRecord {
		return false, r.fail(fmt.Errorf("record of %d bytes, larger than %d", n, MaxRecord))
	}
	if uint64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	if _, err := io.ReadFull(r.br, r.buf); err != nil {
		return false, r.fail(err)
	}
	r.cur = r.buf
	return true, nil
}

func (r *runReader) fail(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read spill file %s: %w", r.f.Name(), err)
}

func (r *runReader) close() { r.f.Close() }

// mergeHeap is a min-heap of run readers by their current record, ties
// broken by position so that the merge is stable.
type mergeHeap struct {
	less  func(a, b []byte) int
	items []*runReader
	all   []*runReader
}

func (h *mergeHeap) before(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if c := h.less(a.cur, b.cur); c != 0 {
		return c < 0
	}
	return a.idx < b.idx
}

func (h *mergeHeap) push(r *runReader) {
	h.items = append(h.items, r)
	for i := len(h.items) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.before(i, p) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *mergeHeap) pop() {
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items[last] = nil
	h.items = h.items[:last]
	h.fix()
}

// fix restores the heap after the top changed.
func (h *mergeHeap) fix() {
	n := len(h.items)
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.before(r, l) {
			m = r
		}
		if !h.before(m, i) {
			return
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
}
