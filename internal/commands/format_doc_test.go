package commands

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// formatAnchors returns the anchors of docs/format.md: explicit
// <a id="..."> tags and the ids GitHub derives from headings.
func formatAnchors(doc string) map[string]bool {
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`<a id="([^"]+)"></a>`).FindAllStringSubmatch(doc, -1) {
		ids[m[1]] = true
	}
	inFence := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimLeft(line, "#")
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(text)) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		ids[b.String()] = true
	}
	return ids
}

// TestFormatDocReferences keeps docs/format.md and its readers in step: it
// holds the exit-code table of internal/exitcode, and every link to it
// (docs/format.md#<anchor> in code, help, messages and Markdown, and
// #<anchor> inside it)
// names an anchor it has.
func TestFormatDocReferences(t *testing.T) {
	b, err := os.ReadFile("../../docs/format.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if !strings.Contains(doc, ErrorCodesText()) {
		t.Errorf("docs/format.md does not contain the error-code table of internal/exitcode:\n%s", ErrorCodesText())
	}
	if !strings.Contains(doc, ExitCodesText()) {
		t.Errorf("docs/format.md does not contain the exit-code table of internal/exitcode:\n%s", ExitCodesText())
	}
	ids := formatAnchors(doc)
	for _, m := range regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(doc, -1) {
		if !ids[m[1]] {
			t.Errorf("docs/format.md links to #%s, which it does not define", m[1])
		}
	}
	ref := regexp.MustCompile(`format\.md#([A-Za-z0-9_-]+)`)
	n := 0
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "../.." && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, ".md") && !strings.HasSuffix(path, ".sh") && !strings.HasSuffix(path, ".tmpl") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			n++
			if !ids[m[1]] {
				t.Errorf("%s refers to docs/format.md#%s, which docs/format.md does not define", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("no file refers to docs/format.md#…; the walk found nothing")
	}
}
