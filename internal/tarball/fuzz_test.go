package tarball_test

import (
	"errors"
	"testing"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/hostile"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// FuzzReader: whatever the bytes, the reader ends cleanly or with an error
// that classifies as invalid input (exit 3), never a panic, and never
// accepts an unsafe name. Its seeds are the whole hostile corpus (except the
// large bomb), so `go test` runs them as ordinary tests.
func FuzzReader(f *testing.F) {
	for _, c := range hostile.Corpus() {
		if len(c.Data) < 64<<10 {
			f.Add(c.Data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := tarball.Limits{MaxEntries: 1000, MaxBytes: 64 << 20, RatioGrace: 1 << 20}
		_, err := readAll(data, lim)
		if err == nil {
			return
		}
		var fe *tarball.FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("unclassified error %T: %v", err, err)
		}
		if got := exitcode.For(err); got != exitcode.Invalid {
			t.Fatalf("exit %d for %v", got, err)
		}
	})
}
