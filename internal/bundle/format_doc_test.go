package bundle

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// formatDoc returns docs/format.md from the anchor `<a id="id"></a>` up to
// the next level-2 heading.
func formatDoc(t *testing.T, id string) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/format.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, `<a id="`+id+`"></a>`)
	if i < 0 {
		t.Fatalf("docs/format.md has no anchor %q", id)
	}
	// The anchor line, its heading, then the section up to the next one.
	lines := strings.SplitAfterN(doc[i:], "\n", 3)
	if len(lines) < 3 {
		t.Fatalf("docs/format.md ends after anchor %q", id)
	}
	body := lines[2]
	if j := strings.Index(body, "\n## "); j >= 0 {
		body = body[:j+1]
	}
	return lines[0] + lines[1] + body
}

// codeBlock returns the body of the first fenced code block in s whose
// first line starts with prefix.
func codeBlock(t *testing.T, s, prefix string) string {
	t.Helper()
	parts := strings.Split(s, "```")
	for i := 1; i < len(parts); i += 2 {
		body := parts[i][strings.IndexByte(parts[i], '\n')+1:]
		if strings.HasPrefix(body, prefix) {
			return body
		}
	}
	t.Fatalf("no code block starting with %q", prefix)
	return ""
}

func docValue(t *testing.T, s, label string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(label) + " \\| `([^`]+)` \\|$").FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("docs/format.md#sample has no row %q", label)
	}
	return m[1]
}

// TestFormatDocSample keeps the worked example of docs/format.md#sample and
// the directory export.json of docs/format.md#directory-profile equal to
// the bundle of testdata/sample: its entry list, checksums.txt, export.json,
// payload root, Merkle root, tar stream and archive digests.
func TestFormatDocSample(t *testing.T) {
	raw := buildSample(t, Options{})
	sec := formatDoc(t, "sample")

	r, err := tarball.NewReader(bytes.NewReader(raw), tarball.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
	}
	if got, want := strings.Join(names, "\n")+"\n", codeBlock(t, sec, "NOTICE.md\n"); got != want {
		t.Errorf("entry list:\n%s\nthe document says:\n%s", got, want)
	}

	ents := entries(t, raw)
	sums := string(ents[layout.Checksums])
	if doc := codeBlock(t, sec, "root sha256:"); doc != sums {
		t.Errorf("checksums.txt of the sample:\n%s\nthe document says:\n%s", sums, doc)
	}
	root := strings.TrimPrefix(strings.SplitN(sums, "\n", 2)[0], "root ")
	if doc := docValue(t, sec, "Merkle root (the bundle's identity)"); doc != root {
		t.Errorf("Merkle root: document says %s, the bundle has %s", doc, root)
	}

	var m struct {
		PayloadRoot string `json:"payloadRoot"`
	}
	if err := json.Unmarshal(ents[layout.Manifest], &m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(strings.Fields(sec), " "), "payload root `"+m.PayloadRoot+"`") {
		t.Errorf("the steps do not give the payload root %s", m.PayloadRoot)
	}
	if doc := codeBlock(t, formatDoc(t, "directory-profile"), `{"createdAtUtc"`); doc != string(ents[layout.Manifest]) {
		t.Errorf("export.json of the sample:\n%s\nthe document's example:\n%s", ents[layout.Manifest], doc)
	}

	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tarBytes, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	tm := regexp.MustCompile(`(?m)^\| SHA-256 of the decompressed tar stream \(([0-9,]+) bytes\) \| ` + "`([0-9a-f]{64})`").FindStringSubmatch(sec)
	if tm == nil {
		t.Fatal("docs/format.md#sample has no tar stream row")
	}
	if n, _ := strconv.Atoi(strings.ReplaceAll(tm[1], ",", "")); n != len(tarBytes) {
		t.Errorf("tar stream: document says %s bytes, the bundle has %d", tm[1], len(tarBytes))
	}
	ts := sha256.Sum256(tarBytes)
	if got := hex.EncodeToString(ts[:]); got != tm[2] {
		t.Errorf("tar stream SHA-256: document says %s, the bundle has %s", tm[2], got)
	}
	as := sha256.Sum256(raw)
	if doc, got := docValue(t, sec, "SHA-256 of `sample.tgz` (level 6, pgzip as above)"), hex.EncodeToString(as[:]); doc != got {
		t.Errorf("sample.tgz SHA-256: document says %s, the bundle has %s", doc, got)
	}
}
