package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/tarball"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden")

const (
	sampleDir = "../../testdata/sample"
	goldenDir = "../../testdata/golden"
)

// buildSample bundles testdata/sample with the default flags.
func buildSample(t testing.TB, opt Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := WriteDir(context.Background(), &buf, DirConfig{Dir: sampleDir, Options: opt}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func entries(t testing.TB, raw []byte) map[string][]byte {
	t.Helper()
	r, err := tarball.NewReader(bytes.NewReader(raw), tarball.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for {
		e, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if !e.Dir {
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name] = b
		}
	}
}

// TestGoldenSample pins the bytes of the sample bundle: any change to the
// format, the generated documents or the compressor shows up here and must
// be deliberate (refresh with go test ./internal/bundle -update).
func TestGoldenSample(t *testing.T) {
	raw := buildSample(t, Options{})
	sum := sha256.Sum256(raw)
	got := map[string][]byte{
		"sample.tgz.sha256": []byte(hex.EncodeToString(sum[:]) + "  sample.tgz\n"),
	}
	ents := entries(t, raw)
	for _, name := range []string{layout.Checksums, layout.Manifest, layout.Readme, layout.Script} {
		got[filepath.Join("sample", name)] = ents[name]
	}
	for name, data := range got {
		path := filepath.Join(goldenDir, name)
		if *updateGolden {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/bundle -update to create it)", err)
		}
		if !bytes.Equal(data, want) {
			t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, data, want)
		}
	}
}

// TestScriptIsEmbedded checks that the script in bundles is the file in the
// repository.
func TestScriptIsEmbedded(t *testing.T) {
	want, err := os.ReadFile("verify-export.sh")
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(t, buildSample(t, Options{}))[layout.Script]; !bytes.Equal(got, want) {
		t.Fatal("bundled verify-export.sh differs from internal/bundle/verify-export.sh")
	}
}
