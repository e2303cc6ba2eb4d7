package bundle

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// TestPackageRefusesWhatVerifyRefuses: a payload whose bundle verify would
// refuse under its limits is refused before anything is written, and one
// just inside them packages and verifies.
func TestPackageRefusesWhatVerifyRefuses(t *testing.T) {
	long := strings.Repeat("x", 200)
	var srcs List
	for i := range 20 {
		srcs = append(srcs, memSource("d/"+long+string(rune('a'+i)), []byte("x")))
	}
	render := func(Summary) (Docs, error) { return Docs{Manifest: []byte("{}\n"), Readme: []byte("r\n")}, nil }
	old := verifyLimits
	t.Cleanup(func() { verifyLimits = old })

	for _, tt := range []struct {
		name string
		lim  tarball.Limits
		want string
	}{
		{"entries", tarball.Limits{MaxEntries: 26, MaxNameBytes: 1 << 20}, "the bundle would have 27 entries, more than the 26 verify accepts by default; split the export"},
		{"names", tarball.Limits{MaxEntries: 100, MaxNameBytes: 4000}, "more than the 4000 verify accepts by default; shorten the paths"},
	} {
		verifyLimits = tt.lim.WithDefaults()
		var buf bytes.Buffer
		_, err := Write(context.Background(), &buf, srcs, render, Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) || exitcode.For(err) != exitcode.Invalid {
			t.Errorf("%s: err = %v (exit %d), want exit 3 with %q", tt.name, err, exitcode.For(err), tt.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: %d bytes written before the refusal", tt.name, buf.Len())
		}
	}

	// Just inside both limits: written, and verify under the same limits
	// accepts it.
	verifyLimits = tarball.Limits{MaxEntries: 27, MaxNameBytes: 4300}.WithDefaults()
	var buf bytes.Buffer
	if _, err := Write(context.Background(), &buf, srcs, render, Options{}); err != nil {
		t.Fatal(err)
	}
	r, err := tarball.NewReader(&buf, verifyLimits)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := r.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("the reader verify uses refuses what package wrote: %v", err)
		}
	}
}

func memSource(name string, data []byte) Source {
	return Source{Name: name, Size: int64(len(data)), Origin: name,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

// TestDefaultLimitsAgree: with the default limits, a checksums.txt that
// lists at most MaxEntries files of at most MaxNameBytes of names fits in
// what verify reads, so the name and entry limits are the ones package
// users meet.
func TestDefaultLimitsAgree(t *testing.T) {
	lim := tarball.DefaultLimits
	if n := checksums.SizeFor(lim.MaxEntries, lim.MaxNameBytes); n > checksums.MaxSize {
		t.Errorf("checksums.txt may reach %d bytes under the default limits, more than checksums.MaxSize %d", n, checksums.MaxSize)
	}
}
