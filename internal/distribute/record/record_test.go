package record

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/notify"
)

func rec(id string) Record {
	return Record{ExportID: id, Type: TypeObjstore, Location: "exports/acme/" + id + "/bundle.tgz",
		SHA256: strings.Repeat("ab", 32), SizeBytes: 42, ExpiresAt: Expiry("2026-01-01T00:00:00Z")}
}

func TestAppendCanonicalOnce(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		added, err := Append(ctx, dir, rec("e1"))
		if err != nil || added != want {
			t.Fatalf("append %d: added %v, %v; want %v", i, added, err, want)
		}
	}
	r := rec("e2")
	r.ExpiresAt = nil
	if _, err := Append(ctx, dir, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"distributions":[{"expires_at":"2026-01-01T00:00:00Z","export_id":"e1","location":"exports/acme/e1/bundle.tgz","sha256":"` +
		strings.Repeat("ab", 32) + `","size_bytes":42,"type":"objstore"},{"expires_at":null,"export_id":"e2","location":"exports/acme/e2/bundle.tgz","sha256":"` +
		strings.Repeat("ab", 32) + `","size_bytes":42,"type":"objstore"}],"format":"stella-export/distributions/v1"}` + "\n"
	if string(b) != want {
		t.Errorf("distributions.json:\n%s\nwant\n%s", b, want)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only %s", len(ents), FileName)
	}
}

// TestAppendConcurrent: writers racing on one file lose no entry.
func TestAppendConcurrent(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	const n = 16
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := Append(context.Background(), dir, rec("e"+string(rune('a'+i)))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	f, err := Read(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Distributions) != n {
		t.Errorf("%d entries, want %d", len(f.Distributions), n)
	}
}

func TestAppendRefuses(t *testing.T) {
	ctx := context.Background()
	bad := map[string]func(*Record){
		"type":    func(r *Record) { r.Type = "ftp" },
		"sha256":  func(r *Record) { r.SHA256 = "x" },
		"expires": func(r *Record) { r.ExpiresAt = Expiry("tomorrow") },
		"id":      func(r *Record) { r.ExportID = "../x" },
		"size":    func(r *Record) { r.SizeBytes = -1 },
	}
	for name, mut := range bad {
		r := rec("e1")
		mut(&r)
		if _, err := Append(ctx, t.TempDir(), r); exitcode.For(err) != exitcode.Invalid {
			t.Errorf("%s: %v, want exit 3", name, err)
		}
	}
	for name, body := range map[string]string{
		"not canonical": `{ "format": "stella-export/distributions/v1", "distributions": [] }`,
		"other format":  `{"distributions":[],"format":"x"}` + "\n",
		"extra field":   `{"distributions":[],"format":"stella-export/distributions/v1","x":1}` + "\n",
	} {
		dir := t.TempDir()
		p := filepath.Join(dir, FileName)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := Append(ctx, dir, rec("e1")); exitcode.For(err) != exitcode.Invalid {
			t.Errorf("%s: %v, want exit 3", name, err)
		}
		if b, _ := os.ReadFile(p); string(b) != body {
			t.Errorf("%s: file changed", name)
		}
	}
}

// TestEventQueued: the distribution event goes into the outbox once and
// parses as an event there.
func TestEventQueued(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	r1, err := Announce(ctx, dir, rec("e1"), "acme", "2025-01-01T00:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Announce(ctx, dir, rec("e1"), "acme", "2025-01-01T00:00:00Z")
	if err != nil || r2.Key != r1.Key {
		t.Fatalf("second announce: %+v, %v", r2, err)
	}
	p := notify.Outbox{Dir: dir}.Path(notify.StatePending, r1.Key)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	e, err := notify.ParseEvent(p, r1.Key, b)
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != notify.EventDistribution || e.TenantID != "acme" || !strings.Contains(string(e.Data), `"type":"objstore"`) {
		t.Errorf("event: %+v", e)
	}
}
