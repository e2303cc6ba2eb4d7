package merkle

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/digest"
)

// docSection returns the part of docs/format.md from the line heading up to
// the next heading of the same or a higher level.
func docSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/format.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("docs/format.md has no heading %q", heading)
	}
	rest := doc[i+len(heading)+2:]
	level := heading[:strings.IndexByte(heading, ' ')+1] // "## " or "### "
	for _, stop := range []string{"\n# ", "\n## ", "\n### "} {
		if len(stop)-1 > len(level) {
			break
		}
		if j := strings.Index(rest, stop); j >= 0 {
			rest = rest[:j]
		}
	}
	return rest
}

// fencedBlock returns the lines of the first fenced code block in s whose
// first line starts with prefix.
func fencedBlock(t *testing.T, s, prefix string) []string {
	t.Helper()
	parts := strings.Split(s, "```")
	for i := 1; i < len(parts); i += 2 {
		body := parts[i][strings.IndexByte(parts[i], '\n')+1:]
		if strings.HasPrefix(body, prefix) {
			return strings.Split(strings.TrimSuffix(body, "\n"), "\n")
		}
	}
	t.Fatalf("no code block starting with %q", prefix)
	return nil
}

func mustHash(t *testing.T, s string) digest.SHA256 {
	t.Helper()
	h, err := digest.ParseHex(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestFormatDocVector keeps the test vector of docs/format.md#merkle-root
// and its audit paths (docs/format.md#proofs) true: file contents, their
// digests, the checksums.txt lines, every intermediate hash and the root
// are read from the document and recomputed here.
func TestFormatDocVector(t *testing.T) {
	sec := docSection(t, "## Merkle root")

	empty := regexp.MustCompile(`MTH\(0 leaves\) = SHA-256\(""\) = ([0-9a-f]{64})`).FindStringSubmatch(sec)
	if empty == nil {
		t.Fatal("the empty-tree root is missing")
	}
	if got := EmptyRoot(); got != mustHash(t, empty[1]) {
		t.Errorf("empty root: document says %s, code gives %s", empty[1], got.Hex())
	}

	fileRow := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| `(\"(?:[^\"\\\\]|\\\\.)*\")` \\| `([0-9a-f]{64})` \\|$")
	var lines []string
	for _, m := range fileRow.FindAllStringSubmatch(sec, -1) {
		content, err := strconv.Unquote(m[2])
		if err != nil {
			t.Fatalf("%s: content %s: %v", m[1], m[2], err)
		}
		sum := sha256.Sum256([]byte(content))
		if got := hex.EncodeToString(sum[:]); got != m[3] {
			t.Errorf("%s: document says SHA-256 %s, content %s gives %s", m[1], m[3], m[2], got)
		}
		lines = append(lines, m[3]+"  "+m[1])
	}
	if len(lines) != 3 {
		t.Fatalf("found %d files in the test vector table, want 3", len(lines))
	}

	block := fencedBlock(t, sec, "root sha256:")
	if strings.Join(block[1:], "\n") != strings.Join(lines, "\n") {
		t.Errorf("checksums.txt block:\n%s\nwant the lines of the file table:\n%s", strings.Join(block[1:], "\n"), strings.Join(lines, "\n"))
	}
	var b Builder
	leaves := make([]digest.SHA256, len(lines))
	for i, l := range lines {
		b.Add([]byte(l))
		leaves[i] = LeafHash([]byte(l))
	}
	if got := "root " + b.Root().String(); got != block[0] {
		t.Errorf("document says %q, code gives %q", block[0], got)
	}

	want := map[string]digest.SHA256{
		"leaf[0]":                leaves[0],
		"leaf[1]":                leaves[1],
		"leaf[2]":                leaves[2],
		"node(leaf[0], leaf[1])": Root(leaves[:2]),
		"root":                   Root(leaves),
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| `([0-9a-f]{64})` \\|$")
	seen := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(sec, -1) {
		w, ok := want[m[1]]
		if !ok {
			t.Errorf("unknown intermediate value %q", m[1])
			continue
		}
		seen[m[1]] = true
		if w.Hex() != m[2] {
			t.Errorf("%s: document says %s, code gives %s", m[1], m[2], w.Hex())
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("intermediate value %s is missing", k)
		}
	}

	proofs := docSection(t, "## Proofs")
	prow := regexp.MustCompile("(?m)^\\| ([0-9]+) \\| ((?:`[0-9a-f]{64}`(?:, )?)+) \\|$")
	n := 0
	for _, m := range prow.FindAllStringSubmatch(proofs, -1) {
		i, _ := strconv.Atoi(m[1])
		got, err := InclusionProof(leaves, i)
		if err != nil {
			t.Fatal(err)
		}
		var gs []string
		for _, h := range got {
			gs = append(gs, "`"+h.Hex()+"`")
		}
		if strings.Join(gs, ", ") != m[2] {
			t.Errorf("audit path of leaf %d: document says %s, code gives %s", i, m[2], strings.Join(gs, ", "))
		}
		n++
	}
	if n != len(leaves) {
		t.Errorf("found %d audit paths in docs/format.md#proofs, want %d", n, len(leaves))
	}
}
