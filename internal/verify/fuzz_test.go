package verify

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// FuzzParseProof feeds proof documents to ParseProof and CheckProof. The
// seeds (run by every `go test`) are a real proof and mutations of it; the
// properties: no panic, every refusal is exit 3, an accepted proof
// survives a canonical round trip, and checking it against any content
// gives 0, 1 or 3, never anything else.
func FuzzParseProof(f *testing.F) {
	real := realProof(f)
	root := `sha256:` + strings.Repeat("ab", 32)
	for _, s := range []string{
		real,
		strings.Replace(real, `{`, `{"path":"data/a.json",`, 1),                        // duplicate key
		regexp.MustCompile(`"treeSize":\d+`).ReplaceAllString(real, `"treeSize":99`),   // claimed size
		regexp.MustCompile(`"leafIndex":\d+`).ReplaceAllString(real, `"leafIndex":-1`), // out of range
		strings.Replace(real, `"path":"data/b.json"`, `"path":"../x"`, 1),
		strings.Replace(real, `"auditPath":[`, `"auditPath":["zz",`, 1),
		real + "{}",
		"\xff" + real,
		`{"algorithm":"rfc6962-sha256","path":"a","leafIndex":0,"treeSize":1,"auditPath":[],"leaf":"","root":""}`,
		`{"algorithm":"rfc6962-sha256","path":"a\ud800","leafIndex":0,"treeSize":1}`,
		`{"algorithm":"rfc6962-sha256","path":"a","leafIndex":0,"treeSize":1,"extra":1}`,
		`{"algorithm":"rfc6962-sha256","path":"a","leafIndex":1e400,"treeSize":1}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s), []byte("content"), root)
	}
	f.Fuzz(func(t *testing.T, doc, content []byte, root string) {
		p, err := ParseProof(bytes.NewReader(doc))
		if err != nil {
			if exitcode.For(err) != exitcode.Invalid {
				t.Fatalf("refusal %v gives exit %d, want 3", err, exitcode.For(err))
			}
			return
		}
		if p.TreeSize <= 0 || p.LeafIndex < 0 || p.LeafIndex >= p.TreeSize || len(p.AuditPath) > 64 {
			t.Fatalf("accepted out-of-range proof %+v", p)
		}
		b, err := canonjson.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParseProof(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("round trip of %s: %v", b, err)
		}
		if b2, _ := canonjson.Marshal(q); !bytes.Equal(b, b2) {
			t.Fatalf("round trip changed the proof:\n%s\n%s", b, b2)
		}
		switch code := exitcode.For(CheckProof(p, bytes.NewReader(content), root)); code {
		case exitcode.OK, exitcode.Verify, exitcode.Invalid, exitcode.Usage:
		default:
			t.Fatalf("CheckProof gives exit %d", code)
		}
	})
}

// realProof proves data/b.json in a bundle of two files.
func realProof(f *testing.F) string {
	var buf bytes.Buffer
	srcs := []bundle.Source{memSource("data/a.json", []byte(`{"id":"A"}`)), memSource("data/b.json", []byte(`{"id":"B"}`))}
	if _, err := bundle.Write(context.Background(), &buf, bundle.List(srcs), docs, bundle.Options{}); err != nil {
		f.Fatal(err)
	}
	rep, err := Verify(context.Background(), &buf, Options{})
	if err != nil {
		f.Fatal(err)
	}
	p, err := Prove(rep.Checksums(), "data/b.json")
	if err != nil {
		f.Fatal(err)
	}
	b, err := canonjson.Marshal(p)
	if err != nil {
		f.Fatal(err)
	}
	return string(b)
}
