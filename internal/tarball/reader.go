package tarball

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/pgzip"

	"github.com/stella-ops/stella-export/internal/ctxio"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safepath"
)

// Limits bound what a Reader accepts from an untrusted archive. Zero fields
// take the defaults of DefaultLimits.
type Limits struct {
	MaxEntries int   // entries of any type
	MaxBytes   int64 // total uncompressed bytes, tar headers and padding included
	// MaxRatio is the largest uncompressed/compressed ratio accepted once
	// more than RatioGrace bytes were inflated: a decompression bomb guard.
	MaxRatio   int64
	RatioGrace int64
	// MaxNameBytes bounds the total length of all entry names: what a
	// reader that remembers names (verify) holds in memory grows with it.
	MaxNameBytes int64
}

// DefaultLimits: a million entries, 4 TiB, 128 MiB of entry names (a
// million names of 128 bytes), and a ratio of 1000:1 after the first 64 MiB
// (deflate cannot exceed about 1032:1; legitimate bundles stay far below).
// package refuses to write a bundle that verify would refuse under them.
var DefaultLimits = Limits{MaxEntries: 1 << 20, MaxBytes: 4 << 40, MaxRatio: 1000, RatioGrace: 64 << 20, MaxNameBytes: 128 << 20}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxEntries > 0 {
		d.MaxEntries = l.MaxEntries
	}
	if l.MaxBytes > 0 {
		d.MaxBytes = l.MaxBytes
	}
	if l.MaxRatio > 0 {
		d.MaxRatio = l.MaxRatio
	}
	if l.RatioGrace > 0 {
		d.RatioGrace = l.RatioGrace
	}
	if l.MaxNameBytes > 0 {
		d.MaxNameBytes = l.MaxNameBytes
	}
	return d
}

// WithDefaults returns l with every zero field set from DefaultLimits.
func (l Limits) WithDefaults() Limits { return l.withDefaults() }

// Sentinel errors of the reader; each *FormatError wraps one of them and
// exitcode.ErrInvalid.
var (
	ErrNotGzip      = errors.New("not a gzip stream")
	ErrTruncated    = errors.New("truncated archive")
	ErrTrailingData = errors.New("trailing data")
	ErrBadHeader    = errors.New("malformed tar header")
	ErrEntryType    = errors.New("entry type not allowed")
	ErrDuplicate    = errors.New("duplicate entry")
	ErrTooLarge     = errors.New("archive exceeds limits")
)

// FormatError is a refusal of the archive, naming the entry where there is one.
type FormatError struct {
	Entry  string // may be empty
	Kind   error  // one of the sentinels above, or safepath.ErrUnsafe
	Detail string
}

func (e *FormatError) Error() string {
	s := e.Kind.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Entry != "" {
		return fmt.Sprintf("entry %q: %s", clip(e.Entry), s)
	}
	return s
}

func (e *FormatError) Unwrap() []error { return []error{e.Kind, exitcode.ErrInvalid} }

func clip(s string) string {
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}

// Entry describes one archive member, as the reader validated it.
type Entry struct {
	Name     string
	Dir      bool
	Size     int64
	Mode     int64
	UID, GID int
	Uname    string
	Gname    string
	ModTime  time.Time
	// PAXKeys are the keys of the entry's PAX records other than path,
	// linkpath, size and mtime (which only restate header fields).
	PAXKeys []string
	// Format is the tar header format Go detected.
	Format tar.Format
}

// Reader reads an untrusted .tgz as a stream and refuses, with a
// *FormatError, anything that could escape a directory or exhaust memory:
// names that are absolute, contain '..' or unsafe bytes; any type but
// regular files and directories (links, devices, FIFOs, sparse files);
// duplicate names; more entries or bytes than Limits allow; a compression
// ratio above Limits.MaxRatio; truncated streams; a second gzip member or
// trailing bytes; non-zero data after the tar end. Header parsing itself is
// archive/tar's, which caps PAX and GNU long-name records at 1 MiB.
type Reader struct {
	src      *atomicCounter
	brd      *consumedReader
	gz       *pgzip.Reader
	inflated *ctxio.CountReader
	tr       *tar.Reader
	lim      Limits
	seen     *NameSet
	names    int64 // bytes of the entry names so far
	cur      *Entry
	done     bool
	dataEnd  int64 // offset in the tar stream where the current entry's data ends
	// GzipModTime is the MTIME field of the gzip header.
	GzipModTime time.Time
	// GzipOS, GzipName and GzipComment come from the gzip header.
	GzipOS      byte
	GzipName    string
	GzipComment string
}

// consumedReader counts the compressed bytes the decompressor has taken.
// pgzip decompresses in its own goroutine, hence the atomic counters; it
// uses ReadByte (flate.Reader), so no further buffer hides bytes from the
// count.
type consumedReader struct {
	br  *bufio.Reader
	src *atomicCounter
	n   atomic.Int64
}

type atomicCounter struct {
	r io.Reader
	n atomic.Int64
}

func (c *atomicCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *consumedReader) Read(p []byte) (int, error) {
	n, err := c.br.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *consumedReader) ReadByte() (byte, error) {
	b, err := c.br.ReadByte()
	if err == nil {
		c.n.Add(1)
	}
	return b, err
}

// NewReader checks the gzip header and prepares to read entries. Bytes
// that are not a gzip header give a *FormatError of kind ErrNotGzip (or
// ErrTruncated when there are too few); an error reading them (a disk
// error, a cancelled context) is returned wrapped, with its own class.
func NewReader(r io.Reader, lim Limits) (*Reader, error) {
	lim = lim.withDefaults()
	src := &atomicCounter{r: r}
	br := &consumedReader{br: bufio.NewReaderSize(src, 256<<10), src: src}
	gz, err := pgzip.NewReaderN(br, 1<<20, 4)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, &FormatError{Kind: ErrTruncated, Detail: "empty or truncated gzip header"}
	case errors.Is(err, pgzip.ErrHeader):
		return nil, &FormatError{Kind: ErrNotGzip, Detail: err.Error()}
	default:
		// The bytes could not be read (a disk error, a cancelled
		// context): that is not the archive's fault, and the error keeps
		// its own class.
		return nil, fmt.Errorf("read gzip header: %w", err)
	}
	gz.Multistream(false)
	rd := &Reader{src: src, gz: gz, lim: lim, seen: NewNameSet()}
	rd.GzipModTime = gz.Header.ModTime
	rd.GzipOS = gz.Header.OS
	rd.GzipName = gz.Header.Name
	rd.GzipComment = gz.Header.Comment
	rd.inflated = &ctxio.CountReader{R: &bombGuard{rd: rd, r: gz}}
	rd.tr = tar.NewReader(rd.inflated)
	rd.brd = br
	return rd, nil
}

type bombGuard struct {
	rd *Reader
	r  io.Reader
}

func (b *bombGuard) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	rd := b.rd
	out := rd.inflated.N + int64(n)
	if out > rd.lim.MaxBytes {
		return n, &FormatError{Kind: ErrTooLarge, Detail: fmt.Sprintf("more than %d uncompressed bytes", rd.lim.MaxBytes)}
	}
	// The ratio is measured against compressed bytes the decompressor
	// consumed, not read-ahead, so a small bomb is caught early.
	in := rd.brd.n.Load()
	if out > rd.lim.RatioGrace && in > 0 && out/in > rd.lim.MaxRatio {
		return n, &FormatError{Kind: ErrTooLarge, Detail: fmt.Sprintf("compression ratio above %d:1 (decompression bomb?)", rd.lim.MaxRatio)}
	}
	return n, err
}

// Next returns the next entry, or io.EOF after the archive's end has been
// checked (no trailing data, single gzip member).
func (r *Reader) Next() (*Entry, error) {
	if r.done {
		return nil, io.EOF
	}
	hdr, err := r.tr.Next()
	if err == io.EOF {
		// archive/tar also ends quietly at a header boundary without the
		// two zero blocks, which hides a cut at an entry boundary.
		if r.inflated.N-r.dataEnd < 1024 {
			return nil, &FormatError{Kind: ErrTruncated, Detail: "no end-of-archive marker (two zero blocks) after the last entry"}
		}
		if err := r.finish(); err != nil {
			return nil, err
		}
		r.done = true
		return nil, io.EOF
	}
	if err != nil {
		return nil, r.wrap(err, "")
	}
	if r.seen.Len() >= r.lim.MaxEntries {
		return nil, &FormatError{Kind: ErrTooLarge, Detail: fmt.Sprintf("more than %d entries", r.lim.MaxEntries)}
	}
	name := hdr.Name
	if r.names += int64(len(name)); r.names > r.lim.MaxNameBytes {
		return nil, &FormatError{Kind: ErrTooLarge, Detail: fmt.Sprintf("more than %d bytes of entry names", r.lim.MaxNameBytes)}
	}
	e := &Entry{Name: name, Size: hdr.Size, Mode: hdr.Mode, UID: hdr.Uid, GID: hdr.Gid,
		Uname: hdr.Uname, Gname: hdr.Gname, ModTime: hdr.ModTime, Format: hdr.Format}
	switch hdr.Typeflag {
	case tar.TypeReg:
	case tar.TypeDir:
		e.Dir = true
	default:
		return nil, &FormatError{Entry: name, Kind: ErrEntryType, Detail: typeName(hdr)}
	}
	if err := safepath.Check(name, e.Dir); err != nil {
		return nil, &FormatError{Entry: name, Kind: safepath.ErrUnsafe, Detail: err.(*safepath.Error).Reason}
	}
	if hdr.Size < 0 || (e.Dir && hdr.Size != 0) {
		return nil, &FormatError{Entry: name, Kind: ErrBadHeader, Detail: fmt.Sprintf("size %d", hdr.Size)}
	}
	// "a" and "a/" are one path on disk.
	if !r.seen.Add(strings.TrimSuffix(name, "/")) {
		return nil, &FormatError{Entry: name, Kind: ErrDuplicate, Detail: "the name appears twice"}
	}
	for k := range hdr.PAXRecords {
		switch {
		case k == "path", k == "linkpath", k == "size", k == "mtime":
		case strings.HasPrefix(k, "GNU.sparse."):
			return nil, &FormatError{Entry: name, Kind: ErrEntryType, Detail: "sparse file (PAX " + k + " record)"}
		default:
			e.PAXKeys = append(e.PAXKeys, k)
		}
	}
	slices.Sort(e.PAXKeys)
	r.cur = e
	r.dataEnd = r.inflated.N + (hdr.Size+511)/512*512
	return e, nil
}

func typeName(h *tar.Header) string {
	switch h.Typeflag {
	case tar.TypeSymlink:
		return fmt.Sprintf("symbolic link to %q", clip(h.Linkname))
	case tar.TypeLink:
		return fmt.Sprintf("hard link to %q", clip(h.Linkname))
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "FIFO"
	case tar.TypeGNUSparse:
		return "GNU sparse file"
	case tar.TypeXGlobalHeader:
		return "PAX global header"
	}
	return fmt.Sprintf("type %q", h.Typeflag)
}

// Read reads the current entry's content.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.tr.Read(p)
	if err != nil && err != io.EOF {
		name := ""
		if r.cur != nil {
			name = r.cur.Name
		}
		return n, r.wrap(err, name)
	}
	return n, err
}

// InflatedBytes is the number of uncompressed bytes read so far.
func (r *Reader) InflatedBytes() int64 { return r.inflated.N }

// CompressedBytes is the number of bytes read from the source so far.
func (r *Reader) CompressedBytes() int64 { return r.src.n.Load() }

// Close releases the decompressor.
func (r *Reader) Close() error { return r.gz.Close() }

func (r *Reader) wrap(err error, name string) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		if fe.Entry == "" && name != "" {
			fe.Entry = name
		}
		return fe
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &FormatError{Entry: name, Kind: ErrTruncated, Detail: "stream ends early"}
	case errors.Is(err, tar.ErrHeader), errors.Is(err, tar.ErrFieldTooLong):
		return &FormatError{Entry: name, Kind: ErrBadHeader, Detail: err.Error()}
	case errors.Is(err, pgzip.ErrChecksum), errors.Is(err, pgzip.ErrHeader):
		return &FormatError{Entry: name, Kind: ErrTruncated, Detail: "gzip data corrupt: " + err.Error()}
	}
	// The inflater reports some corrupt streams (a length code that
	// cannot occur, say) as an InternalError rather than a
	// CorruptInputError; both are bad input.
	var ce flate.CorruptInputError
	var ie flate.InternalError
	if errors.As(err, &ce) || errors.As(err, &ie) {
		return &FormatError{Entry: name, Kind: ErrTruncated, Detail: "gzip data corrupt: " + err.Error()}
	}
	if name != "" {
		return fmt.Errorf("entry %q: %w", clip(name), err)
	}
	return err
}

// finish checks what follows the tar end-of-archive marker: only zero
// padding inside the gzip member, then nothing at all.
func (r *Reader) finish() error {
	const maxPad = 1 << 20
	buf := make([]byte, 32<<10)
	var pad int64
	for {
		n, err := r.inflated.Read(buf)
		if !allZero(buf[:n]) {
			return &FormatError{Kind: ErrTrailingData, Detail: "non-zero data after the tar end-of-archive marker"}
		}
		pad += int64(n)
		if pad > maxPad {
			return &FormatError{Kind: ErrTrailingData, Detail: "more than 1 MiB of padding after the tar end-of-archive marker"}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return r.wrap(err, "")
		}
	}
	if _, err := r.brd.ReadByte(); err != io.EOF {
		if err == nil {
			return &FormatError{Kind: ErrTrailingData, Detail: "bytes after the gzip member (a second member or garbage)"}
		}
		return err
	}
	return nil
}

func allZero(b []byte) bool {
	return len(bytes.Trim(b, "\x00")) == 0
}
