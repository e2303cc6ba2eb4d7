package contract

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, and that it returns either a
// valid contract or Errors: non-empty, every entry a *FieldError of this
// file with a reason, in file order. Its seeds (the sample contracts, the
// invalid ones, and a few awkward documents) run with every `go test`.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"*.yaml", "invalid/*.yaml"} {
		files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "contracts", pattern))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	for _, s := range []string{
		"",
		head,
		full,
		"---\n",
		head + "---\n" + head,
		"a: &a [*a]\n",
		"selectors: &s {tenants: *s}\n",
		"? [a, {b: c}]\n: d\n",
		"<<: {tenant: acme}\n",
		"apiVersion: !!binary aGVsbG8=\n",
		"kind: DatasetExport\n" + head,
		mk("selectors:\n  tenants: [acme, acme, globex]\n  ecosystems: [Go, golang, 'Debian:12']"),
		mk("export_id: 'urn:stella:%'", "output: '\u00e9.tgz'", "selectors: {products: ['pkg:\u00e9/x']}"),
		"\ufeff" + head,
		"apiVersion: \"\\x00\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err == nil {
			if c == nil {
				t.Fatal("no contract and no error")
			}
			if c.APIVersion != APIVersion || c.Kind != KindEvidence || !contains(profiles, c.Profile) || !validTenant(c.Tenant) || c.Source == "" || c.SourceDir == "" {
				t.Fatalf("a valid contract with invalid fields: %+v", c)
			}
			if len(c.Selectors.Tenants) == 0 || !strings.HasPrefix(c.Digest, "sha256:") || len(c.Digest) != 71 {
				t.Fatalf("a contract without defaults: %+v", c)
			}
			if !c.Selectors.Since.IsZero() && !c.Selectors.Until.IsZero() && !c.Selectors.Since.Before(c.Selectors.Until) {
				t.Fatalf("an impossible window was accepted: %+v", c.Selectors)
			}
			return
		}
		if c != nil {
			t.Fatal("a contract came back with an error")
		}
		var es Errors
		if !errors.As(err, &es) {
			t.Fatalf("error %T is not Errors: %v", err, err)
		}
		if len(es) == 0 {
			t.Fatal("empty Errors")
		}
		for i, e := range es {
			if e == nil || e.File != "f.yaml" || e.Reason == "" || e.Line < 0 || e.Column < 0 {
				t.Fatalf("error %d: %#v", i, e)
			}
			if strings.ContainsAny(e.Error(), "\n\r") {
				t.Fatalf("error %d spans lines: %q", i, e.Error())
			}
			if i > 0 && (es[i-1].Line > e.Line || es[i-1].Line == e.Line && es[i-1].Column > e.Column) {
				t.Fatalf("errors out of order: %v before %v", es[i-1], e)
			}
		}
	})
}
