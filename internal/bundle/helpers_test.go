package bundle

import (
	"bytes"
	"testing"

	"github.com/stella-ops/stella-export/internal/tarball"
)

func mustReader(t *testing.T, raw []byte) *tarball.Reader {
	t.Helper()
	r, err := tarball.NewReader(bytes.NewReader(raw), tarball.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
