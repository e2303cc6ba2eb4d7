package evidence

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// hostileDocs are documents the plan-time reader once accepted although
// run's canonicaliser (canonjson.Raw) refuses them; plan must refuse them
// too, or record them as invalid under --skip-invalid.
func hostileDocs() map[string]string {
	n := 0
	adv := func(extra string) string {
		n++
		return fmt.Sprintf(`{"id":"X-%d","modified":"2025-01-01T00:00:00Z",`, n) + extra + `"affected":[]}`
	}
	var many strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&many, `"k%d":1,`, i)
	}
	return map[string]string{
		"utf8.json":      adv("\"summary\":\"a\xffb\","),
		"surrogate.json": adv(`"summary":"a\ud800b",`),
		"lowsurr.json":   adv(`"summary":"\udc00",`),
		"dup4097.json":   adv(`"x":{` + many.String() + `"k4500":2},`),
		"bigkey.json":    adv(`"` + strings.Repeat("k", 4<<20+10) + `":1,`),
		"deep.json":      adv(`"x":` + strings.Repeat("[", 1001) + strings.Repeat("]", 1001) + `,`),
	}
}

func TestResolveRefusesWhatRunRefuses(t *testing.T) {
	root := t.TempDir()
	write(t, root, "acme/advisories/ok.json", osv("GO-2024-0001", "2024-03-01T00:00:00Z", "Go|golang.org/x/net"))
	docs := hostileDocs()
	for name, body := range docs {
		if _, err := canonjson.RawBytes([]byte(body)); err == nil {
			t.Fatalf("%s: canonjson accepts it; the test is wrong", name)
		}
		write(t, root, "acme/advisories/"+name, body)
	}
	cfg := Config{Source: root, Tenant: "acme", Selectors: contract.Selectors{Tenants: []string{"acme"}}}
	if _, err := Resolve(context.Background(), cfg); err == nil {
		t.Fatal("Resolve accepts documents run refuses")
	}
	cfg.SkipInvalid = true
	res, err := Resolve(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if all := docList(t, res); len(all) != 1 || all[0].Path != "acme/advisories/ok.json" {
		t.Errorf("selected %d documents, want only ok.json", len(all))
	}
	got := map[string]string{}
	for _, in := range res.Invalid {
		got[strings.TrimPrefix(in.Path, "acme/advisories/")] = in.Reason
	}
	for name := range docs {
		if got[name] == "" {
			t.Errorf("%s: not recorded as invalid", name)
		}
	}
}

func TestSnapshotRefusesWhatRunRefuses(t *testing.T) {
	for name, trace := range map[string]string{
		"dup":       `"decision_trace":{"a":1,"a":2}`,
		"utf8":      "\"decision_trace\":\"\xff\"",
		"surrogate": `"decision_trace":"\ud800"`,
		"dup top":   `"decision_trace":{},"decision_trace":{}`,
		"dup id":    `"decision_trace":{},"policy_version":"2"`,
	} {
		root := t.TempDir()
		write(t, root, "acme/advisories/ok.json", osv("GO-2024-0001", "2024-03-01T00:00:00Z", "Go|golang.org/x/net"))
		write(t, root, "acme/policy/s/snapshot.json", `{"snapshot_id":"s","tenant":"acme","policy_version":"1","inputs_hash":"sha256:`+strings.Repeat("ab", 32)+`",`+trace+`}`)
		cfg := Config{Source: root, Tenant: "acme", PolicySnapshot: "s", SkipInvalid: true}
		if _, err := Resolve(context.Background(), cfg); err == nil {
			t.Errorf("%s: snapshot accepted", name)
		}
	}
}

// TestReadDocRefusesSwappedFile: a document the walker saw as a regular
// file but that is a FIFO or a symbolic link by the time it is opened is
// refused at once (exit 3), without blocking on the FIFO or following the
// link out of the source.
func TestReadDocRefusesSwappedFile(t *testing.T) {
	src := t.TempDir()
	dir := filepath.Join(src, "acme", "advisories")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret.json")
	os.WriteFile(outside, []byte(`{"id":"GO-1"}`), 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, "link.json")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"fifo.json", "link.json"} {
		done := make(chan error, 1)
		go func() {
			_, _, err := readDoc(Config{Source: src}, &job{rel: "acme/advisories/" + name, typ: Advisory, tenant: "acme"}, newSelection(contract.Selectors{}))
			done <- err
		}()
		select {
		case err := <-done:
			if exitcode.For(err) != exitcode.Invalid || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: %v (exit %d), want exit 3 not a regular file", name, err, exitcode.For(err))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: readDoc blocked", name)
		}
	}
}
