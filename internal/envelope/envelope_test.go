package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stella-ops/stella-export/internal/detrand"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

var (
	seed = []byte("stella-export envelope tests")
	key1 = Key{ID: "alias/test/v1", Secret: secret("v1")}
	key2 = Key{ID: "alias/test/v2", Secret: secret("v2")}
)

func secret(label string) []byte {
	b := make([]byte, KeySize)
	io.ReadFull(detrand.New(seed, "master "+label), b)
	return b
}

// only is a Lookup that knows the given keys and nothing else.
func only(keys ...Key) Lookup {
	return func(id string) (Key, error) {
		for _, k := range keys {
			if k.ID == id {
				return k, nil
			}
		}
		return Key{}, fmt.Errorf("no master key %s in the keyring: %w", id, fs.ErrNotExist)
	}
}

// anyID is a Lookup that answers every key id with k's secret, so that an
// altered key id is caught by the wrap's authentication, not by the lookup.
func anyID(k Key) Lookup {
	return func(id string) (Key, error) { return Key{ID: id, Secret: k.Secret}, nil }
}

// plaintext returns n bytes, byte i being i mod 251 (a period prime to the
// chunk size, so that no two chunks are equal).
func plaintext(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func encrypt(t testing.TB, p []byte, k Key, label string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, k, detrand.New(seed, label))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decrypt returns what a Reader returned before its first error, and that
// error (nil at a clean io.EOF).
func decrypt(data []byte, lookup Lookup) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(data), lookup)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func chunkCount(n int) int {
	if n == 0 {
		return 1
	}
	return (n + ChunkSize - 1) / ChunkSize
}

var sizes = []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2 * ChunkSize, 1<<20 + 3}

func TestRoundTrip(t *testing.T) {
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p := plaintext(n)
			data := encrypt(t, p, key1, "file")
			h, err := ReadHeader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if want := h.Len() + n + TagSize*chunkCount(n); len(data) != want {
				t.Errorf("%d plaintext bytes gave %d bytes, want %d", n, len(data), want)
			}
			got, err := decrypt(data, only(key1))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, p) {
				t.Fatalf("decrypted %d bytes differ from the %d written", len(got), n)
			}
			// Read semantics under short reads of the source and of the
			// caller, checked by iotest.
			r, err := NewReader(iotest.HalfReader(bytes.NewReader(data)), only(key1))
			if err != nil {
				t.Fatal(err)
			}
			if err := iotest.TestReader(r, p); err != nil {
				t.Fatal(err)
			}
			r, err = NewReader(iotest.OneByteReader(bytes.NewReader(data)), only(key1))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(iotest.OneByteReader(r)); err != nil || !bytes.Equal(got, p) {
				t.Fatalf("one byte at a time: %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestWritePieces: how the plaintext is cut into Write calls does not
// change the file.
func TestWritePieces(t *testing.T) {
	p := plaintext(3*ChunkSize + 5)
	want := encrypt(t, p, key1, "file")
	for _, piece := range []int{1, 7, ChunkSize - 1, ChunkSize, ChunkSize + 1} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, key1, detrand.New(seed, "file"))
		if err != nil {
			t.Fatal(err)
		}
		for q := p; len(q) > 0; {
			n := min(piece, len(q))
			if m, err := w.Write(q[:n]); err != nil || m != n {
				t.Fatalf("Write: %d, %v", m, err)
			}
			q = q[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("writing %d bytes at a time gave another file", piece)
		}
	}
}

func TestHeader(t *testing.T) {
	data := encrypt(t, plaintext(10), key1, "file")
	r := bytes.NewReader(data)
	h, err := ReadHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != 1 || h.ChunkSize != 65536 || h.KeyID != key1.ID {
		t.Errorf("header %+v", h)
	}
	if h.Len() != 82+len(key1.ID) {
		t.Errorf("Len %d, want %d", h.Len(), 82+len(key1.ID))
	}
	if !bytes.Equal(h.encode(), data[:h.Len()]) {
		t.Error("the header does not encode back to its bytes")
	}
	if r.Len() != 10+TagSize {
		t.Errorf("ReadHeader left %d bytes, want the %d of the one chunk", r.Len(), 10+TagSize)
	}
	// The same plaintext encrypted twice shares nothing random.
	other, _ := ReadHeader(bytes.NewReader(encrypt(t, plaintext(10), key1, "other file")))
	if other.NoncePrefix == h.NoncePrefix || other.WrappedKey == h.WrappedKey {
		t.Error("two files share a nonce prefix or a wrapped key")
	}
}

// TestReproducible: the file is a function of the plaintext, the key and
// the random stream; a detrand stream with the same seed and label repeats
// it.
func TestReproducible(t *testing.T) {
	a := encrypt(t, plaintext(1000), key1, "data/x.json")
	b := encrypt(t, plaintext(1000), key1, "data/x.json")
	c := encrypt(t, plaintext(1000), key1, "data/y.json")
	if !bytes.Equal(a, b) {
		t.Error("the same seed and label gave different files")
	}
	if bytes.Equal(a[20:], c[20:]) {
		t.Error("different labels gave the same file")
	}
}

// tamper cases: each returns an altered copy of a file of 3 full chunks and
// a short one, and the index of the first chunk that must fail (-1: the
// header).
type tamperCase struct {
	name  string
	chunk int64
	edit  func(t *testing.T, data []byte, hlen int) []byte
}

const tamperSize = 3*ChunkSize + 100

var tamperCases = []tamperCase{
	{"flip first byte of chunk 0", 0, flipAt(0, 0)},
	{"flip last byte of chunk 0 (tag)", 0, flipAt(0, ChunkSize+TagSize-1)},
	{"flip byte in chunk 1", 1, flipAt(1, 1234)},
	{"flip byte in chunk 2", 2, flipAt(2, ChunkSize/2)},
	{"flip byte in last chunk", 3, flipAt(3, 50)},
	{"flip tag of last chunk", 3, flipAt(3, 100+TagSize-1)},
	{"drop last chunk", 2, func(t *testing.T, d []byte, hlen int) []byte { return d[:off(hlen, 3)] }},
	{"drop chunk 1", 1, func(t *testing.T, d []byte, hlen int) []byte { return cat(d[:off(hlen, 1)], d[off(hlen, 2):]) }},
	{"swap chunks 0 and 1", 0, func(t *testing.T, d []byte, hlen int) []byte {
		return cat(d[:hlen], d[off(hlen, 1):off(hlen, 2)], d[off(hlen, 0):off(hlen, 1)], d[off(hlen, 2):])
	}},
	{"swap chunks 2 and last", 2, func(t *testing.T, d []byte, hlen int) []byte {
		return cat(d[:off(hlen, 2)], d[off(hlen, 3):], d[off(hlen, 2):off(hlen, 3)])
	}},
	{"repeat chunk 0", 1, func(t *testing.T, d []byte, hlen int) []byte {
		return cat(d[:off(hlen, 1)], d[off(hlen, 0):])
	}},
	{"append a copy of chunk 0", 3, func(t *testing.T, d []byte, hlen int) []byte { return cat(d, d[off(hlen, 0):off(hlen, 1)]) }},
	{"append a copy of the last chunk", 3, func(t *testing.T, d []byte, hlen int) []byte { return cat(d, d[off(hlen, 3):]) }},
	{"append one byte", 3, func(t *testing.T, d []byte, hlen int) []byte { return cat(d, []byte{0}) }},
	{"truncate mid last chunk", 3, func(t *testing.T, d []byte, hlen int) []byte { return d[:len(d)-1] }},
	{"truncate last chunk to 15 bytes", 3, func(t *testing.T, d []byte, hlen int) []byte { return d[:off(hlen, 3)+15] }},
	{"truncate mid chunk 1", 1, func(t *testing.T, d []byte, hlen int) []byte { return d[:off(hlen, 1)+ChunkSize/2] }},
	{"truncate one byte into chunk 1", 1, func(t *testing.T, d []byte, hlen int) []byte { return d[:off(hlen, 1)+1] }},
	{"truncate after the header", 0, func(t *testing.T, d []byte, hlen int) []byte { return d[:hlen] }},
	{"truncate within the header", -1, func(t *testing.T, d []byte, hlen int) []byte { return d[:hlen-1] }},
	{"another file's header", 0, func(t *testing.T, d []byte, hlen int) []byte {
		o := encrypt(t, plaintext(tamperSize), key1, "another file")
		return cat(o[:hlen], d[hlen:])
	}},
	{"another file's wrapped key", -1, func(t *testing.T, d []byte, hlen int) []byte {
		o := encrypt(t, plaintext(tamperSize), key1, "another file")
		return cat(d[:hlen-WrappedKeySize], o[hlen-WrappedKeySize:hlen], d[hlen:])
	}},
	{"another file's nonce prefix", -1, func(t *testing.T, d []byte, hlen int) []byte {
		o := encrypt(t, plaintext(tamperSize), key1, "another file")
		return cat(d[:13], o[13:20], d[20:])
	}},
	{"another file's chunk 1", 1, func(t *testing.T, d []byte, hlen int) []byte {
		o := encrypt(t, plaintext(tamperSize), key1, "another file")
		return cat(d[:off(hlen, 1)], o[off(hlen, 1):off(hlen, 2)], d[off(hlen, 2):])
	}},
}

// off returns the offset of chunk i.
func off(hlen, i int) int { return hlen + i*(ChunkSize+TagSize) }

func flipAt(chunk, at int) func(*testing.T, []byte, int) []byte {
	return func(t *testing.T, d []byte, hlen int) []byte {
		d = bytes.Clone(d)
		d[off(hlen, chunk)+at] ^= 0x01
		return d
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// checkRejected checks that decrypting data fails with an *Error at the
// given chunk (exit 1), and that what was returned before the error is
// exactly the plaintext of the chunks before it.
func checkRejected(t *testing.T, data, p []byte, lookup Lookup, chunk int64) {
	t.Helper()
	got, err := decrypt(data, lookup)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("decrypted %d bytes with error %v, want an *Error", len(got), err)
	}
	if e.Chunk != chunk {
		t.Errorf("error at chunk %d, want %d: %v", e.Chunk, chunk, err)
	}
	if code := exitcode.For(err); code != exitcode.Verify {
		t.Errorf("exit %d, want %d: %v", code, exitcode.Verify, err)
	}
	if chunk < 0 {
		chunk = 0
	}
	if want := int(chunk) * ChunkSize; !bytes.Equal(got, p[:want]) {
		t.Errorf("returned %d bytes before the error, want the %d of the authenticated chunks", len(got), want)
	}
}

func TestTamper(t *testing.T) {
	p := plaintext(tamperSize)
	data := encrypt(t, p, key1, "file")
	hlen := 82 + len(key1.ID)
	for _, c := range tamperCases {
		t.Run(c.name, func(t *testing.T) {
			checkRejected(t, c.edit(t, bytes.Clone(data), hlen), p, only(key1), c.chunk)
		})
	}
}

// TestTamperHeader flips every bit of every header byte in turn; each is
// refused before any chunk is read, even with a Lookup that has a key for
// every key id.
func TestTamperHeader(t *testing.T) {
	p := plaintext(ChunkSize + 1)
	data := encrypt(t, p, key1, "file")
	hlen := 82 + len(key1.ID)
	for i := range hlen {
		for bit := range 8 {
			d := bytes.Clone(data)
			d[i] ^= 1 << bit
			got, err := decrypt(d, anyID(key1))
			if err == nil || len(got) != 0 {
				t.Fatalf("byte %d bit %d flipped: %d bytes, error %v", i, bit, len(got), err)
			}
			var e *Error
			if !errors.As(err, &e) || exitcode.For(err) != exitcode.Verify {
				t.Fatalf("byte %d bit %d flipped: %v, want an *Error (exit 1)", i, bit, err)
			}
			if e.Chunk != -1 {
				t.Errorf("byte %d bit %d flipped: %v, want a header error", i, bit, err)
			}
		}
	}
}

// TestEmptyChunkAfterFull: a file whose plaintext ends at a chunk boundary
// ends in a full last chunk; an empty last chunk after a full one is
// refused even when it authenticates.
func TestEmptyChunkAfterFull(t *testing.T) {
	p := plaintext(ChunkSize)
	data := encrypt(t, p, key1, "file")
	h, dataKey, err := open(bytes.NewReader(data), only(key1))
	if err != nil {
		t.Fatal(err)
	}
	aead, err := payloadAEAD(dataKey, h)
	if err != nil {
		t.Fatal(err)
	}
	forged := h.encode()
	forged = aead.Seal(forged, chunkNonce(h.NoncePrefix, 0, false), p, nil)
	forged = aead.Seal(forged, chunkNonce(h.NoncePrefix, 1, true), nil, nil)
	checkRejected(t, forged, p, only(key1), 1)
}

func TestKeys(t *testing.T) {
	data := encrypt(t, plaintext(100), key1, "file")
	t.Run("wrong master key", func(t *testing.T) {
		checkRejected(t, data, nil, only(Key{ID: key1.ID, Secret: key2.Secret}), -1)
	})
	t.Run("unknown key id", func(t *testing.T) {
		_, err := decrypt(data, only(key2))
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), key1.ID) {
			t.Fatalf("%v, want the lookup's error naming %s", err, key1.ID)
		}
	})
	t.Run("lookup gives a short key", func(t *testing.T) {
		_, err := decrypt(data, only(Key{ID: key1.ID, Secret: key1.Secret[:16]}))
		if exitcode.For(err) != exitcode.Invalid {
			t.Fatalf("%v, want exit 3", err)
		}
	})
	for _, k := range []Key{
		{ID: "", Secret: key1.Secret},
		{ID: "alias/a b", Secret: key1.Secret},
		{ID: "alias/\u00e9", Secret: key1.Secret},
		{ID: "alias/x\n", Secret: key1.Secret},
		{ID: strings.Repeat("k", MaxKeyIDLen+1), Secret: key1.Secret},
		{ID: "alias/short", Secret: key1.Secret[:31]},
		{ID: "alias/long", Secret: append(bytes.Clone(key1.Secret), 0)},
	} {
		if _, err := NewWriter(io.Discard, k, detrand.New(seed, "x")); exitcode.For(err) != exitcode.Invalid {
			t.Errorf("NewWriter with key id %q, %d-byte secret: %v, want exit 3", k.ID, len(k.Secret), err)
		}
		if err := Rewrap(bytes.NewReader(data), io.Discard, only(key1), k, detrand.New(seed, "x")); exitcode.For(err) != exitcode.Invalid {
			t.Errorf("Rewrap to key id %q, %d-byte secret: %v, want exit 3", k.ID, len(k.Secret), err)
		}
	}
	long := Key{ID: strings.Repeat("k", MaxKeyIDLen), Secret: key1.Secret}
	if got, err := decrypt(encrypt(t, plaintext(5), long, "file"), only(long)); err != nil || !bytes.Equal(got, plaintext(5)) {
		t.Fatalf("a %d-byte key id: %v", MaxKeyIDLen, err)
	}
}

func TestRewrap(t *testing.T) {
	p := plaintext(1<<20 + 3)
	old := encrypt(t, p, key1, "file")
	var buf bytes.Buffer
	if err := Rewrap(bytes.NewReader(old), &buf, only(key1), key2, detrand.New(seed, "rewrap")); err != nil {
		t.Fatal(err)
	}
	rewrapped := buf.Bytes()
	h1, _ := ReadHeader(bytes.NewReader(old))
	h2, err := ReadHeader(bytes.NewReader(rewrapped))
	if err != nil {
		t.Fatal(err)
	}
	if h2.KeyID != key2.ID {
		t.Errorf("key id %q after rewrap, want %q", h2.KeyID, key2.ID)
	}
	if !bytes.Equal(old[:20], rewrapped[:20]) {
		t.Error("rewrap changed the header's fixed part")
	}
	if !bytes.Equal(old[h1.Len():], rewrapped[h2.Len():]) {
		t.Fatal("rewrap changed the chunks")
	}
	if got, err := decrypt(rewrapped, only(key2)); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("with only the new key: %d bytes, %v", len(got), err)
	}
	if _, err := decrypt(rewrapped, only(key1)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("with only the old key: %v, want its lookup to fail", err)
	}
	checkRejected(t, rewrapped, p, only(Key{ID: key2.ID, Secret: key1.Secret}), -1)

	// Rewrapping under the same key id draws a new wrap nonce.
	buf.Reset()
	if err := Rewrap(bytes.NewReader(old), &buf, only(key1), key1, detrand.New(seed, "rewrap")); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(buf.Bytes(), old) || !bytes.Equal(buf.Bytes()[h1.Len():], old[h1.Len():]) {
		t.Error("rewrap under the same key: want a new wrapped key and the same chunks")
	}
}

// TestRewrapTampered: Rewrap authenticates what it copies.
func TestRewrapTampered(t *testing.T) {
	data := encrypt(t, plaintext(tamperSize), key1, "file")
	hlen := 82 + len(key1.ID)
	for _, c := range tamperCases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Rewrap(bytes.NewReader(c.edit(t, bytes.Clone(data), hlen)), &buf, only(key1), key2, detrand.New(seed, "rewrap"))
			var e *Error
			if !errors.As(err, &e) || e.Chunk != c.chunk {
				t.Fatalf("%v, want an *Error at chunk %d", err, c.chunk)
			}
			want := 0
			if c.chunk >= 0 {
				want = 82 + len(key2.ID) + int(c.chunk)*(ChunkSize+TagSize)
			}
			if buf.Len() != want {
				t.Errorf("wrote %d bytes: more than the header and the chunks before the bad one", buf.Len())
			}
		})
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n < len(p) {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestWriterErrors(t *testing.T) {
	if _, err := NewWriter(io.Discard, key1, bytes.NewReader(make([]byte, 35))); err == nil || !strings.Contains(err.Error(), "nonce prefix") {
		t.Errorf("a random source that runs dry: %v", err)
	}
	if _, err := NewWriter(&failWriter{}, key1, detrand.New(seed, "x")); err == nil {
		t.Error("a header write that fails: no error")
	}
	if _, err := NewWriter(shortWriter{}, key1, detrand.New(seed, "x")); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("a short header write: %v", err)
	}
	w, err := NewWriter(&failWriter{n: 100}, key1, detrand.New(seed, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plaintext(ChunkSize + 1)); err == nil {
		t.Fatal("a chunk write that fails: no error")
	}
	if _, err := w.Write([]byte{1}); err == nil {
		t.Error("the write error is not sticky")
	}
	if err := w.Close(); err == nil {
		t.Error("Close after a failed write: no error")
	}

	w, _ = NewWriter(io.Discard, key1, detrand.New(seed, "x"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	if _, err := w.Write([]byte{1}); err == nil {
		t.Error("Write after Close: no error")
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestReadError: an error of the source is passed on, not reported as
// tampering.
func TestReadError(t *testing.T) {
	data := encrypt(t, plaintext(ChunkSize+1), key1, "file")
	boom := errors.New("device error")
	r, err := NewReader(io.MultiReader(bytes.NewReader(data[:200]), errReader{boom}), only(key1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	var e *Error
	if !errors.Is(err, boom) || errors.As(err, &e) {
		t.Fatalf("%v, want the source's error", err)
	}
	if _, err := NewReader(io.MultiReader(bytes.NewReader(data[:30]), errReader{boom}), only(key1)); !errors.Is(err, boom) {
		t.Fatalf("header: %v, want the source's error", err)
	}
}

func randFor(label string) io.Reader { return detrand.New(seed, label) }

// TestFIPSOnly: under GODEBUG=fips140=only, which forbids AES-GCM with
// explicit nonces, every entry point fails with an environment error (exit
// 4) instead of panicking. The check runs in a child test process, since
// GODEBUG is read at start-up.
func TestFIPSOnly(t *testing.T) {
	if os.Getenv("ENVELOPE_FIPS_CHILD") == "1" {
		checks := map[string]error{}
		_, checks["NewWriter"] = NewWriter(io.Discard, key1, randFor("x"))
		vector, err := os.ReadFile(filepath.Join("testdata", "vector-small.enc"))
		if err != nil {
			t.Fatal(err)
		}
		_, checks["NewReader"] = NewReader(bytes.NewReader(vector), only(vectorKey()))
		checks["Rewrap"] = Rewrap(bytes.NewReader(vector), io.Discard, only(vectorKey()), key2, randFor("x"))
		for name, err := range checks {
			if exitcode.For(err) != exitcode.IO || !strings.Contains(err.Error(), "fips140=only") {
				t.Errorf("%s: %v, want an environment error (exit 4) naming fips140=only", name, err)
			}
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFIPSOnly$", "-test.v")
	cmd.Env = append(os.Environ(), "GODEBUG=fips140=only", "ENVELOPE_FIPS_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
