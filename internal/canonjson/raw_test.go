package canonjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// withLimit runs f with the in-memory limit set to n bytes.
func withLimit(t testing.TB, n int, f func()) {
	t.Helper()
	old := rawInMemory
	rawInMemory = n
	defer func() { rawInMemory = old }()
	f()
}

// both returns RawBytes(in) with the default limit and with a 64-byte limit
// that streams everything larger, and fails if they disagree.
func both(t *testing.T, in []byte) ([]byte, error) {
	t.Helper()
	got, err := RawBytes(in)
	var sgot []byte
	var serr error
	withLimit(t, 64, func() { sgot, serr = RawBytes(in) })
	if (err == nil) != (serr == nil) || !bytes.Equal(got, sgot) {
		t.Fatalf("in memory and streaming disagree on %.200q:\n mem: %q, %v\nstrm: %q, %v", in, got, err, sgot, serr)
	}
	return got, err
}

func TestRaw(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"sort", `{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{"whitespace", " \t\r\n{ \"a\" :\n[ 1 ,\t2 , { \"z\":null,\"y\":true } ] }\n\n", `{"a":[1,2,{"y":true,"z":null}]}`},
		// RFC 8785 section 3.2.3, the sorting example.
		{"rfc8785 sort", `{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`, "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"},
		// UTF-16 order differs from code point order: U+1F600 (0xD83D
		// 0xDE00) sorts before U+FB33 and U+FFFF but after U+D7FF.
		{"utf16 order", "{\"\uffff\":1,\"\U0001F600\":2,\"\ufb33\":3,\"\ud7ff\":4,\"\U00010000\":5}", "{\"\ud7ff\":4,\"\U00010000\":5,\"\U0001F600\":2,\"\ufb33\":3,\"\uffff\":1}"},
		{"prefix order", `{"ab":1,"a":2,"":3,"b":4}`, `{"":3,"a":2,"ab":1,"b":4}`},
		{"escaped keys order", `{"a\nb":1,"a\u0000":2,"A":3}`, `{"A":3,"a\u0000":2,"a\nb":1}`},
		// RFC 8785 section 3.2.2.2.
		{"rfc8785 strings", `"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/"`, `"€$\u000f\nA'B\"\\\\\"/"`},
		{"escapes", `"\b\f\n\r\t\u0001\u001F\u007f\/<>&"`, "\"\\b\\f\\n\\r\\t\\u0001\\u001f\u007f/<>&\""},
		{"unicode", `"\u00e9\ud83d\ude00\u2028\u2029é😀"`, "\"é😀\u2028\u2029é😀\""},
		{"numbers verbatim", `[1.0, 1e5, 12345678901234567890, -0, 0.1e-2, 1E+2, -1.50, 0, 9007199254740993, 1e-400]`,
			`[1.0,1e5,12345678901234567890,-0,0.1e-2,1E+2,-1.50,0,9007199254740993,1e-400]`},
		{"number members", `{"score":7.50,"epss":1.2e-3,"n":10}`, `{"epss":1.2e-3,"n":10,"score":7.50}`},
		{"nested", `{"z":[{"b":{"d":1,"c":2},"a":[]}],"a":{}}`, `{"a":{},"z":[{"a":[],"b":{"c":2,"d":1}}]}`},
		{"empty object", ` { } `, `{}`},
		{"empty array", "[\n]", `[]`},
		{"literals", `[true,false,null]`, `[true,false,null]`},
		{"scalar string", ` "x" `, `"x"`},
		{"scalar number", "42\n", `42`},
		{"scalar null", `null`, `null`},
		{"deep", strings.Repeat("[", MaxRawDepth) + strings.Repeat("]", MaxRawDepth),
			strings.Repeat("[", MaxRawDepth) + strings.Repeat("]", MaxRawDepth)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := both(t, []byte(tt.in))
			if err != nil {
				t.Fatalf("Raw(%q): %v", tt.in, err)
			}
			if string(got) != tt.want {
				t.Fatalf("Raw(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			var buf bytes.Buffer
			n, err := Raw(&buf, strings.NewReader(tt.in), int64(len(tt.in)))
			if err != nil || n != int64(len(tt.want)) || buf.String() != tt.want {
				t.Fatalf("Raw = %d, %v, %q; want %d", n, err, buf.String(), len(tt.want))
			}
		})
	}
}

func TestRawRejects(t *testing.T) {
	deep := strings.Repeat("[", MaxRawDepth+1) + strings.Repeat("]", MaxRawDepth+1)
	deepObj := strings.Repeat(`{"a":`, MaxRawDepth+1) + "1" + strings.Repeat("}", MaxRawDepth+1)
	tests := []struct {
		in     string
		offset int64
		reason string
	}{
		{``, 0, "no JSON value"},
		{"  \n", 3, "no JSON value"},
		{`{"a":1,"a":2}`, 7, `duplicate object key "a"`},
		{`{"a":1,"\u0061":2}`, 7, `duplicate object key "a"`},
		{`{"b":1,"a":2,"b":3}`, 13, `duplicate object key "b"`},
		{`{"a":1} x`, 8, "trailing data"},
		{`{"a":1}{}`, 7, "trailing data"},
		{`[1,]`, 3, "looking for a value"},
		{`[1 2]`, 3, "after array element"},
		{`{"a" 1}`, 5, "after object key"},
		{`{a:1}`, 1, "looking for an object key"},
		{`{"a":1,}`, 7, "looking for an object key"},
		{`{"a":1 "b":2}`, 7, "after object member"},
		{`01`, 1, "trailing data"},
		{`1.`, 2, "unexpected end"},
		{`1.x`, 2, "digit is required"},
		{`-`, 1, "unexpected end"},
		{`-x`, 1, "digit is required"},
		{`.5`, 0, "looking for a value"},
		{`+1`, 0, "looking for a value"},
		{`1e`, 2, "unexpected end"},
		{`1e+`, 3, "unexpected end"},
		{`NaN`, 0, "looking for a value"},
		{`tru`, 3, "unexpected end"},
		{`nul1`, 0, "invalid literal"},
		{`[True]`, 1, "looking for a value"},
		{"\"a\x01\"", 2, "control character"},
		{"\"\xff\"", 1, "invalid UTF-8"},
		{"\"\xed\xa0\x80\"", 1, "invalid UTF-8"},
		{`"\ud800"`, 1, "unpaired surrogate"},
		{`"\udc00"`, 1, "unpaired surrogate"},
		{`"\ud800\u0041"`, 1, "unpaired surrogate"},
		{`"\x"`, 1, "invalid escape"},
		{`"\u12G4"`, 1, `invalid \u escape`},
		{`"abc`, 4, "unexpected end"},
		{`[1}`, 2, "after array element"},
		{`{"a":[}`, 6, "looking for a value"},
		{"\xef\xbb\xbf{}", 0, "looking for a value"},
		{deep, MaxRawDepth, "nesting deeper"},
		{deepObj, 5 * MaxRawDepth, "nesting deeper"},
	}
	for _, tt := range tests {
		for _, limit := range []int{4 << 20, 64} {
			withLimit(t, limit, func() {
				got, err := RawBytes([]byte(tt.in))
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Errorf("limit %d: Raw(%.60q) = %q, %v; want a *SyntaxError", limit, tt.in, got, err)
					return
				}
				if se.Offset != tt.offset || !strings.Contains(se.Reason, tt.reason) {
					t.Errorf("limit %d: Raw(%.60q): %v; want byte %d: ...%s...", limit, tt.in, err, tt.offset, tt.reason)
				}
				if exitcode.For(err) != exitcode.Invalid {
					t.Errorf("exit code %d, want %d", exitcode.For(err), exitcode.Invalid)
				}
			})
		}
	}
}

func TestRawStreamingLimits(t *testing.T) {
	withLimit(t, 64, func() {
		long := `{"` + strings.Repeat("k", 100) + `":1}`
		if _, err := RawBytes([]byte(long)); err == nil || !strings.Contains(err.Error(), "object key longer than 64 bytes") {
			t.Errorf("long key: %v", err)
		}
		num := "[" + strings.Repeat("1", 100) + "]"
		if _, err := RawBytes([]byte(num)); err == nil || !strings.Contains(err.Error(), "number longer than 64 bytes") {
			t.Errorf("long number: %v", err)
		}
		// Long strings are streamed, not limited, including escapes that
		// straddle the buffer.
		for n := 50; n < 80; n++ {
			in := `["` + strings.Repeat("a", n) + `\ud83d\ude00\n` + strings.Repeat("é", n) + `"]`
			want := "[\"" + strings.Repeat("a", n) + "😀\\n" + strings.Repeat("é", n) + "\"]"
			got, err := RawBytes([]byte(in))
			if err != nil || string(got) != want {
				t.Fatalf("long string %d: %q, %v", n, got, err)
			}
		}
	})
}

func TestRawReadError(t *testing.T) {
	in := `{"a":1}`
	_, err := Raw(io.Discard, strings.NewReader(in), int64(len(in))+10)
	var se *SyntaxError
	if err == nil || errors.As(err, &se) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Raw with size past the end: %v; want an I/O error", err)
	}
	if exitcode.For(err) != exitcode.IO {
		t.Fatalf("exit code %d, want %d", exitcode.For(err), exitcode.IO)
	}
}

// TestRawMatchesCanonicalize: on documents within docs/format.md#canonical-json
// (integers only), Raw and Canonicalize are the same function.
func TestRawMatchesCanonicalize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		in := genDoc(rng, genOptions{maxDepth: 6, integers: true})
		want, err := Canonicalize(in)
		if err != nil {
			t.Fatalf("doc %d: Canonicalize: %v\n%s", i, err, in)
		}
		got, err := both(t, in)
		if err != nil {
			t.Fatalf("doc %d: Raw: %v\n%s", i, err, in)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("doc %d:\n  in %s\n raw %s\nwant %s", i, in, got, want)
		}
	}
}

// TestRawStreaming forces the streaming path with small limits and checks
// it gives the in-memory output on random documents, including long
// strings, large arrays and objects, floats and whitespace.
func TestRawStreaming(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		in := genDoc(rng, genOptions{maxDepth: 8, wide: i%5 == 0})
		want, err := RawBytes(in)
		if err != nil {
			t.Fatalf("doc %d: %v\n%s", i, err, in)
		}
		checkSame(t, in, want)
		for _, limit := range []int{64, 100, 257, 1000} {
			withLimit(t, limit, func() {
				got, err := RawBytes(in)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("doc %d (%d bytes), limit %d: %v\n got %.300s\nwant %.300s", i, len(in), limit, err, got, want)
				}
			})
		}
	}
}

// isLimitError reports the streaming path's refusal of a key or number
// longer than the in-memory limit, which the in-memory path accepts.
func isLimitError(err error) bool {
	var se *SyntaxError
	return errors.As(err, &se) && strings.Contains(se.Reason, "longer than")
}

// TestRawLargeDocument streams a 10 MiB SBOM at the default limit and
// compares it with canonicalising it whole in memory.
func TestRawLargeDocument(t *testing.T) {
	doc := genSBOM(10 << 20)
	streamed, err := RawBytes(doc)
	if err != nil {
		t.Fatal(err)
	}
	var whole []byte
	withLimit(t, 16<<20, func() { whole, err = RawBytes(doc) })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(streamed, whole) {
		t.Fatal("streamed and in-memory canonical forms differ")
	}
	if !bytes.HasPrefix(streamed, []byte(`{"bomFormat":"CycloneDX","components":[{"bom-ref":`)) {
		t.Fatalf("unexpected start %.80s", streamed)
	}
}

// checkSame fails unless out is idempotent under Raw and decodes to the
// same values as in, with the same number tokens.
func checkSame(t testing.TB, in, out []byte) {
	t.Helper()
	again, err := RawBytes(out)
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("not idempotent: Raw(%.200q) = %.200q, %v", out, again, err)
	}
	a, err := decodeNumbers(in)
	if err != nil {
		t.Fatalf("encoding/json rejects input Raw accepted: %v\n%.300q", err, in)
	}
	b, err := decodeNumbers(out)
	if err != nil {
		t.Fatalf("encoding/json rejects output: %v\n%.300q", err, out)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("values changed:\n in %.300q\nout %.300q", in, out)
	}
}

func decodeNumbers(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func FuzzRaw(f *testing.F) {
	for _, s := range []string{
		`{"b":1,"a":2}`, `[1.0,1e5,12345678901234567890,-0]`, `"\ud83d\ude00\u0000\/"`,
		`{"\u20ac":1,"\r":2,"\ufb33":3,"1":4,"\ud83d\ude00":5,"\u0080":6,"\u00f6":7}`,
		`{"a":1,"a":2}`, `[1,]`, `"\ud800"`, "\"\xff\"", ` {"z" : [ {}, [], null, true, false ] } `,
		strings.Repeat("[", 40) + strings.Repeat("]", 40), `{"a":{"b":{"c":"` + strings.Repeat("x", 100) + `"}}}`,
	} {
		f.Add([]byte(s))
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		f.Add(genDoc(rng, genOptions{maxDepth: 4}))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := RawBytes(in)
		var sout []byte
		var serr error
		withLimit(t, 64, func() { sout, serr = RawBytes(in) })
		if !isLimitError(serr) && ((err == nil) != (serr == nil) || !bytes.Equal(out, sout)) {
			t.Fatalf("in memory and streaming disagree: %q, %v; %q, %v", out, err, sout, serr)
		}
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > int64(len(in)) {
				t.Fatalf("error %v is not a *SyntaxError within the input", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("output is not JSON: %q", out)
		}
		checkSame(t, in, out)
	})
}

// BenchmarkRaw canonicalises a generated 64 MiB CycloneDX-like SBOM, from
// memory and from a file. The in-memory limit is the default, so the
// document is streamed: allocations must stay a few MiB, not 64.
func BenchmarkRaw(b *testing.B) {
	doc := genSBOM(64 << 20)
	path := filepath.Join(b.TempDir(), "sbom.json")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for _, src := range []struct {
		name string
		r    io.ReaderAt
	}{{"memory", bytes.NewReader(doc)}, {"file", f}} {
		b.Run(src.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for b.Loop() {
				if _, err := Raw(io.Discard, src.r, int64(len(doc))); err != nil {
					b.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			if perOp := (after.TotalAlloc - before.TotalAlloc) / uint64(b.N); perOp > 32<<20 {
				b.Fatalf("Raw allocated %d MiB per 64 MiB document; want a bounded amount", perOp>>20)
			}
		})
	}
}

// BenchmarkRawSmall is the common case: one small advisory at a time.
func BenchmarkRawSmall(b *testing.B) {
	doc := genSBOM(1500)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	r := bytes.NewReader(doc)
	for b.Loop() {
		if _, err := Raw(io.Discard, r, int64(len(doc))); err != nil {
			b.Fatal(err)
		}
	}
}

// genSBOM writes a pretty-printed CycloneDX-like document of about size
// bytes whose bulk is one components array.
func genSBOM(size int) []byte {
	rng := rand.New(rand.NewPCG(7, 8))
	var buf bytes.Buffer
	buf.Grow(size + 4096)
	buf.WriteString(`{
  "bomFormat": "CycloneDX",
  "specVersion": "1.6",
  "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
  "version": 1,
  "metadata": {"timestamp": "2025-06-30T00:00:00Z", "component": {"type": "container", "name": "acme-api", "purl": "pkg:oci/acme-api@sha256%3A0f1e"}},
  "components": [`)
	eco := []string{"golang", "npm", "pypi", "cargo", "maven"}
	for i := 0; buf.Len() < size-200; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		e := eco[rng.IntN(len(eco))]
		name := fmt.Sprintf("lib-%x", rng.Uint32())
		ver := fmt.Sprintf("%d.%d.%d", rng.IntN(5), rng.IntN(30), rng.IntN(100))
		fmt.Fprintf(&buf, `
    {
      "type": "library",
      "name": %q,
      "version": %q,
      "purl": "pkg:%s/%s@%s",
      "bom-ref": "pkg:%s/%s@%s?ref=%d",
      "licenses": [{"license": {"id": "Apache-2.0"}}],
      "hashes": [{"alg": "SHA-256", "content": "%016x%016x%016x%016x"}],
      "properties": [{"name": "acme:score", "value": "%d.%d"}, {"name": "acme:notes", "value": "caf\u00e9 \u2014 r\u00e9sum\u00e9 \ud83d\ude00 \"quoted\"\n"}]
    }`, name, ver, e, name, ver, e, name, ver, i, rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.IntN(10), rng.IntN(10))
	}
	buf.WriteString("\n  ],\n  \"dependencies\": []\n}\n")
	return buf.Bytes()
}

type genOptions struct {
	maxDepth int
	integers bool // only integers in the safe range (docs/format.md#canonical-json)
	wide     bool // large arrays and objects
}

// genDoc returns a random JSON text with random whitespace.
func genDoc(rng *rand.Rand, o genOptions) []byte {
	var buf bytes.Buffer
	g := &gen{rng: rng, o: o, buf: &buf}
	g.ws()
	g.value(0)
	g.ws()
	return buf.Bytes()
}

type gen struct {
	rng *rand.Rand
	o   genOptions
	buf *bytes.Buffer
}

func (g *gen) ws() {
	for range g.rng.IntN(3) {
		g.buf.WriteByte(" \t\n\r"[g.rng.IntN(4)])
	}
}

func (g *gen) value(depth int) {
	k := g.rng.IntN(10)
	if depth >= g.o.maxDepth || g.buf.Len() > 64<<10 {
		k = 4 + g.rng.IntN(6)
	}
	n := g.rng.IntN(6)
	if g.o.wide && g.rng.IntN(4) == 0 {
		n = 20 + g.rng.IntN(60)
	}
	switch {
	case k < 2:
		g.buf.WriteByte('{')
		seen := map[string]bool{}
		for i := 0; i < n; i++ {
			key := g.str(g.rng.IntN(6))
			if seen[key] {
				continue
			}
			if len(seen) > 0 {
				g.buf.WriteByte(',')
			}
			seen[key] = true
			g.ws()
			g.encode(key)
			g.ws()
			g.buf.WriteByte(':')
			g.ws()
			g.value(depth + 1)
			g.ws()
		}
		g.buf.WriteByte('}')
	case k < 4:
		g.buf.WriteByte('[')
		for i := 0; i < n; i++ {
			if i > 0 {
				g.buf.WriteByte(',')
			}
			g.ws()
			g.value(depth + 1)
			g.ws()
		}
		g.buf.WriteByte(']')
	case k < 6:
		l := g.rng.IntN(12)
		if g.rng.IntN(8) == 0 {
			l = 40 + g.rng.IntN(200)
		}
		g.encode(g.str(l))
	case k < 8:
		g.number()
	default:
		g.buf.WriteString([]string{"true", "false", "null"}[g.rng.IntN(3)])
	}
}

var genRunes = []rune("abcxyzAZ019 _-/\\\"\b\f\n\r\t\x00\x01\x1f\x7féöß€\u0080\u2028\ud7ff\ue000\ufb33\uffff\U00010000\U0001F600\U0010FFFF")

func (g *gen) str(n int) string {
	var sb strings.Builder
	for range n {
		sb.WriteRune(genRunes[g.rng.IntN(len(genRunes))])
	}
	return sb.String()
}

// encode writes s as a JSON string, escaping characters at random.
func (g *gen) encode(s string) {
	g.buf.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			g.buf.WriteByte('\\')
			g.buf.WriteRune(r)
		case r < 0x20 || g.rng.IntN(5) == 0:
			if r == '/' && g.rng.IntN(2) == 0 {
				g.buf.WriteString(`\/`)
				continue
			}
			for _, u := range utf16.Encode([]rune{r}) {
				if g.rng.IntN(2) == 0 {
					fmt.Fprintf(g.buf, `\u%04x`, u)
				} else {
					fmt.Fprintf(g.buf, `\u%04X`, u)
				}
			}
		default:
			g.buf.WriteRune(r)
		}
	}
	g.buf.WriteByte('"')
}

var genNumbers = []string{"1.0", "1e5", "-0", "12345678901234567890", "3.14159", "1E+2", "0.000001", "-2.5e-3", "7.50", "0"}

func (g *gen) number() {
	if g.o.integers {
		n := g.rng.Int64N(1<<53) - g.rng.Int64N(1<<53)
		if g.rng.IntN(2) == 0 {
			n %= 1000
		}
		g.buf.WriteString(strconv.FormatInt(n, 10))
		return
	}
	g.buf.WriteString(genNumbers[g.rng.IntN(len(genNumbers))])
}

// TestRuns checks the eight-bytes-at-a-time scanners against the byte
// tables on every position of random strings.
func TestRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	alphabet := []byte("ab \x00\x1f\x20\x7f\x80\xff\"\\{}")
	for range 2000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		plain, quote := 0, 0
		for plain < len(b) && plainByte[b[plain]] {
			plain++
		}
		for quote < len(b) && !stringStop[b[quote]] {
			quote++
		}
		if got := plainRun(b); got != plain {
			t.Fatalf("plainRun(%q) = %d, want %d", b, got, plain)
		}
		if got := quoteRun(b); got != quote {
			t.Fatalf("quoteRun(%q) = %d, want %d", b, got, quote)
		}
	}
}
