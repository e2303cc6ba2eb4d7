package plan

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

func build(t testing.TB, name string) *Plan {
	t.Helper()
	c, err := contract.Load(filepath.Join("..", "..", "testdata", "contracts", name))
	if err != nil {
		t.Fatal(err)
	}
	p, _, _, err := Build(context.Background(), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func read(t testing.TB, path string) (*Plan, error) {
	t.Helper()
	p, err := Read(context.Background(), path, evidence.Spill{Dir: t.TempDir()})
	if err == nil {
		t.Cleanup(func() { p.Close() })
	}
	return p, err
}

func collect(t testing.TB, p *Plan) evidence.SliceDocs {
	t.Helper()
	docs, err := evidence.Collect(p.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func encode(t testing.TB, p *Plan) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A plan read back is the plan that was written: same documents, same
// bytes when written again.
func TestRoundTrip(t *testing.T) {
	for _, name := range []string{"json-raw.yaml", "json-policy.yaml", "mirror-full.yaml"} {
		t.Run(name, func(t *testing.T) {
			p := build(t, name)
			if p.Inputs.Len() == 0 {
				t.Fatal("sample contract selects nothing")
			}
			b := encode(t, p)
			q, err := read(t, writeTemp(t, b))
			if err != nil {
				t.Fatal(err)
			}
			if pd, qd := collect(t, p), collect(t, q); !reflect.DeepEqual(pd, qd) {
				t.Errorf("inputs differ after a round trip:\n%+v\n%+v", pd[0], qd[0])
			}
			if got := encode(t, q); !bytes.Equal(got, b) {
				t.Errorf("plan bytes differ after a round trip")
			}
		})
	}
}

// A plan file is untrusted input: every defect is an exit-3 error naming
// the file and what is wrong, never a panic or a read outside the source.
func TestReadRefuses(t *testing.T) {
	good := string(encode(t, build(t, "json-raw.yaml")))
	first := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("sample plan has no %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	sha := good[strings.Index(good, `"sha256":"sha256:`)+len(`"sha256":"`):]
	sha = sha[:strings.IndexByte(sha, '"')]
	path := good[strings.Index(good, `"path":"acme/`)+len(`"path":"`):]
	path = path[:strings.IndexByte(path, '"')]
	for _, tc := range []struct{ name, body, want string }{
		{"empty", "", "EOF"},
		{"not an object", "[]", `expected "{"`},
		{"truncated", good[:len(good)/2], "unexpected EOF"},
		{"trailing data", good + "{}", "data after the plan object"},
		{"unknown top-level key", first(`{"adapters"`, `{"zzz":1,"adapters"`), `unknown field "zzz"`},
		{"duplicate key", first(`{"adapters"`, `{"format":"x","adapters"`), `key "format" appears twice`},
		{"unknown input field", first(`"sha256":"sha256:`, `"extra":true,"sha256":"sha256:`), `inputs[0]: json: unknown field "extra"`},
		{"inputs not an array", first(`"inputs":[`, `"inputs":{"a":[`), `inputs: expected "["`},
		{"no inputs", strings.Replace(good, `"inputs":[`, `"inputz":[`, 1), `no "inputs"`},
		{"path escapes", first(`"path":"`+path, `"path":"../../etc/passwd`), "path:"},
		{"absolute path", first(`"path":"`+path, `"path":"/etc/passwd`), "path:"},
		{"bad digest", first(sha, "sha256:XYZ"), "not sha256:<64 lowercase hex>"},
		{"bad type", first(`"type":"advisory"`, `"type":"malware"`), `unknown document type "malware"`},
		{"negative size", first(`"size":`, `"size":-1,"x":`), "inputs[0]"},
		{"wrong format", first(`"format":"stella-export/plan/v1"`, `"format":"stella-export/plan/v9"`), "want stella-export/plan/v1"},
		{"no createdAt", strings.Replace(good, `"createdAt":"`, `"createdAz":"`, 1), `unknown field "createdAz"`},
		{"createdAt missing", setCreated(t, good, ""), `createdAt: "" is not an RFC 3339 UTC time`},
		{"createdAt not UTC", setCreated(t, good, `"createdAt":"2025-04-01T02:00:00+02:00",`), `createdAt: "2025-04-01T02:00:00+02:00" is not`},
		{"createdAt fraction", setCreated(t, good, `"createdAt":"2025-04-01T00:00:00.5Z",`), "createdAt:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, []byte(tc.body))
			_, err := read(t, path)
			if err == nil {
				t.Fatal("accepted")
			}
			if exitcode.For(err) != exitcode.Invalid {
				t.Errorf("exit %d, want %d: %v", exitcode.For(err), exitcode.Invalid, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s and %q", msg, path, tc.want)
			}
		})
	}
}

// setCreated replaces the createdAt member of an encoded plan (with its
// comma) by member.
func setCreated(t *testing.T, plan, member string) string {
	t.Helper()
	i := strings.Index(plan, `"createdAt":"`)
	if i < 0 {
		t.Fatal("sample plan has no createdAt")
	}
	j := strings.Index(plan[i:], `",`)
	return plan[:i] + member + plan[i+j+2:]
}

// TestCreatedAt: the export time is the given one, else selectors.until,
// else the latest document time, else the pinned default; Build records it
// and a plan read back keeps it.
func TestCreatedAt(t *testing.T) {
	c, err := contract.Load(filepath.Join("..", "..", "testdata", "contracts", "json-raw.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	until := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	given := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		given time.Time
		until time.Time
		docs  evidence.SliceDocs
		want  string
	}{
		{"given wins", given, until, nil, "2030-01-02T03:04:05Z"},
		{"until", time.Time{}, until, nil, "2026-06-01T00:00:00Z"},
		{"latest document", time.Time{}, time.Time{}, evidence.SliceDocs{
			{Time: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}, {Time: time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)}, {}}, "2025-05-01T12:00:00Z"},
		{"no times", time.Time{}, time.Time{}, evidence.SliceDocs{{}}, "2025-01-01T00:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *c
			c.Selectors.Until = tc.until
			p, _, _, err := Build(ctx, &c, Options{CreatedAt: tc.given})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if tc.docs != nil {
				got, err := CreatedAt(ctx, tc.until, tc.docs)
				if err != nil {
					t.Fatal(err)
				}
				if stamp(got) != tc.want {
					t.Errorf("CreatedAt = %s, want %s", stamp(got), tc.want)
				}
				return
			}
			if p.CreatedAt != tc.want {
				t.Errorf("plan createdAt %s, want %s", p.CreatedAt, tc.want)
			}
			back, err := read(t, writeTemp(t, encode(t, p)))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := back.Created(); err != nil || stamp(got) != tc.want {
				t.Errorf("read back: %v, %v; want %s", got, err, tc.want)
			}
		})
	}
	// The sample evidence's latest time becomes the plan's createdAt.
	if p := build(t, "json-raw.yaml"); p.CreatedAt == "" || p.CreatedAt == "2025-01-01T00:00:00Z" {
		t.Errorf("json-raw plan createdAt %q: want the latest document time", p.CreatedAt)
	}
}

func TestReadMissingFile(t *testing.T) {
	_, err := read(t, filepath.Join(t.TempDir(), "nope.json"))
	if err == nil || exitcode.For(err) != exitcode.IO {
		t.Fatalf("missing plan: %v (exit %d), want exit %d", err, exitcode.For(err), exitcode.IO)
	}
}

// TestInputAppendCanonical: Input's own canonical JSON is what Marshal
// gives, for every field shape (empty lists, no time, escapes, invalid
// UTF-8).
func TestInputAppendCanonical(t *testing.T) {
	for _, in := range []Input{
		{},
		{Type: "advisory", Tenant: "acme", Subject: "pkg:npm/a\u2028\"b\"", ID: "GHSA-1", Path: "acme/advisories/a b.json",
			SHA256: "sha256:" + strings.Repeat("a", 64), Size: 1 << 40, Time: "2025-01-01T00:00:00Z", Format: "osv",
			Ecosystems: []string{"npm", "pypi"}, Products: []string{"pkg:npm/a", "pkg:pypi/\xff"}},
		{Ecosystems: []string{}, Products: []string{}, Size: -1, ID: "\x00\x1f\u00e9"},
	} {
		want, err := canonjson.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := in.AppendCanonical(nil); string(got) != string(want) {
			t.Errorf("AppendCanonical\n got %s\nwant %s", got, want)
		}
	}
}

// TestCounts: the per-type counts Build keeps from resolving (which run's
// adapters use instead of counting the inputs again) are the inputs'; a
// plan read from a file has none.
func TestCounts(t *testing.T) {
	for _, name := range []string{"mirror-full.yaml", "json-policy.yaml"} {
		p := build(t, name)
		want := map[evidence.Type]int{}
		for _, d := range collect(t, p) {
			want[d.Type]++
		}
		for _, ty := range evidence.Types {
			if got := p.Counts()[ty]; got != want[ty] {
				t.Errorf("%s: Counts()[%s] = %d, the inputs hold %d", name, ty, got, want[ty])
			}
		}
		if len(want) == 0 {
			t.Errorf("%s: no inputs: the test tests nothing", name)
		}
		// createdAt, taken from the times resolving saw, is the latest
		// input time CreatedAt finds by reading the inputs again.
		if c, err := CreatedAt(context.Background(), time.Time{}, p.Inputs); err != nil || stamp(c) != p.CreatedAt {
			t.Errorf("%s: createdAt %s, the latest input time is %s (%v)", name, p.CreatedAt, stamp(c), err)
		}
		path := writeTemp(t, encode(t, p))
		q, err := read(t, path)
		if err != nil {
			t.Fatal(err)
		}
		if q.Counts() != nil {
			t.Errorf("%s: a plan read from a file has counts %v", name, q.Counts())
		}
	}
}
