// Package envelope reads and writes stella-export's envelope-encrypted
// files (`.enc`, docs/encryption.md): a fresh random 32-byte data key per
// file, wrapped with AES-256-GCM under a master key named by its key id,
// and the plaintext sealed in 64 KiB chunks with AES-256-GCM under a key
// derived from the data key, in the manner of age's STREAM construction.
//
// Guarantees:
//
//   - The whole header is authenticated: its fixed part (magic, version,
//     chunk size, nonce prefix) is the HKDF salt of the payload key and
//     part of the wrap's additional data; the key id is part of the wrap's
//     additional data; the wrap nonce and the wrapped key are checked by
//     the wrap's tag.
//   - Each chunk's nonce is the file's nonce prefix, the chunk's index and
//     a last-chunk flag, so altered, reordered, dropped, appended or
//     truncated chunks, and a header taken from another file, fail to
//     authenticate.
//   - A Reader returns only plaintext of chunks that authenticated, and
//     io.EOF only after the chunk flagged last authenticated at the end of
//     the input.
//   - Rewrap replaces the key id and the wrapped data key without changing
//     a byte of any chunk, so a master key can be rotated without
//     re-encrypting.
//   - Memory is bounded: a Writer holds one chunk, a Reader one ciphertext
//     chunk and its plaintext, whatever the file's size.
//
// Every failure that the file's bytes cause is an *Error, classified as a
// failed verification (exit 1): a flipped byte anywhere makes decryption
// fail with exit 1, except one that turns the key id into an id the Lookup
// does not know, which fails with the Lookup's error. Errors of the master
// key passed in (wrong length, invalid key id) are invalid input (exit 3);
// errors of a Lookup, of the random source and of the underlying reader or
// writer keep their own classification.
//
// Only crypto/aes, crypto/cipher (GCM) and crypto/hkdf are used; nothing is
// hand-rolled.
package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// Format constants, docs/encryption.md#layout.
const (
	Magic           = "STXENC\r\n" // first 8 bytes of every envelope file
	Version         = 1            // the format version this package reads and writes
	ChunkSize       = 64 << 10     // plaintext bytes in every chunk but the last
	TagSize         = 16           // AES-GCM tag appended to every sealed chunk and to the wrapped key
	KeySize         = 32           // bytes of a master key and of a data key (AES-256)
	NoncePrefixSize = 7            // random nonce prefix of a file's chunks
	WrapNonceSize   = 12           // random AES-GCM nonce of the wrapped data key
	WrappedKeySize  = WrapNonceSize + KeySize + TagSize
	MaxKeyIDLen     = 256 // longest key id, in bytes

	fixedSize   = len(Magic) + 1 + 4 + NoncePrefixSize // magic, version, chunk size, nonce prefix
	payloadInfo = "stella-export/enc/v1 payload"
	maxChunks   = math.MaxUint32 + 1 // chunk indices are 32-bit
)

// Key is a master key: 32 secret bytes and the key id recorded in the
// header of every file whose data key it wraps.
type Key struct {
	ID     string
	Secret []byte
}

// Lookup returns the master key with the given key id, for reading and
// rewrapping. Only the returned key's Secret is used. Its error is passed
// on wrapped, with its classification (a missing key is typically an
// environment error, exit 4).
type Lookup func(keyID string) (Key, error)

// Header is the clear header of an envelope file: what an auditor without
// keys can learn, and what provenance.json records.
type Header struct {
	Version     int                   // format version, 1
	ChunkSize   int                   // plaintext bytes per chunk, 65536
	NoncePrefix [NoncePrefixSize]byte // first bytes of every chunk nonce
	KeyID       string                // key id of the master key that wraps the data key
	// WrappedKey is the wrap nonce (12 bytes) followed by the data key
	// sealed with AES-256-GCM under the master key (32 bytes and a 16-byte
	// tag).
	WrappedKey [WrappedKeySize]byte
}

// Len returns the length of the encoded header: where the first chunk
// starts.
func (h Header) Len() int { return fixedSize + 2 + len(h.KeyID) + WrappedKeySize }

// fixed returns the header's fixed part: magic, version, chunk size and
// nonce prefix, which no rewrap changes.
func (h Header) fixed() []byte {
	b := make([]byte, 0, fixedSize)
	b = append(b, Magic...)
	b = append(b, byte(h.Version))
	b = binary.BigEndian.AppendUint32(b, uint32(h.ChunkSize))
	return append(b, h.NoncePrefix[:]...)
}

// wrapAAD returns the additional data of the wrapped key: the fixed part,
// the key id's length and the key id.
func (h Header) wrapAAD() []byte {
	b := h.fixed()
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.KeyID)))
	return append(b, h.KeyID...)
}

func (h Header) encode() []byte {
	return append(h.wrapAAD(), h.WrappedKey[:]...)
}

// Error says an envelope file is not intact: malformed, altered,
// truncated, extended, or not openable with the master key its header
// names. Chunk is the zero-based index of the chunk at fault, or -1 for the
// header; Offset is the byte offset where that chunk or header field starts.
type Error struct {
	Chunk  int64
	Offset int64
	Reason string
}

func (e *Error) Error() string {
	if e.Chunk < 0 {
		return fmt.Sprintf("header at byte %d: %s", e.Offset, e.Reason)
	}
	return fmt.Sprintf("chunk %d at byte %d: %s", e.Chunk, e.Offset, e.Reason)
}

// Unwrap classifies every Error as a failed verification (exit 1).
func (e *Error) Unwrap() error { return exitcode.ErrVerify }

func headerError(offset int, format string, args ...any) error {
	return &Error{Chunk: -1, Offset: int64(offset), Reason: fmt.Sprintf(format, args...)}
}

// CheckKeyID reports whether id can be recorded as a key id: 1 to 256
// bytes, each printable ASCII other than space (0x21 to 0x7e).
func CheckKeyID(id string) error {
	if len(id) == 0 || len(id) > MaxKeyIDLen {
		return fmt.Errorf("key id is %d bytes, want 1 to %d", len(id), MaxKeyIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("key id byte %d is 0x%02x, want printable ASCII (0x21 to 0x7e)", i, c)
		}
	}
	return nil
}

func checkKey(k Key) error {
	if err := CheckKeyID(k.ID); err != nil {
		return exitcode.Invalidf("master key %q: %v", k.ID, err)
	}
	if len(k.Secret) != KeySize {
		return exitcode.Invalidf("master key %s: %d bytes, want %d", k.ID, len(k.Secret), KeySize)
	}
	return nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err // only for a key that is not 16, 24 or 32 bytes; callers pass 32
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		// GODEBUG=fips140=only forbids GCM with explicit nonces, which
		// the format needs: an environment error (exit 4).
		return nil, fmt.Errorf("envelope encryption needs AES-GCM with counter nonces, which this environment refuses (GODEBUG=fips140=only?): %w", err)
	}
	return aead, nil
}

// payloadAEAD returns AES-256-GCM under the payload key:
// HKDF-SHA256(secret = data key, salt = the header's fixed part, info =
// "stella-export/enc/v1 payload"), 32 bytes.
func payloadAEAD(dataKey []byte, h Header) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, dataKey, h.fixed(), payloadInfo, KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive payload key: %w", err)
	}
	return newGCM(key)
}

// wrap seals dataKey under master into h.WrappedKey, drawing the wrap nonce
// from rand.
func wrap(h *Header, master Key, dataKey []byte, rand io.Reader) error {
	nonce := h.WrappedKey[:WrapNonceSize]
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return fmt.Errorf("draw wrap nonce: %w", err)
	}
	aead, err := newGCM(master.Secret)
	if err != nil {
		return err
	}
	aead.Seal(h.WrappedKey[:WrapNonceSize], nonce, dataKey, h.wrapAAD())
	return nil
}

// unwrap opens h.WrappedKey with the master key lookup returns for h.KeyID.
func unwrap(h Header, lookup Lookup) ([]byte, error) {
	k, err := lookup(h.KeyID)
	if err != nil {
		return nil, fmt.Errorf("master key %s: %w", h.KeyID, err)
	}
	if len(k.Secret) != KeySize {
		return nil, exitcode.Invalidf("master key %s: %d bytes, want %d", h.KeyID, len(k.Secret), KeySize)
	}
	nonce, sealed := h.WrappedKey[:WrapNonceSize], h.WrappedKey[WrapNonceSize:]
	aead, err := newGCM(k.Secret)
	if err != nil {
		return nil, err
	}
	dataKey, err := aead.Open(nil, nonce, sealed, h.wrapAAD())
	if err != nil {
		return nil, headerError(fixedSize+2+len(h.KeyID),
			"the data key does not unwrap under master key %s: wrong key, or the header was altered or belongs to another file", h.KeyID)
	}
	return dataKey, nil
}

// ReadHeader reads exactly the header from r, leaving r at the first
// chunk, and checks its structure (not its authenticity, which needs the
// master key).
func ReadHeader(r io.Reader) (Header, error) {
	var h Header
	var fixed [fixedSize + 2]byte
	n, err := io.ReadFull(r, fixed[:])
	if err != nil {
		return h, truncated(err, n)
	}
	if string(fixed[:len(Magic)]) != Magic {
		return h, headerError(0, "not a stella-export envelope file: magic %x, want %x (%q)", fixed[:len(Magic)], Magic, Magic)
	}
	off := len(Magic)
	h.Version = int(fixed[off])
	if h.Version != Version {
		return h, headerError(off, "unsupported version %d, this reader knows version %d", h.Version, Version)
	}
	off++
	h.ChunkSize = int(binary.BigEndian.Uint32(fixed[off:]))
	if h.ChunkSize != ChunkSize {
		return h, headerError(off, "chunk size %d, version %d requires %d", h.ChunkSize, Version, ChunkSize)
	}
	off += 4
	copy(h.NoncePrefix[:], fixed[off:])
	off += NoncePrefixSize
	idLen := int(binary.BigEndian.Uint16(fixed[off:]))
	if idLen == 0 || idLen > MaxKeyIDLen {
		return h, headerError(off, "key id length %d, want 1 to %d", idLen, MaxKeyIDLen)
	}
	off += 2
	rest := make([]byte, idLen+WrappedKeySize)
	if n, err := io.ReadFull(r, rest); err != nil {
		return h, truncated(err, off+n)
	}
	h.KeyID = string(rest[:idLen])
	if err := CheckKeyID(h.KeyID); err != nil {
		return h, headerError(off, "%v", err)
	}
	copy(h.WrappedKey[:], rest[idLen:])
	return h, nil
}

// truncated classifies a header read error: the input ending early is an
// *Error, anything else an I/O error.
func truncated(err error, n int) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return headerError(n, "truncated: the file ends within the header")
	}
	return fmt.Errorf("read header: %w", err)
}

// nonce returns the nonce of chunk index: the nonce prefix, the index as a
// 32-bit big-endian number and 0x01 for the last chunk or 0x00 otherwise.
func chunkNonce(prefix [NoncePrefixSize]byte, index uint64, last bool) []byte {
	n := make([]byte, 0, 12)
	n = append(n, prefix[:]...)
	n = binary.BigEndian.AppendUint32(n, uint32(index))
	if last {
		return append(n, 1)
	}
	return append(n, 0)
}

// NewWriter writes the header of a new envelope file to dst and returns a
// writer that encrypts into it. The data key (32 bytes), the nonce prefix (7
// bytes) and the wrap nonce (12 bytes) are read from rand, in that order:
// crypto/rand.Reader, or a detrand stream for reproducibility checks. Close
// seals and writes the last chunk, and must be called; it does not close
// dst.
func NewWriter(dst io.Writer, k Key, rand io.Reader) (io.WriteCloser, error) {
	if err := checkKey(k); err != nil {
		return nil, err
	}
	dataKey := make([]byte, KeySize)
	if _, err := io.ReadFull(rand, dataKey); err != nil {
		return nil, fmt.Errorf("draw data key: %w", err)
	}
	h := Header{Version: Version, ChunkSize: ChunkSize, KeyID: k.ID}
	if _, err := io.ReadFull(rand, h.NoncePrefix[:]); err != nil {
		return nil, fmt.Errorf("draw nonce prefix: %w", err)
	}
	if err := wrap(&h, k, dataKey, rand); err != nil {
		return nil, err
	}
	aead, err := payloadAEAD(dataKey, h)
	if err != nil {
		return nil, err
	}
	if err := writeAll(dst, h.encode()); err != nil {
		return nil, err
	}
	return &writer{
		dst:    dst,
		aead:   aead,
		prefix: h.NoncePrefix,
		buf:    make([]byte, 0, ChunkSize+TagSize),
	}, nil
}

var errClosed = errors.New("write to a closed envelope writer")

type writer struct {
	dst    io.Writer
	aead   cipher.AEAD
	prefix [NoncePrefixSize]byte
	buf    []byte // plaintext of the chunk being filled; capacity for its tag
	index  uint64 // index of that chunk
	err    error  // sticky
}

func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	total := 0
	for len(p) > 0 {
		if len(w.buf) == ChunkSize {
			// More data follows a full chunk: it is not the last.
			if err := w.seal(false); err != nil {
				w.err = err
				return total, err
			}
		}
		n := copy(w.buf[len(w.buf):ChunkSize], p)
		w.buf = w.buf[:len(w.buf)+n]
		p = p[n:]
		total += n
	}
	return total, nil
}

// Close seals the buffered plaintext as the last chunk (empty only when
// nothing was written) and writes it. A second Close returns nil.
func (w *writer) Close() error {
	if w.err == errClosed {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	if err := w.seal(true); err != nil {
		w.err = err
		return err
	}
	w.err = errClosed
	return nil
}

func (w *writer) seal(last bool) error {
	if w.index >= maxChunks {
		return exitcode.Invalidf("encrypt: plaintext longer than %d chunks of %d bytes", uint64(maxChunks), ChunkSize)
	}
	sealed := w.aead.Seal(w.buf[:0], chunkNonce(w.prefix, w.index, last), w.buf, nil)
	if err := writeAll(w.dst, sealed); err != nil {
		return err
	}
	w.buf = w.buf[:0]
	w.index++
	return nil
}

func writeAll(w io.Writer, b []byte) error {
	n, err := w.Write(b)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	return err
}

// NewReader reads and authenticates the header of an envelope file from
// src, unwraps its data key with the master key lookup returns for the
// header's key id, and returns a reader of the plaintext. The reader
// returns the plaintext of a chunk only after the chunk authenticated, an
// *Error (exit 1) naming the chunk and the reason when one does not, and
// io.EOF only after the last chunk authenticated at the end of src.
func NewReader(src io.Reader, lookup Lookup) (io.Reader, error) {
	h, dataKey, err := open(src, lookup)
	if err != nil {
		return nil, err
	}
	return newChunks(src, dataKey, h)
}

// open reads the header from src and unwraps the data key.
func open(src io.Reader, lookup Lookup) (Header, []byte, error) {
	h, err := ReadHeader(src)
	if err != nil {
		return h, nil, err
	}
	dataKey, err := unwrap(h, lookup)
	return h, dataKey, err
}

// chunks reads and authenticates the chunks that follow a header.
type chunks struct {
	src    io.Reader
	aead   cipher.AEAD
	prefix [NoncePrefixSize]byte
	buf    []byte // a sealed chunk and one byte of lookahead
	have   int    // bytes of buf already read (the lookahead byte)
	out    []byte // plaintext of the last chunk that authenticated
	plain  []byte // the part of out not yet returned by Read
	index  uint64 // index of the next chunk
	offset int64  // byte offset of the next chunk in the file
	done   bool   // the last chunk authenticated
	err    error  // sticky
	tee    io.Writer
}

func newChunks(src io.Reader, dataKey []byte, h Header) (*chunks, error) {
	aead, err := payloadAEAD(dataKey, h)
	if err != nil {
		return nil, err
	}
	return &chunks{
		src:    src,
		aead:   aead,
		prefix: h.NoncePrefix,
		buf:    make([]byte, ChunkSize+TagSize+1),
		out:    make([]byte, 0, ChunkSize),
		offset: int64(h.Len()),
	}, nil
}

func (c *chunks) Read(p []byte) (int, error) {
	for len(c.plain) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			c.err = err
			return 0, err
		}
	}
	n := copy(p, c.plain)
	c.plain = c.plain[n:]
	return n, nil
}

// next reads, authenticates and decrypts the next chunk into c.plain and,
// with c.tee set, copies the chunk as read to c.tee.
func (c *chunks) next() error {
	n, err := io.ReadFull(c.src, c.buf[c.have:])
	n += c.have
	more := err == nil // a byte follows a full-size chunk
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("chunk %d at byte %d: read: %w", c.index, c.offset, err)
	}
	chunk := c.buf[:n]
	if more {
		chunk = c.buf[:ChunkSize+TagSize]
	}
	fail := func(format string, args ...any) error {
		return &Error{Chunk: int64(c.index), Offset: c.offset, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.index >= maxChunks:
		return fail("more than %d chunks", uint64(maxChunks))
	case n == 0 && c.index == 0:
		return fail("missing: the file ends after the header (even an empty plaintext has one chunk)")
	case n < TagSize:
		return fail("truncated: only %d of the %d tag bytes", n, TagSize)
	case n == TagSize && c.index > 0:
		return fail("an empty chunk after a full one (only an empty plaintext ends in an empty chunk)")
	}
	last := !more
	plain, err := c.aead.Open(c.out[:0], chunkNonce(c.prefix, c.index, last), chunk, nil)
	if err != nil {
		// A full chunk that opens with the other flag says why.
		if len(chunk) == ChunkSize+TagSize {
			if _, e := c.aead.Open(c.out[:0], chunkNonce(c.prefix, c.index, !last), chunk, nil); e == nil {
				if last {
					return fail("the file ends after this chunk, which is not the last one: truncated, the last chunk is missing")
				}
				return fail("data follows the last chunk: appended")
			}
		}
		return fail("authentication failed: the chunk was altered, moved or truncated, or the header belongs to another file")
	}
	if c.tee != nil {
		if err := writeAll(c.tee, chunk); err != nil {
			return err
		}
	}
	c.plain = plain
	c.offset += int64(len(chunk))
	c.index++
	if more {
		c.buf[0] = c.buf[ChunkSize+TagSize]
		c.have = 1
	} else {
		c.have = 0
		c.done = true
	}
	return nil
}

// Rewrap copies an envelope file from src to dst with its data key
// unwrapped (with the master key lookup returns for src's key id) and
// wrapped again under to, with a fresh wrap nonce from rand. The header's
// fixed part and every chunk are copied byte for byte; each chunk is
// authenticated before it is written, so a damaged src fails with an *Error
// instead of being passed on. On error dst holds a partial file that the
// caller must discard.
func Rewrap(src io.Reader, dst io.Writer, lookup Lookup, to Key, rand io.Reader) error {
	if err := checkKey(to); err != nil {
		return err
	}
	h, dataKey, err := open(src, lookup)
	if err != nil {
		return err
	}
	c, err := newChunks(src, dataKey, h)
	if err != nil {
		return err
	}
	h.KeyID = to.ID
	if err := wrap(&h, to, dataKey, rand); err != nil {
		return err
	}
	if err := writeAll(dst, h.encode()); err != nil {
		return err
	}
	c.tee = dst
	for !c.done {
		if err := c.next(); err != nil {
			return err
		}
	}
	return nil
}
