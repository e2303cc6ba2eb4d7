package bundle

import (
	"strings"

	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// verifyLimits are the limits a bundle must pass: verify's defaults, so
// that package never writes a bundle its own verify refuses. A variable
// only so that tests can check the refusal on small bundles.
var verifyLimits = tarball.DefaultLimits

// limitCounter refuses a payload whose bundle would exceed lim: more
// entries or more bytes of entry names than verify accepts by default, or
// a checksums.txt larger than it reads. It counts sources as they stream
// by in byte-wise order, with the parent directories the writer adds and
// every document the bundle may generate; only the last name is kept,
// since a parent was already counted exactly when it is a prefix of the
// name before.
type limitCounter struct {
	lim     tarball.Limits
	entries int
	names   int64
	sums    int64
	last    string
}

func newLimitCounter(lim tarball.Limits) *limitCounter {
	c := &limitCounter{lim: lim, entries: len(layout.Generated()), sums: checksums.SizeFor(0, 0)}
	for _, g := range layout.Generated() {
		c.names += int64(len(g))
		if g != layout.Checksums {
			c.sums += checksums.SizeFor(1, int64(len(g))) - checksums.SizeFor(0, 0)
		}
	}
	return c
}

// add counts s, whose name sorts after the previous one.
func (c *limitCounter) add(s Source) {
	c.entries++
	c.names += int64(len(s.Name))
	if !s.Dir() {
		c.sums += checksums.SizeFor(1, int64(len(s.Name))) - checksums.SizeFor(0, 0)
	}
	for i := 0; i < len(s.Name)-1; i++ {
		if s.Name[i] == '/' && !strings.HasPrefix(c.last, s.Name[:i+1]) {
			c.entries++
			c.names += int64(i + 1)
		}
	}
	c.last = s.Name
}

// over reports whether a limit is exceeded already.
func (c *limitCounter) over() bool {
	return c.entries > c.lim.MaxEntries || c.names > c.lim.MaxNameBytes || c.sums > checksums.MaxSize
}

// err is the refusal, once every source is counted.
func (c *limitCounter) err() error {
	switch {
	case c.entries > c.lim.MaxEntries:
		return exitcode.Invalidf("the bundle would have %d entries, more than the %d verify accepts by default; split the export", c.entries, c.lim.MaxEntries)
	case c.names > c.lim.MaxNameBytes:
		return exitcode.Invalidf("the bundle's entry names would total %d bytes, more than the %d verify accepts by default; shorten the paths or split the export", c.names, c.lim.MaxNameBytes)
	case c.sums > checksums.MaxSize:
		return exitcode.Invalidf("the bundle's %s would be %d bytes, more than the %d verify reads by default; shorten the paths or split the export", layout.Checksums, c.sums, int64(checksums.MaxSize))
	}
	return nil
}
