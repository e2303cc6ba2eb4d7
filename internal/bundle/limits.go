package bundle

import (
	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/safepath"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// verifyLimits are the limits a bundle must pass: verify's defaults, so
// that package never writes a bundle its own verify refuses. A variable
// only so that tests can check the refusal on small bundles.
var verifyLimits = tarball.DefaultLimits

// checkVerifiable refuses, before anything is hashed or written, a payload
// whose bundle would exceed lim: more entries or more bytes of entry names
// than verify accepts by default, or a checksums.txt larger than it reads.
// srcs are sorted and unique. The count includes the parent directories the
// writer adds and every document the bundle may generate.
func checkVerifiable(srcs []Source, lim tarball.Limits) error {
	generated := layout.Generated()
	entries, names := len(generated), int64(0)
	sums := checksums.SizeFor(0, 0)
	for _, g := range generated {
		names += int64(len(g))
		if g != layout.Checksums {
			sums += checksums.SizeFor(1, int64(len(g))) - checksums.SizeFor(0, 0)
		}
	}
	have := make(map[string]struct{}, len(srcs))
	for _, s := range srcs {
		have[s.Name] = struct{}{}
	}
	for _, s := range srcs {
		entries++
		names += int64(len(s.Name))
		if !s.Dir() {
			sums += checksums.SizeFor(1, int64(len(s.Name))) - checksums.SizeFor(0, 0)
		}
		for _, p := range safepath.Parents(s.Name) {
			if _, ok := have[p]; !ok {
				have[p] = struct{}{}
				entries++
				names += int64(len(p))
			}
		}
	}
	switch {
	case entries > lim.MaxEntries:
		return exitcode.Invalidf("the bundle would have %d entries, more than the %d verify accepts by default (verify --max-entries); split the export", entries, lim.MaxEntries)
	case names > lim.MaxNameBytes:
		return exitcode.Invalidf("the bundle's entry names would total %d bytes, more than the %d verify accepts by default (verify --max-name-bytes); shorten the paths or split the export", names, lim.MaxNameBytes)
	case sums > checksums.MaxSize:
		return exitcode.Invalidf("the bundle's %s would be %d bytes, more than the %d verify reads by default; shorten the paths or split the export", layout.Checksums, sums, int64(checksums.MaxSize))
	}
	return nil
}
