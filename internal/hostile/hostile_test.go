package hostile

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/hostile from the generator")

const corpusDir = "../../testdata/hostile"

// TestCorpusOnDisk keeps testdata/hostile equal to what the generator makes,
// so the files anyone can try by hand are the ones the tests use.
func TestCorpusOnDisk(t *testing.T) {
	cs := Corpus()
	if *update {
		old, _ := filepath.Glob(filepath.Join(corpusDir, "*.tgz"))
		for _, f := range old {
			os.Remove(f)
		}
		for _, c := range cs {
			if err := os.WriteFile(filepath.Join(corpusDir, c.Name), c.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(corpusDir, "EXPECTED.tsv"), Expected(cs), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	onDisk, _ := filepath.Glob(filepath.Join(corpusDir, "*.tgz"))
	if len(onDisk) != len(cs) {
		t.Errorf("%d files in %s, generator makes %d (run go test ./internal/hostile -update)", len(onDisk), corpusDir, len(cs))
	}
	for _, c := range cs {
		b, err := os.ReadFile(filepath.Join(corpusDir, c.Name))
		if err != nil {
			t.Errorf("%v (run go test ./internal/hostile -update)", err)
			continue
		}
		if !bytes.Equal(b, c.Data) {
			t.Errorf("%s differs from the generator (run go test ./internal/hostile -update)", c.Name)
		}
	}
	tsv, err := os.ReadFile(filepath.Join(corpusDir, "EXPECTED.tsv"))
	if err != nil || !bytes.Equal(tsv, Expected(cs)) {
		t.Errorf("EXPECTED.tsv differs from the generator (run go test ./internal/hostile -update)")
	}
}

func TestCorpusDeterministicAndUnique(t *testing.T) {
	a, b := Corpus(), Corpus()
	seen := map[string]bool{}
	for i := range a {
		if !bytes.Equal(a[i].Data, b[i].Data) {
			t.Errorf("%s: generator is not deterministic", a[i].Name)
		}
		if seen[a[i].Name] {
			t.Errorf("%s: two cases with one name", a[i].Name)
		}
		seen[a[i].Name] = true
		if a[i].Level == Archive && a[i].Kind == nil {
			t.Errorf("%s: archive case without the error kind it expects", a[i].Name)
		}
	}
	if len(a) < 40 {
		t.Errorf("only %d cases", len(a))
	}
}

func TestBombIsValidGzip(t *testing.T) {
	// A bomb that a reader refuses must be refused for its ratio, not
	// because it is broken: decompress a small one fully.
	b := Bomb(3)
	if err := checkGzip(b, 3<<20); err != nil {
		t.Fatal(err)
	}
}
