package contract

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const docPath = "../../docs/contract.md"

// fence is a fenced code block of a Markdown file.
type fence struct {
	info string // the text after the opening ```
	body string
	line int // line of the opening fence
}

func fences(t *testing.T, path string) []fence {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []fence
	var cur *fence
	for i, line := range strings.SplitAfter(string(data), "\n") {
		trimmed := strings.TrimRight(line, "\n")
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &fence{info: strings.TrimSpace(trimmed[3:]), line: i + 1}
		case cur != nil && trimmed == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.body += line
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: unclosed code block", path, cur.line)
	}
	return out
}

// TestDocExamples: every ```yaml block of docs/contract.md is a valid
// contract that the schema accepts; there is one per profile; the sample
// contracts are shown as they are; every ```yaml invalid block is
// followed by a ```text block holding exactly the errors Parse reports
// for it as contracts/broken.yaml.
func TestDocExamples(t *testing.T) {
	sch := compileSchema(t)
	blocks := fences(t, docPath)
	profilesShown := map[string]bool{}
	shown := map[string]bool{}
	invalid := 0
	for i, b := range blocks {
		switch b.info {
		case "yaml":
			c, err := Parse("docs/example.yaml", []byte(b.body))
			if err != nil {
				t.Errorf("%s:%d: example does not parse:\n%v", docPath, b.line, err)
				continue
			}
			profilesShown[c.Profile] = true
			shown[b.body] = true
			if err := schemaValidate(t, sch, b.body); err != nil {
				t.Errorf("%s:%d: example fails the schema: %v", docPath, b.line, err)
			}
		case "yaml invalid":
			invalid++
			if i+1 >= len(blocks) || blocks[i+1].info != "text" {
				t.Errorf("%s:%d: an invalid example must be followed by a text block of its errors", docPath, b.line)
				continue
			}
			_, err := Parse("contracts/broken.yaml", []byte(b.body))
			var got []string
			if es, ok := err.(Errors); ok {
				for _, e := range es {
					got = append(got, e.Error())
				}
			}
			if want := blocks[i+1].body; strings.Join(got, "\n")+"\n" != want {
				t.Errorf("%s:%d: the errors shown are not what Parse says; it says:\n%s", docPath, blocks[i+1].line, strings.Join(got, "\n"))
			}
		}
	}
	for _, p := range profiles {
		if !profilesShown[p] {
			t.Errorf("%s has no complete example of profile %s", docPath, p)
		}
	}
	if invalid == 0 {
		t.Errorf("%s shows no invalid example", docPath)
	}
	files, _ := filepath.Glob("../../testdata/contracts/*.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !shown[string(data)] {
			t.Errorf("%s does not show %s as it is", docPath, f)
		}
	}
}

// TestDocErrorLines: the other error lines in docs/contract.md are ones
// the parser writes: each appears among the expectations of
// TestParseErrors (whose file is c.yaml).
func TestDocErrorLines(t *testing.T) {
	data, err := os.ReadFile("contract_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range fences(t, docPath) {
		if b.info != "text" {
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(b.body), "\n") {
			if !strings.HasPrefix(line, "c.yaml:") {
				continue
			}
			if !strings.Contains(string(data), line) {
				t.Errorf("%s:%d: %q is not an error the tests expect", docPath, b.line, line)
			}
		}
	}
}

// TestDocCoversFields: every field, selector, profile and ecosystem
// spelling is named in docs/contract.md.
func TestDocCoversFields(t *testing.T) {
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	var names []string
	for _, fs := range [][]field{commonFields, evidenceKind.fields, selectorFields, compressionFields, datasetKind.fields, redactionFields} {
		for _, f := range fs {
			names = append(names, f.name)
		}
	}
	names = append(names, profiles...)
	names = append(names, ecosystemNames()...)
	names = append(names, plannedKinds...)
	for _, n := range names {
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("%s does not name `%s`", docPath, n)
		}
	}
}
