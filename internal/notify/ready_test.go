package notify

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/manifest"
)

func sampleReady() *Ready {
	m := &manifest.Run{ExportID: "urn:stella:export:acme:x", Tenant: "acme", Profile: "json:raw",
		CreatedAtUTC: "2026-06-01T00:00:00Z", ExpiresAtUTC: "2026-07-01T00:00:00Z",
		Counts: map[string]int{"vex": 2}, FileCount: 3, PayloadBytes: 100}
	return NewReady(m, "sha256:"+strings.Repeat("a", 64), strings.Repeat("b", 64), 1234, "")
}

// TestReadyAndFailedEntries: what Queue writes, the relay's loadPending
// reads back with its type; a changed, incomplete or misnamed entry is
// refused (exit 3).
func TestReadyAndFailedEntries(t *testing.T) {
	o := Outbox{Dir: t.TempDir()}
	ctx := context.Background()
	r := sampleReady()
	f := NewFailed(r.ExportID, r.TenantID, r.ProfileID, exitcode.Tag(exitcode.CodeOutputExists, exitcode.Conflictf("out exists")), "out exists", "ci-1")
	for _, e := range []Entry{r, f} {
		res, err := o.Queue(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		_, body, err := o.loadPending(res.Key)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := e.Bytes()
		if string(body) != string(want) {
			t.Errorf("body %s, want %s", body, want)
		}
		if res2, err := o.Queue(ctx, e); err != nil || !res2.Unchanged {
			t.Errorf("queue again: %+v, %v", res2, err)
		}
	}
	if typ, _, _ := o.loadPending(r.Key()); typ != ReadyType {
		t.Errorf("type %q", typ)
	}
	if !strings.Contains(string(must(f.Bytes())), `"error_code":"OutputExists","exit":5`) {
		t.Errorf("failed payload %s", must(f.Bytes()))
	}

	body := must(r.Bytes())
	for name, bad := range map[string]string{
		"unknown member": strings.Replace(string(body), `"type"`, `"x":1,"type"`, 1),
		"missing member": strings.Replace(string(body), `"tenant_id":"acme",`, ``, 1),
		"not canonical":  strings.Replace(string(body), `{`, `{ `, 1),
	} {
		if _, err := ParseReady("p", r.Key(), []byte(bad)); exitcode.For(err) != exitcode.Invalid {
			t.Errorf("%s: %v, want exit 3", name, err)
		}
	}
	if _, err := ParseReady("p", strings.Repeat("0", 64), body); exitcode.For(err) != exitcode.Invalid {
		t.Errorf("wrong key: %v, want exit 3", err)
	}
	other := sampleReady()
	other.Metadata.FileCount = 4
	var ce *ConflictError
	if _, err := o.Queue(ctx, other); !errors.As(err, &ce) {
		t.Errorf("different payload under the same key: %v, want a ConflictError", err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
