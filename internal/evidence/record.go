package evidence

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/extsort"
)

// DefaultMemoryBudget is the memory budget of document streams when none
// is given (--memory-budget).
const DefaultMemoryBudget = 128 << 20

// Spill says where document streams that outgrow their memory budget spill
// sorted runs (internal/extsort), and under what budget.
type Spill struct {
	// Dir is the directory the spill directory is created in: beside the
	// output, so that spill files land on its file system. Empty means
	// os.TempDir().
	Dir string
	// Budget is the memory, in bytes, the stream's records may hold; 0
	// means DefaultMemoryBudget.
	Budget int64
}

// budget returns the budget of one of parts sorters sharing s.
func (s Spill) budget(parts int64) int64 {
	b := s.Budget
	if b <= 0 {
		b = DefaultMemoryBudget
	}
	return b / parts
}

// A document record is the compact binary form of a Doc that document
// streams sort and spill:
//
//	type order (1 byte), tenant, subject, id, path   the key, in Less order
//	sha256 (32 raw bytes), size (varint)
//	time: 0, or 1 then Unix seconds (varint) and nanoseconds (uvarint)
//	format, ecosystems, products
//	canonical length (uvarint), and when not 0 its offset (uvarint)
//
// Strings are a uvarint length and the bytes; lists a uvarint count and
// their strings. CompareRecords orders records as Less orders documents.

// AppendRecord appends d's record to b.
func AppendRecord(b []byte, d *Doc) ([]byte, error) {
	o := d.Type.order()
	if o >= len(Types) {
		return b, fmt.Errorf("unknown document type %q", d.Type)
	}
	sum, err := digest.Parse(d.SHA256)
	if err != nil {
		return b, fmt.Errorf("%s: sha256: %w", d.Path, err)
	}
	b = append(b, byte(o))
	for _, s := range [...]string{d.Tenant, d.Subject, d.ID, d.Path} {
		b = appendString(b, s)
	}
	b = append(b, sum[:]...)
	b = binary.AppendVarint(b, d.Size)
	if d.Time.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, d.Time.Unix())
		b = binary.AppendUvarint(b, uint64(d.Time.Nanosecond()))
	}
	b = appendString(b, d.Format)
	for _, l := range [...][]string{d.Ecosystems, d.Products} {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, s := range l {
			b = appendString(b, s)
		}
	}
	b = binary.AppendUvarint(b, uint64(d.CanonLen))
	if d.CanonLen > 0 {
		b = binary.AppendUvarint(b, uint64(d.CanonOff))
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errRecord = errors.New("malformed document record")

// recReader reads the fields of a record.
type recReader struct {
	b   []byte
	err error
}

func (r *recReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errRecord
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *recReader) str() []byte { return r.bytes(r.uvarint()) }

// CompareRecords orders two document records as Less orders their
// documents (type, tenant, subject, id, path). A malformed record sorts
// last; decoding it reports the error.
func CompareRecords(a, b []byte) int {
	if len(a) == 0 || len(b) == 0 {
		return len(b) - len(a)
	}
	if c := int(a[0]) - int(b[0]); c != 0 {
		return c
	}
	ra, rb := recReader{b: a[1:]}, recReader{b: b[1:]}
	for range 4 {
		sa, sb := ra.str(), rb.str()
		if ra.err != nil || rb.err != nil {
			return boolInt(ra.err != nil) - boolInt(rb.err != nil)
		}
		if c := bytes.Compare(sa, sb); c != 0 {
			return c
		}
	}
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// decoder turns records into documents, sharing the strings that repeat
// (tenants, formats, ecosystems, products) between the documents it
// decodes.
type decoder struct {
	strs    map[string]string
	scratch []byte
}

const maxShared = 4096

func (dec *decoder) shared(b []byte) string {
	if s, ok := dec.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if dec.strs == nil {
		dec.strs = map[string]string{}
	}
	if len(dec.strs) < maxShared {
		dec.strs[s] = s
	}
	return s
}

// decode fills d from rec. The strings of d are its own (rec may be
// reused); so are its slices.
func (dec *decoder) decode(d *Doc, rec []byte) error {
	if len(rec) == 0 || int(rec[0]) >= len(Types) {
		return errRecord
	}
	r := recReader{b: rec[1:]}
	tenant := r.str()
	// Subject, id, path and digest share one allocation.
	s := dec.scratch[:0]
	var ends [3]int
	for i := range ends {
		s = append(s, r.str()...)
		ends[i] = len(s)
	}
	sum := r.bytes(digest.Size)
	if r.err != nil {
		return r.err
	}
	s = append(s, digest.Prefix...)
	s = hex.AppendEncode(s, sum)
	dec.scratch = s
	all := string(s)
	*d = Doc{
		Type: Types[rec[0]], Tenant: dec.shared(tenant),
		Subject: all[:ends[0]], ID: all[ends[0]:ends[1]], Path: all[ends[1]:ends[2]], SHA256: all[ends[2]:],
	}
	d.Size = r.varint()
	switch flag := r.bytes(1); {
	case r.err != nil:
	case flag[0] == 1:
		sec := r.varint()
		nsec := r.uvarint()
		if nsec >= 1e9 {
			return errRecord
		}
		d.Time = time.Unix(sec, int64(nsec)).UTC()
	case flag[0] != 0:
		return errRecord
	}
	d.Format = dec.shared(r.str())
	for _, l := range [...]*[]string{&d.Ecosystems, &d.Products} {
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			return errRecord
		}
		if n > 0 {
			*l = make([]string, n)
			for i := range *l {
				(*l)[i] = dec.shared(r.str())
			}
		}
	}
	if n := r.uvarint(); n > 0 {
		off := r.uvarint()
		if n > 1<<62 || off > 1<<62 {
			return errRecord
		}
		d.CanonLen, d.CanonOff = int64(n), int64(off)
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return errRecord
	}
	return nil
}

// DecodeRecord returns the document of a record.
func DecodeRecord(rec []byte) (*Doc, error) {
	var dec decoder
	d := new(Doc)
	if err := dec.decode(d, rec); err != nil {
		return nil, err
	}
	return d, nil
}

// SortedDocs is Docs held as sorted records, in memory or spilled to a
// file (internal/extsort). Close removes the spill file.
type SortedDocs struct {
	s     *extsort.Sorted
	n     int
	skip  map[string]bool // paths left out (duplicates)
	canon *canonStore     // with Config.KeepCanonical
}

// Canonical returns the canonical form of d, a document of s, when
// Resolve kept it (Config.KeepCanonical; documents up to 4 MiB): the bytes
// canonjson.Raw made of the file's content when Resolve read and hashed
// it. ok is false when none was kept; read the source then.
func (s *SortedDocs) Canonical(d *Doc) (b []byte, ok bool, err error) {
	if s.canon == nil || d.CanonLen == 0 {
		return nil, false, nil
	}
	b, err = s.canon.read(d)
	return b, err == nil, err
}

// Len implements Docs.
func (s *SortedDocs) Len() int { return s.n }

// All implements Docs. Every step yields the same *Doc, refilled.
func (s *SortedDocs) All() iter.Seq2[*Doc, error] {
	return func(yield func(*Doc, error) bool) {
		var dec decoder
		d := new(Doc)
		for rec, err := range s.s.All() {
			if err == nil {
				err = dec.decode(d, rec)
			}
			if err != nil {
				yield(nil, fmt.Errorf("read documents: %w", err))
				return
			}
			if s.skip[d.Path] {
				continue
			}
			if !yield(d, nil) {
				return
			}
		}
	}
}

// Spilled reports whether the documents are in a spill file.
func (s *SortedDocs) Spilled() bool { return s.s.Spilled() }

// Close removes the spill files, if any. It is safe to call more than
// once.
func (s *SortedDocs) Close() error {
	if s == nil {
		return nil
	}
	err := s.canon.close()
	if e := s.s.Close(); e != nil {
		err = e
	}
	return err
}

// DocSorter sorts documents into plan order under a memory budget.
type DocSorter struct {
	s   *extsort.Sorter
	buf []byte
}

// NewDocSorter returns a sorter spilling as sp says; ctx's partial set
// (internal/partial) tracks its spill directory. Its records hold at most
// a quarter of the budget: a run's other sorters share another quarter,
// and the rest is the garbage collector's headroom.
func NewDocSorter(ctx context.Context, sp Spill) *DocSorter {
	return newDocSorter(ctx, sp, 4)
}

func newDocSorter(ctx context.Context, sp Spill, parts int64) *DocSorter {
	return &DocSorter{s: extsort.New(sp.Dir, sp.budget(parts), CompareRecords).Track(ctx)}
}

// Add adds a copy of d.
func (ds *DocSorter) Add(d *Doc) error {
	var err error
	ds.buf, err = AppendRecord(ds.buf[:0], d)
	if err != nil {
		return err
	}
	return ds.s.Add(ds.buf)
}

// Sort returns the documents in plan order. Close the result; closing the
// sorter as well is harmless.
func (ds *DocSorter) Sort(ctx context.Context) (*SortedDocs, error) {
	n := ds.s.Len()
	s, err := ds.s.Sort(ctx)
	if err != nil {
		return nil, err
	}
	return &SortedDocs{s: s, n: n}, nil
}

// Close removes what the sorter spilled and has not handed on.
func (ds *DocSorter) Close() error { return ds.s.Close() }
