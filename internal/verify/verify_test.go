package verify

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/merkle"
)

func memSource(name string, data []byte) bundle.Source {
	return bundle.Source{Name: name, Size: int64(len(data)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

func docs(bundle.Summary) (bundle.Docs, error) {
	return bundle.Docs{Manifest: []byte(`{"exportId":"e1","profile":"test"}` + "\n"), Readme: []byte("# r\n")}, nil
}

func makeBundle(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var srcs []bundle.Source
	for name, data := range files {
		srcs = append(srcs, memSource(name, []byte(data)))
	}
	var buf bytes.Buffer
	if _, err := bundle.Write(context.Background(), &buf, bundle.List(srcs), docs, bundle.Options{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func run(t *testing.T, raw []byte, opt Options) (*Report, error) {
	t.Helper()
	return Verify(context.Background(), bytes.NewReader(raw), opt)
}

func checks(r *Report) []string {
	var out []string
	for _, p := range r.AllProblems() {
		out = append(out, p.Path+" "+p.Check)
	}
	slices.Sort(out)
	return out
}

func TestCleanBundle(t *testing.T) {
	raw := makeBundle(t, map[string]string{"data/a.json": "{}\n", "b.txt": "b"})
	rep, err := run(t, raw, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if !rep.OK || rep.SHA256 != hex.EncodeToString(sum[:]) || rep.ExportID != "e1" || rep.Profile != "test" || rep.Files != 6 {
		t.Fatalf("report %+v", rep)
	}
	if _, err := run(t, raw, Options{ExpectRoot: rep.Root, ExpectSHA256: rep.SHA256}); err != nil {
		t.Fatalf("pinned root and digest: %v", err)
	}
	rep, err = run(t, raw, Options{ExpectRoot: "sha256:" + strings.Repeat("0", 64), ExpectSHA256: strings.Repeat("0", 64)})
	if exitcode.For(err) != exitcode.Verify || !slices.Equal(checks(rep), []string{" archive-sha256", "checksums.txt root"}) {
		t.Fatalf("wrong pins: %v %v", err, checks(rep))
	}
	var oe *exitcode.OptionError
	if _, err := run(t, raw, Options{ExpectRoot: "abc"}); exitcode.For(err) != exitcode.Invalid || !errors.As(err, &oe) || oe.Option != "ExpectRoot" {
		t.Fatalf("bad ExpectRoot: %v", err)
	}
}

// entry is one member of a hand-made archive.
type entry struct {
	hdr  tar.Header
	body string
}

func file(name, body string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)),
		ModTime: time.Unix(1735689600, 0), Format: tar.FormatPAX}, body: body}
}

func dir(name string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: time.Unix(1735689600, 0), Format: tar.FormatPAX}}
}

// handmade writes entries as given (no sorting, no fixing) and appends a
// correct checksums.txt unless sums is non-nil.
func handmade(t *testing.T, ents []entry, sums *string, gz func(*gzip.Writer)) []byte {
	t.Helper()
	if sums == nil {
		var list []checksums.Entry
		for _, e := range ents {
			if e.hdr.Typeflag == tar.TypeReg {
				list = append(list, checksums.Entry{Path: e.hdr.Name, Digest: sha256.Sum256([]byte(e.body))})
			}
		}
		slices.SortFunc(list, func(a, b checksums.Entry) int { return strings.Compare(a.Path, b.Path) })
		cf, err := checksums.Build(list)
		if err != nil {
			t.Fatal(err)
		}
		s := string(cf.Bytes())
		sums = &s
	}
	at := len(ents)
	for i, e := range ents {
		if e.hdr.Name > layout.Checksums {
			at = i
			break
		}
	}
	ents = slices.Insert(ents, at, file(layout.Checksums, *sums))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.ModTime = time.Unix(1735689600, 0)
	zw.OS = 255
	if gz != nil {
		gz(zw)
	}
	tw := tar.NewWriter(zw)
	for _, e := range ents {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func base() []entry {
	return []entry{file("README.md", "# r\n"), dir("data/"), file("data/a", "a"), file("export.json", "{}\n"), file("verify-export.sh", "#!/bin/sh\n")}
}

func TestProblems(t *testing.T) {
	tests := []struct {
		name string
		mod  func([]entry) []entry
		gz   func(*gzip.Writer)
		want []string
	}{
		{"conforming", func(e []entry) []entry { return e }, nil, nil},
		{"mode", func(e []entry) []entry { e[2].hdr.Mode = 0o600; return e }, nil, []string{"data/a mode"}},
		{"owner", func(e []entry) []entry { e[2].hdr.Uid, e[2].hdr.Uname = 1000, "alice"; return e }, nil, []string{"data/a owner"}},
		{"mtime", func(e []entry) []entry { e[0].hdr.ModTime = time.Unix(1, 0); return e }, nil, []string{"README.md mtime"}},
		{"xattr", func(e []entry) []entry {
			e[2].hdr.PAXRecords = map[string]string{"SCHILY.xattr.user.x": "1"}
			return e
		}, nil, []string{"data/a pax"}},
		{"order", func(e []entry) []entry { e[3], e[4] = e[4], e[3]; return e }, nil, []string{"export.json order"}},
		{"no dir entry", func(e []entry) []entry { return slices.Delete(e, 1, 2) }, nil, []string{"data/a directory-entry"}},
		{"missing layout", func(e []entry) []entry { return e[1:] }, nil, []string{"README.md layout"}},
		{"gzip name", func(e []entry) []entry { return e }, func(z *gzip.Writer) { z.Name = "x.tar" }, []string{" gzip-header"}},
		{"gzip os", func(e []entry) []entry { return e }, func(z *gzip.Writer) { z.OS = 3 }, []string{" gzip-header"}},
		{"non-canonical manifest", func(e []entry) []entry { e[3] = file("export.json", "{ \"a\": 1 }\n"); return e }, nil, []string{"export.json manifest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := handmade(t, tt.mod(base()), nil, tt.gz)
			rep, err := run(t, raw, Options{})
			if got := checks(rep); !slices.Equal(got, tt.want) {
				t.Fatalf("problems %q, want %q (err %v)", got, tt.want, err)
			}
			if (err != nil) != (tt.want != nil) || (err != nil && exitcode.For(err) != exitcode.Verify) {
				t.Fatalf("err = %v", err)
			}
			// ContentOnly ignores all format problems.
			if _, err := run(t, raw, Options{ContentOnly: true}); err != nil {
				t.Fatalf("content-only: %v", err)
			}
		})
	}
}

func TestContentProblems(t *testing.T) {
	good := base()
	// A listed file that is absent, an unlisted file, a wrong digest.
	var list []checksums.Entry
	for _, e := range good {
		if e.hdr.Typeflag == tar.TypeReg {
			list = append(list, checksums.Entry{Path: e.hdr.Name, Digest: sha256.Sum256([]byte(e.body))})
		}
	}
	list = append(list, checksums.Entry{Path: "zz-missing", Digest: sha256.Sum256(nil)})
	list[1].Digest[0] ^= 1 // data/a
	cf, _ := checksums.Build(list)
	s := string(cf.Bytes())
	ents := append(base(), file("yy-extra", "x"))
	rep, err := run(t, handmade(t, ents, &s, nil), Options{})
	want := []string{"data/a digest", "yy-extra extra", "zz-missing missing"}
	if got := checks(rep); !slices.Equal(got, want) || exitcode.For(err) != exitcode.Verify {
		t.Fatalf("problems %q, err %v", got, err)
	}
	var fe *FailedError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "3 checks failed") {
		t.Fatalf("error %v", err)
	}

	// A root on line 1 that lies.
	lying := "root sha256:" + strings.Repeat("1", 64) + s[strings.IndexByte(s, '\n'):]
	rep, err = run(t, handmade(t, base()[:0:0], &lying, nil), Options{ContentOnly: true})
	if exitcode.For(err) != exitcode.Verify || !slices.Contains(checks(rep), "checksums.txt root") {
		t.Fatalf("lying root: %v %v", err, checks(rep))
	}

	// No checksums.txt at all.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "a", Mode: 0o644})
	tw.Close()
	zw.Close()
	rep, err = run(t, buf.Bytes(), Options{ContentOnly: true})
	if exitcode.For(err) != exitcode.Verify || !slices.Equal(checks(rep), []string{"checksums.txt checksums"}) {
		t.Fatalf("no checksums: %v %v", err, checks(rep))
	}

	// Malformed checksums.txt refuses the bundle as invalid input.
	bad := "root sha256:" + strings.Repeat("1", 64) + "\nnot a line\n"
	if _, err := run(t, handmade(t, base(), &bad, nil), Options{}); exitcode.For(err) != exitcode.Invalid {
		t.Fatalf("malformed checksums: %v", err)
	}
}

func TestInnerBundles(t *testing.T) {
	inner := makeBundle(t, map[string]string{"evidence.json": "{}\n"})
	outer := makeBundle(t, map[string]string{"portable-bundle-v1.tgz": string(inner), "plain.tgz": "not gzip at all"})
	rep, err := run(t, outer, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Inner) != 1 || !rep.Inner[0].OK || rep.Inner[0].Path != "portable-bundle-v1.tgz" || !slices.Equal(rep.InnerSkipped, []string{"plain.tgz"}) {
		t.Fatalf("inner %+v skipped %v", rep.Inner, rep.InnerSkipped)
	}
	innerRep, _ := run(t, inner, Options{})
	if rep.Inner[0].Root != innerRep.Root || rep.Inner[0].SHA256 != innerRep.SHA256 {
		t.Fatalf("inner root %s sha %s, want %s %s", rep.Inner[0].Root, rep.Inner[0].SHA256, innerRep.Root, innerRep.SHA256)
	}

	// An inner bundle whose content was altered after sealing, with the outer
	// checksums recomputed (so only the inner check can catch it).
	bad := tamperEntry(t, inner, "evidence.json")
	outer2 := makeBundle(t, map[string]string{"portable-bundle-v1.tgz": string(bad)})
	rep, err = run(t, outer2, Options{})
	if exitcode.For(err) != exitcode.Verify || !slices.Equal(checks(rep), []string{"portable-bundle-v1.tgz!evidence.json digest"}) {
		t.Fatalf("tampered inner: %v %q", err, checks(rep))
	}

	// Depth limit: nesting deeper than MaxDepth is only hashed.
	deep := makeBundle(t, map[string]string{"l2.tgz": string(outer2)})
	rep, err = run(t, deep, Options{MaxDepth: 1})
	if err != nil || len(rep.Inner) != 1 || len(rep.Inner[0].Inner) != 0 {
		t.Fatalf("depth 1: %v %+v", err, rep)
	}
	if _, err := run(t, deep, Options{MaxDepth: 2}); exitcode.For(err) != exitcode.Verify {
		t.Fatalf("depth 2 should reach the tampered bundle: %v", err)
	}
}

// tamperEntry flips a byte of one entry and rewrites the archive with the
// original checksums.txt.
func tamperEntry(t *testing.T, raw []byte, name string) []byte {
	t.Helper()
	zr, _ := gzip.NewReader(bytes.NewReader(raw))
	tr := tar.NewReader(zr)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.ModTime = time.Unix(1735689600, 0)
	zw.OS = 255
	tw := tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		b, _ := io.ReadAll(tr)
		if h.Name == name {
			b[0] ^= 1
		}
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestProof(t *testing.T) {
	files := map[string]string{"a": "1", "b": "2", "c/d": "3", "e": "4", "f": "5"}
	rep, err := run(t, makeBundle(t, files), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p, err := Prove(rep.Checksums(), name)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckProof(p, strings.NewReader(content), rep.Root); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := CheckProof(p, strings.NewReader(content+"x"), rep.Root); exitcode.For(err) != exitcode.Verify {
			t.Fatalf("%s altered: %v", name, err)
		}
		p2 := *p
		p2.Leaf = ""
		p2.Root = ""
		p2.LeafIndex = (p.LeafIndex + 1) % p.TreeSize
		if err := CheckProof(&p2, strings.NewReader(content), rep.Root); !errors.Is(err, merkle.ErrRootMismatch) && exitcode.For(err) != exitcode.Verify {
			t.Fatalf("%s wrong index: %v", name, err)
		}
	}
	var oe *exitcode.OptionError
	if _, err := Prove(rep.Checksums(), "nope"); exitcode.For(err) != exitcode.Invalid || !errors.As(err, &oe) || oe.Option != "path" {
		t.Fatalf("unlisted: %v", err)
	}
	if _, err := ParseProof(strings.NewReader(`{"algorithm":"rfc6962-sha256","path":"a","treeSize":1,"extra":1}`)); exitcode.For(err) != exitcode.Invalid {
		t.Fatalf("unknown field: %v", err)
	}
}

func TestReportOutput(t *testing.T) {
	rep, _ := run(t, makeBundle(t, map[string]string{"a": "1"}), Options{})
	var text, js bytes.Buffer
	WriteText(&text, rep)
	WriteJSON(&js, rep)
	if !strings.HasSuffix(text.String(), "OK root "+rep.Root+"\n") {
		t.Fatalf("text report:\n%s", text.String())
	}
	if !strings.HasPrefix(js.String(), `{"bytes":`) || !strings.HasSuffix(js.String(), "}\n") || strings.Count(js.String(), "\n") != 1 {
		t.Fatalf("json report: %s", js.String())
	}
}
