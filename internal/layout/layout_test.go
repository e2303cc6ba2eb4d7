package layout

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestGeneratedMatchesFormatDoc checks the generated names against the
// sentence of docs/format.md#contents that lists them, so that the code and
// the format cannot drift apart.
func TestGeneratedMatchesFormatDoc(t *testing.T) {
	b, err := os.ReadFile("../../docs/format.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "\n## Contents\n")
	if i < 0 {
		t.Fatal("docs/format.md has no Contents section")
	}
	end := strings.Index(doc[i:], "are generated")
	if end < 0 {
		t.Fatal("docs/format.md#contents does not say which files are generated")
	}
	para := doc[i : i+end]
	para = para[strings.LastIndex(para, "\n\n"):]
	var documented []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(para, -1) {
		documented = append(documented, m[1])
	}
	got := Generated()
	slices.Sort(got)
	slices.Sort(documented)
	if !slices.Equal(got, documented) {
		t.Errorf("Generated() = %q, docs/format.md#contents lists %q", got, documented)
	}
}

func TestReserved(t *testing.T) {
	for _, name := range Generated() {
		if !Reserved(name) {
			t.Errorf("Reserved(%q) = false for a generated document", name)
		}
	}
	for _, name := range []string{Provenance, "data/export.json", "export.json.bak", "checksums.txt/", "README", PortableInner, Provenance + SigSuffix + SigSuffix} {
		if Reserved(name) {
			t.Errorf("Reserved(%q) = true", name)
		}
	}
	for _, doc := range Signed {
		if !Reserved(doc + SigSuffix) {
			t.Errorf("the signature of %s is not reserved", doc)
		}
	}
}

func TestGeneratedIsACopy(t *testing.T) {
	g := Generated()
	g[0] = "payload.txt"
	if Reserved("payload.txt") {
		t.Error("changing the slice Generated returned changed the reserved names")
	}
}
