package evidence

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzExtract: whatever bytes a source file holds, extracting the fields
// of a document of any type ends with the fields or an error, never a
// panic; the seeds are the sample evidence of every type.
func FuzzExtract(f *testing.F) {
	paths, err := filepath.Glob("../../testdata/evidence/*/*/*.json")
	if err != nil {
		f.Fatal(err)
	}
	more, _ := filepath.Glob("../../testdata/evidence/*/*/*/*.json")
	deeper, _ := filepath.Glob("../../testdata/evidence/*/*/*/*/*.json")
	for _, p := range append(append(paths, more...), deeper...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var t byte
		switch {
		case strings.Contains(p, "/advisories/"):
			t = 0
		case strings.Contains(p, "/vex/"):
			t = 1
		case strings.Contains(p, "/sboms/"):
			t = 2
		default:
			t = 3
		}
		f.Add(t, b)
	}
	types := []Type{Advisory, VEX, SBOM, Finding}
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		typ := types[int(kind)%len(types)]
		n := 0
		m, err := extract(bytes.NewReader(data), typ, func(string) { n++ })
		if err == nil && m == nil {
			t.Fatalf("%s: no error and no fields", typ)
		}
	})
}
