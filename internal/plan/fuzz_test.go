package plan

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/safepath"
)

// FuzzRead: whatever a plan file holds, reading it never panics, every
// input it accepts has a safe relative path, and an accepted plan writes
// back to bytes that read back to the same bytes.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"json-raw.yaml", "json-policy.yaml", "mirror-full.yaml"} {
		good := encode(f, build(f, name))
		f.Add(good)
		s := string(good)
		f.Add([]byte(strings.Replace(s, `"path":"acme/`, `"path":"../acme/`, 1)))
		f.Add([]byte(strings.Replace(s, `"inputs":[`, `"inputs":[],"inputs":[`, 1)))
		f.Add([]byte(strings.Replace(s, `"tenant":"acme","time"`, `"tenant":"globex","time"`, 1)))
	}
	f.Add([]byte(`{"format":"stella-export/plan/v1","inputs":[]}`))
	f.Add([]byte(`{"inputs":[{"path":"a\u0000b"}]}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decode(context.Background(), bytes.NewReader(b), evidence.Spill{Dir: t.TempDir()})
		if err != nil {
			return
		}
		defer p.Close()
		for _, d := range collect(t, p) {
			if err := safepath.Check(d.Path, false); err != nil {
				t.Fatalf("accepted an unsafe input path %q", d.Path)
			}
		}
		var w1 bytes.Buffer
		if err := Write(&w1, p); err != nil {
			return // not every decodable plan is writable (e.g. a NaN-free but huge number)
		}
		q, err := decode(context.Background(), bytes.NewReader(w1.Bytes()), evidence.Spill{Dir: t.TempDir()})
		if err != nil {
			t.Fatalf("a written plan does not read back: %v\n%s", err, w1.Bytes())
		}
		defer q.Close()
		var w2 bytes.Buffer
		if err := Write(&w2, q); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(w1.Bytes(), w2.Bytes()) {
			t.Fatalf("round trip changed the plan:\n%s\n%s", w1.Bytes(), w2.Bytes())
		}
	})
}
