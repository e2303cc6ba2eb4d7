// Package hostile generates the corpus of hostile and malformed archives
// that the reader, the verifier and the CLI are tested against. Every case is
// built by code from a description, deterministically, so the corpus can be
// regenerated and reviewed rather than kept as opaque binary blobs. It is
// imported by tests only and never linked into the binary.
//
// `go test ./internal/hostile -update` writes the corpus to
// testdata/hostile/ at the top of the repository, with EXPECTED.tsv listing
// each file, the exit code `stella-export verify` must give and a phrase its
// error must contain, so that anyone can try the files by hand.
package hostile

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"

	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/merkle"
	"github.com/stella-ops/stella-export/internal/safepath"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// Level says which layer must refuse a case.
type Level int

const (
	// Archive cases are refused by tarball.Reader itself.
	Archive Level = iota
	// Bundle cases are well-formed archives whose bundle content lies; the
	// verifier refuses them.
	Bundle
)

// Case is one hostile input.
type Case struct {
	Name  string // file name in the corpus, e.g. "dotdot.tgz"
	About string // what the case attacks
	Level Level
	// Kind is the sentinel the tarball.Reader error wraps (Archive cases).
	Kind error
	// Code is the exit code of `stella-export verify` on the file.
	Code int
	// Want is a phrase the one-line error must contain.
	Want string
	Data []byte
}

var pinned = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Corpus returns every case, in a fixed order. It panics only if the
// generator itself is broken (a programming error, caught by its tests).
func Corpus() []Case {
	good := validBundle()
	cs := []Case{
		// Names.
		arch("dotdot.tgz", "path traversal with a leading '..'", safepath.ErrUnsafe, "'..' component",
			tgz(tarOf(reg("../evil.txt", "x")))),
		arch("dotdot-inside.tgz", "path traversal through an inner '..'", safepath.ErrUnsafe, "'..' component",
			tgz(tarOf(dir("a/"), reg("a/../../evil.txt", "x")))),
		arch("absolute.tgz", "absolute path", safepath.ErrUnsafe, "absolute path",
			tgz(tarOf(reg("/etc/cron.d/evil", "x")))),
		arch("dot-slash.tgz", "'./' prefix (entry names never start with ./)", safepath.ErrUnsafe, "'.' component",
			tgz(tarOf(reg("./a.txt", "x")))),
		arch("double-slash.tgz", "empty path component", safepath.ErrUnsafe, "empty path component",
			tgz(tarOf(reg("a//b.txt", "x")))),
		arch("backslash.tgz", "Windows separator hiding a traversal", safepath.ErrUnsafe, "backslash",
			tgz(tarOf(reg(`a\..\..\evil.txt`, "x")))),
		arch("newline.tgz", "newline that would forge a checksums.txt line", safepath.ErrUnsafe, "newline",
			tgz(tarOf(reg("a\nb.txt", "x")))),
		arch("control-char.tgz", "terminal escape in a name", safepath.ErrUnsafe, "control character",
			tgz(tarOf(reg("a\x1b[2Jb.txt", "x")))),
		arch("invalid-utf8.tgz", "name that is not UTF-8", safepath.ErrUnsafe, "not valid UTF-8",
			tgz(tarOf(reg("caf\xe9.txt", "x")))),
		arch("file-slash.tgz", "regular file whose name ends in '/'", safepath.ErrUnsafe, "ends in '/'",
			tgz(cat(ustar("a.txt/", '0', 1), pad([]byte("x")), end()))),
		arch("long-name.tgz", "name longer than 4096 bytes", safepath.ErrUnsafe, "longer than",
			tgz(tarOf(reg(strings.Repeat("n/", 2100)+"x", "x")))),
		// Entry types.
		arch("symlink.tgz", "symbolic link out of the tree", tarball.ErrEntryType, "symbolic link",
			tgz(tarOf(reg("a.txt", "x"), &tar.Header{Name: "b", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd", Mode: 0o777}))),
		arch("hardlink.tgz", "hard link", tarball.ErrEntryType, "hard link",
			tgz(tarOf(reg("a.txt", "x"), &tar.Header{Name: "b", Typeflag: tar.TypeLink, Linkname: "a.txt", Mode: 0o644}))),
		arch("chardev.tgz", "character device", tarball.ErrEntryType, "character device",
			tgz(tarOf(&tar.Header{Name: "null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666}))),
		arch("blockdev.tgz", "block device", tarball.ErrEntryType, "block device",
			tgz(tarOf(&tar.Header{Name: "sda", Typeflag: tar.TypeBlock, Devmajor: 8, Mode: 0o660}))),
		arch("fifo.tgz", "named pipe", tarball.ErrEntryType, "FIFO",
			tgz(tarOf(&tar.Header{Name: "pipe", Typeflag: tar.TypeFifo, Mode: 0o644}))),
		arch("pax-global.tgz", "PAX global header changing later entries", tarball.ErrEntryType, "PAX global header",
			tgz(tarOf(&tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"path": "evil"}}, reg("a.txt", "x")))),
		arch("gnu-sparse.tgz", "old GNU sparse file", tarball.ErrEntryType, "sparse",
			tgz(gnuSparse())),
		arch("pax-sparse.tgz", "PAX 1.0 sparse file (GNU.sparse records)", tarball.ErrEntryType, "sparse",
			tgz(paxSparse())),
		// Duplicates.
		arch("duplicate.tgz", "the same name twice (the second would win on extraction)", tarball.ErrDuplicate, "appears twice",
			tgz(tarOf(reg("a.txt", "good"), reg("a.txt", "evil")))),
		arch("file-dir-clash.tgz", "a directory and a file of the same name", tarball.ErrDuplicate, "appears twice",
			tgz(tarOf(dir("a/"), reg("a", "x")))),
		// Headers.
		arch("pax-path-lies.tgz", "PAX path record overriding a harmless ustar name", safepath.ErrUnsafe, "'..' component",
			tgz(paxRecordRaw("harmless.txt", "path", "../../evil.txt"))),
		arch("pax-size-lies.tgz", "PAX size record larger than the data", tarball.ErrTruncated, "ends early",
			paxSizeLies()),
		arch("pax-nul.tgz", "NUL byte inside a PAX path record", tarball.ErrBadHeader, "malformed tar header",
			tgz(paxRecordRaw("a.txt", "path", "a\x00b"))),
		arch("huge-pax.tgz", "PAX header over 1 MiB (memory exhaustion)", tarball.ErrBadHeader, "malformed tar header",
			tgz(paxRecordRaw("a.txt", "comment", strings.Repeat("A", 1<<20+1)))),
		arch("huge-gnu-longname.tgz", "GNU long-name header over 1 MiB", tarball.ErrBadHeader, "malformed tar header",
			tgz(gnuLongName(1<<20+1))),
		arch("bad-header-checksum.tgz", "tar header checksum that does not match", tarball.ErrBadHeader, "malformed tar header",
			tgz(patch(tarOf(reg("a.txt", "x")), 148, "0000000\x00"))),
		arch("bad-size-field.tgz", "non-octal size field", tarball.ErrBadHeader, "malformed tar header",
			tgz(fixSum(patch(tarOf(reg("a.txt", "x")), 124, "zzzzzzzzzzz\x00")))),
		arch("negative-size.tgz", "negative base-256 size", tarball.ErrBadHeader, "malformed tar header",
			tgz(fixSum(patch(tarOf(reg("a.txt", "x")), 124, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")))),
		arch("dir-with-data.tgz", "directory entry that carries data", tarball.ErrBadHeader, "size 5",
			tgz(cat(ustar("d/", '5', 5), pad([]byte("hello")), end()))),
		// Streams.
		arch("empty.tgz", "zero-byte file", tarball.ErrTruncated, "empty or truncated gzip header", nil),
		arch("plain-tar.tgz", "an uncompressed tar named .tgz", tarball.ErrNotGzip, "not a gzip stream",
			tarOf(reg("a.txt", "x"))),
		arch("truncated-gzip.tgz", "bundle cut in the middle of the gzip stream", tarball.ErrTruncated, "truncated archive",
			good[:len(good)/2]),
		arch("truncated-tar.tgz", "complete gzip stream holding a tar cut inside an entry", tarball.ErrTruncated, "truncated archive",
			tgz(tarOf(reg("a.txt", strings.Repeat("x", 4096)))[:1024])),
		arch("no-end-marker.tgz", "tar stream without its end-of-archive blocks", tarball.ErrTruncated, "truncated archive",
			tgz(noEnd(tarOf(reg("a.txt", "x"))))),
		arch("corrupt-deflate.tgz", "bit flip inside the compressed data", tarball.ErrTruncated, "gzip data corrupt",
			flip(good, len(good)/2)),
		arch("bad-crc.tgz", "gzip trailer CRC that does not match", tarball.ErrTruncated, "gzip data corrupt",
			flip(good, len(good)-6)),
		arch("trailing-garbage.tgz", "bytes after the gzip member", tarball.ErrTrailingData, "after the gzip member",
			cat(good, []byte("#!/bin/sh\nrm -rf /\n"))),
		arch("second-member.tgz", "a second gzip member appending entries", tarball.ErrTrailingData, "after the gzip member",
			cat(good, tgz(tarOf(reg("evil.txt", "x"))))),
		arch("data-after-end.tgz", "tar entries hidden after the end-of-archive marker", tarball.ErrTrailingData, "after the tar end-of-archive marker",
			tgz(cat(tarOf(reg("a.txt", "x")), tarOf(reg("hidden.txt", "y"))))),
		arch("bomb.tgz", "decompression bomb: 512 MiB of zeros in 0.5 MB", tarball.ErrTooLarge, "decompression bomb",
			Bomb(512)),
	}
	cs = append(cs, bundleCases(good)...)
	return cs
}

func arch(name, about string, kind error, want string, data []byte) Case {
	if data == nil {
		data = []byte{}
	}
	return Case{Name: name, About: about, Level: Archive, Kind: kind, Code: 3, Want: want, Data: data}
}

func bundleCases(good []byte) []Case {
	lie := func(name, about, want string, code int, edit func(map[string][]byte)) Case {
		return Case{Name: name, About: about, Level: Bundle, Code: code, Want: want, Data: rewrite(good, edit)}
	}
	return []Case{
		lie("checksums-digest-lies.tgz", "a payload file changed and its checksums.txt line and root forged to match the old content",
			"data/advisory.json", 1, func(f map[string][]byte) {
				f["data/advisory.json"] = []byte(`{"id":"GHSA-evil"}` + "\n")
			}),
		lie("checksums-root-lies.tgz", "root line of checksums.txt that does not match its lines",
			"root", 1, func(f map[string][]byte) {
				c := f[layout.Checksums]
				i := bytes.IndexByte(c, '\n')
				f[layout.Checksums] = append([]byte("root sha256:"+strings.Repeat("0", 64)), c[i:]...)
			}),
		lie("checksums-malformed.tgz", "checksums.txt that is not in the checksums.txt format",
			layout.Checksums, 3, func(f map[string][]byte) {
				f[layout.Checksums] = []byte("this is not a checksums file\n")
			}),
		lie("checksums-unsafe-line.tgz", "checksums.txt listing a traversal path",
			layout.Checksums, 3, func(f map[string][]byte) {
				f[layout.Checksums] = relist(f, map[string]string{"data/advisory.json": "../advisory.json"})
			}),
		lie("checksums-missing-line.tgz", "a payload file that checksums.txt does not list (smuggled file)",
			"data/smuggled.sh", 1, func(f map[string][]byte) {
				f["data/smuggled.sh"] = []byte("#!/bin/sh\n")
			}),
		lie("checksums-absent-file.tgz", "checksums.txt listing a file that the archive lacks",
			"data/notes.txt", 1, func(f map[string][]byte) {
				delete(f, "data/notes.txt")
			}),
		lie("no-checksums.tgz", "bundle without checksums.txt",
			layout.Checksums, 1, func(f map[string][]byte) {
				delete(f, layout.Checksums)
			}),
	}
}

// validBundle is a small, correct bundle: the base that bundle-level cases
// edit and stream-level cases cut.
func validBundle() []byte {
	files := map[string]string{
		"data/advisory.json": `{"id":"GHSA-0000-0000-0000","summary":"sample"}` + "\n",
		"data/notes.txt":     "hostile corpus base bundle\n",
	}
	var srcs bundle.List
	for name, body := range files {
		srcs = append(srcs, bundle.Source{Name: name, Size: int64(len(body)), Origin: name,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }})
	}
	render := func(s bundle.Summary) (bundle.Docs, error) {
		m := manifest.Export{Format: manifest.Format, Profile: manifest.ProfileDirectory,
			ExportID: manifest.DerivedExportID(s.Root), CreatedAtUTC: manifest.Timestamp(pinned),
			ExporterVersion: "hostile-corpus", FileCount: s.Files, PayloadBytes: s.Bytes,
			PayloadRoot: s.Root.String()}
		b, err := manifest.Bytes(m)
		return bundle.Docs{Manifest: b, Readme: []byte("# hostile corpus base\n")}, err
	}
	var buf bytes.Buffer
	if _, err := bundle.Write(context.Background(), &buf, srcs, render, bundle.Options{ModTime: pinned, Concurrency: 1}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// rewrite reads a bundle, lets edit change its regular files (keyed by
// name) and writes the archive again through tarball.Writer, so the archive
// is well-formed and only its content lies: checksums.txt keeps describing
// the original files unless edit replaces it.
func rewrite(good []byte, edit func(map[string][]byte)) []byte {
	files := map[string][]byte{}
	rd, err := tarball.NewReader(bytes.NewReader(good), tarball.Limits{})
	if err != nil {
		panic(err)
	}
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		if e.Dir {
			continue
		}
		b, err := io.ReadAll(rd)
		if err != nil {
			panic(err)
		}
		files[e.Name] = b
	}
	edit(files)
	return writeFiles(files)
}

// relist returns checksums.txt with some paths renamed, root recomputed.
func relist(files map[string][]byte, rename map[string]string) []byte {
	f, err := checksums.Parse(bytes.NewReader(files[layout.Checksums]))
	if err != nil {
		panic(err)
	}
	var lines []string
	var leaves []digest.SHA256
	for _, e := range f.Entries {
		if r, ok := rename[e.Path]; ok {
			e.Path = r
		}
		lines = append(lines, e.Line())
		leaves = append(leaves, merkle.LeafHash([]byte(e.Line())))
	}
	root := merkle.Root(leaves)
	return []byte("root " + root.String() + "\n" + strings.Join(lines, "\n") + "\n")
}

func writeFiles(files map[string][]byte) []byte {
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	var buf bytes.Buffer
	w, err := tarball.NewWriter(&buf, tarball.Options{ModTime: pinned, Concurrency: 1})
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		if err := w.File(n, int64(len(files[n])), bytes.NewReader(files[n])); err != nil {
			panic(err)
		}
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// --- tar and gzip construction ---

func reg(name, body string) []any {
	return []any{&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: pinned, Format: tar.FormatPAX}, body}
}

func dir(name string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: pinned, Format: tar.FormatPAX}
}

// tarOf writes headers, each optionally followed by its body string, with
// archive/tar; []any groups from reg are flattened.
func tarOf(items ...any) []byte {
	var flat []any
	for _, it := range items {
		if g, ok := it.([]any); ok {
			flat = append(flat, g...)
		} else {
			flat = append(flat, it)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < len(flat); i++ {
		h := flat[i].(*tar.Header)
		if h.ModTime.IsZero() && h.Typeflag != tar.TypeXGlobalHeader {
			h.ModTime = pinned
		}
		if h.Format == tar.FormatUnknown && h.Typeflag != tar.TypeXGlobalHeader {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(fmt.Sprintf("%s: %v", h.Name, err))
		}
		if i+1 < len(flat) {
			if body, ok := flat[i+1].(string); ok {
				if _, err := io.WriteString(tw, body); err != nil {
					panic(err)
				}
				i++
			}
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// tgz compresses with a pinned gzip header and level, so the corpus bytes
// depend only on the pinned klauspost/compress version.
func tgz(b []byte) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		panic(err)
	}
	zw.ModTime = pinned
	zw.OS = 255
	if _, err := zw.Write(b); err != nil {
		panic(err)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func flip(b []byte, at int) []byte {
	c := bytes.Clone(b)
	c[at] ^= 0x55
	return c
}

func patch(b []byte, at int, s string) []byte {
	c := bytes.Clone(b)
	copy(c[at:], s)
	return c
}

// fixSum recomputes the checksum of the first header block so that only
// the patched field is wrong.
func fixSum(b []byte) []byte {
	c := bytes.Clone(b)
	copy(c[148:156], "        ")
	var sum int64
	for _, x := range c[:512] {
		sum += int64(x)
	}
	copy(c[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return c
}

// noEnd drops the two zero blocks (and the padding to 10 KiB) at the end.
func noEnd(b []byte) []byte {
	return bytes.TrimRight(b, "\x00")[:((len(bytes.TrimRight(b, "\x00"))+511)/512)*512]
}

// ustar builds one raw 512-byte header block.
func ustar(name string, flag byte, size int64) []byte {
	h := make([]byte, 512)
	copy(h[0:100], name)
	copy(h[100:108], "0000644\x00")
	copy(h[108:116], "0000000\x00")
	copy(h[116:124], "0000000\x00")
	copy(h[124:136], fmt.Sprintf("%011o\x00", size))
	copy(h[136:148], fmt.Sprintf("%011o\x00", pinned.Unix()))
	h[156] = flag
	copy(h[257:263], "ustar\x00")
	copy(h[263:265], "00")
	copy(h[148:156], "        ")
	var sum int64
	for _, x := range h {
		sum += int64(x)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return h
}

func pad(b []byte) []byte {
	if r := len(b) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

func end() []byte { return make([]byte, 1024) }

func gnuSparse() []byte {
	h := ustar("sparse.bin", 'S', 512)
	// GNU magic instead of ustar, one sparse map entry: offset 0, size 512,
	// real size 4096.
	copy(h[257:265], "ustar  \x00")
	copy(h[386:398], fmt.Sprintf("%011o\x00", 0))
	copy(h[398:410], fmt.Sprintf("%011o\x00", 512))
	copy(h[483:495], fmt.Sprintf("%011o\x00", 4096))
	copy(h[148:156], "        ")
	var sum int64
	for _, x := range h {
		sum += int64(x)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return cat(h, bytes.Repeat([]byte{'s'}, 512), end())
}

func paxRecord(k, v string) string {
	rec := " " + k + "=" + v + "\n"
	n := len(rec)
	for {
		l := len(strconv.Itoa(n + len(strconv.Itoa(n)))) // length of the length prefix
		if len(strconv.Itoa(len(rec)+l)) == l {
			return strconv.Itoa(len(rec)+l) + rec
		}
		n++
	}
}

// paxRecordRaw writes a PAX extended header with one record, verbatim,
// followed by an entry of one byte.
func paxRecordRaw(name, k, v string) []byte {
	recs := paxRecord(k, v)
	return cat(ustar("PaxHeaders/"+name, 'x', int64(len(recs))), pad([]byte(recs)),
		ustar(name, '0', 1), pad([]byte("x")), end())
}

func paxSparse() []byte {
	recs := paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", "sparse.bin") + paxRecord("GNU.sparse.realsize", "4096")
	// PAX 1.0 sparse data starts with the map: count, then offset/size pairs.
	body := pad([]byte("1\n0\n512\n"))
	body = append(body, bytes.Repeat([]byte{'s'}, 512)...)
	return cat(ustar("PaxHeaders/sparse", 'x', int64(len(recs))), pad([]byte(recs)),
		ustar("GNUSparseFile.0/sparse.bin", '0', int64(len(body))), body, end())
}

func paxSizeLies() []byte {
	recs := paxRecord("size", "1099511627776")
	return tgz(cat(ustar("PaxHeaders/a.txt", 'x', int64(len(recs))), pad([]byte(recs)),
		ustar("a.txt", '0', 1), pad([]byte("x")), end()))
}

func gnuLongName(n int) []byte {
	name := bytes.Repeat([]byte{'L'}, n)
	return cat(ustar("././@LongLink", 'L', int64(n)), pad(name), ustar("a.txt", '0', 1), pad([]byte("x")), end())
}

// Bomb returns a gzip stream of one tar entry whose content is mib MiB of
// zeros, built from repeated independently compressed 1 MiB segments, so a
// bomb of any size costs little time to build. The stream is valid to its
// last byte (CRC and length included).
func Bomb(mib int) []byte {
	const seg = 1 << 20
	size := int64(mib)*seg - 512 - 1024
	first := make([]byte, seg)
	copy(first, ustar("bomb.bin", '0', size))
	segment := func(b []byte) []byte {
		var buf bytes.Buffer
		fw, err := flate.NewWriter(&buf, flate.BestCompression)
		if err != nil {
			panic(err)
		}
		if _, err := fw.Write(b); err != nil {
			panic(err)
		}
		if err := fw.Flush(); err != nil {
			panic(err)
		}
		return buf.Bytes()
	}
	head := segment(first)
	zeros := segment(make([]byte, seg))
	var out bytes.Buffer
	out.Write([]byte{0x1f, 0x8b, 8, 0})
	binary.Write(&out, binary.LittleEndian, uint32(pinned.Unix()))
	out.Write([]byte{2, 255})
	out.Write(head)
	crc := crc32.ChecksumIEEE(first)
	zcrc := make([]byte, seg)
	for i := 1; i < mib; i++ {
		out.Write(zeros)
		crc = crc32.Update(crc, crc32.IEEETable, zcrc)
	}
	out.Write([]byte{0x03, 0x00}) // final empty fixed-Huffman block
	binary.Write(&out, binary.LittleEndian, crc)
	binary.Write(&out, binary.LittleEndian, uint32(int64(mib)*seg))
	return out.Bytes()
}

// Expected renders EXPECTED.tsv for cases.
func Expected(cs []Case) []byte {
	var b strings.Builder
	b.WriteString("file\texit code\tmessage contains\twhat it attacks\n")
	for _, c := range cs {
		fmt.Fprintf(&b, "%s\t%d\t%s\t%s\n", c.Name, c.Code, c.Want, c.About)
	}
	return []byte(b.String())
}
