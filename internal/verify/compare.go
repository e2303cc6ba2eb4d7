package verify

import (
	"bytes"
	"slices"

	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/digest"
)

// comparer matches the archive's files against checksums.txt while the
// archive streams by, keeping as few names as it can. checksums.txt holds
// every listed path (sorted, so a file is found by binary search). A file
// that arrives after checksums.txt is compared at once and only its index
// is kept; a file that arrives before it (or that it does not list) keeps
// its name, packed in one byte slice. Bundles stella-export writes put
// checksums.txt before every payload file, so verify holds their names
// once; a crafted archive can make it hold them twice, within the reader's
// MaxNameBytes.
type comparer struct {
	sums    *checksums.File
	matched []uint64 // bit i: entry i of sums was found in the archive
	bad     []badDigest
	pending []namedFile // before checksums.txt, or not listed in it
	names   []byte      // the names of pending
}

type badDigest struct {
	i   int
	got digest.SHA256
}

type namedFile struct {
	off, n int
	digest digest.SHA256
}

func (c *comparer) name(f namedFile) string { return string(c.names[f.off : f.off+f.n]) }

// file records one file of the archive (not checksums.txt).
func (c *comparer) file(name string, d digest.SHA256) {
	if c.sums != nil && c.match(name, d) {
		return
	}
	c.pending = append(c.pending, namedFile{off: len(c.names), n: len(name), digest: d})
	c.names = append(c.names, name...)
}

// match compares a file with its line, and reports whether it has one.
func (c *comparer) match(name string, d digest.SHA256) bool {
	i := c.sums.Index(name)
	if i < 0 {
		return false
	}
	c.matched[i/64] |= 1 << (i % 64)
	if c.sums.Entries[i].Digest != d {
		c.bad = append(c.bad, badDigest{i, d})
	}
	return true
}

// setSums takes the parsed checksums.txt and compares the files read so
// far; the ones it does not list stay pending, as extras.
func (c *comparer) setSums(f *checksums.File) {
	c.sums = f
	c.matched = make([]uint64, (len(f.Entries)+63)/64)
	kept := c.pending[:0]
	var names []byte
	for _, p := range c.pending {
		if c.match(c.name(p), p.digest) {
			continue
		}
		kept = append(kept, namedFile{off: len(names), n: p.n, digest: p.digest})
		names = append(names, c.names[p.off:p.off+p.n]...)
	}
	c.pending, c.names = kept, names
}

// report adds, in checksums.txt order, a problem for every listed file
// that is missing or differs, then one for every extra file, sorted.
func (c *comparer) report(rep *Report) {
	slices.SortFunc(c.bad, func(a, b badDigest) int { return a.i - b.i })
	bad := c.bad
	for i, ent := range c.sums.Entries {
		if c.matched[i/64]&(1<<(i%64)) == 0 {
			rep.add(ent.Path, "missing", "listed in checksums.txt but not in the archive")
			continue
		}
		if len(bad) > 0 && bad[0].i == i {
			rep.add(ent.Path, "digest", "SHA-256 is %s, checksums.txt says %s", bad[0].got.Hex(), ent.Digest.Hex())
			bad = bad[1:]
		}
	}
	slices.SortFunc(c.pending, func(a, b namedFile) int {
		return bytes.Compare(c.names[a.off:a.off+a.n], c.names[b.off:b.off+b.n])
	})
	for _, p := range c.pending {
		rep.add(c.name(p), "extra", "in the archive but not listed in checksums.txt")
	}
}
