package run

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/safepath"
)

var (
	testBase  = set("manifests/mirror.json", "data/raw/advisories/acme/a.json", "data/raw/advisories/acme/b.json", "data/raw/vex/acme/v.json")
	testDelta = set("manifests/mirror.json", "manifests/delta.json", "data/raw/advisories/acme/a.json", "data/raw/advisories/acme/c.json")
)

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

const goodDelta = `{"added":["data/raw/advisories/acme/c.json"],"base":{"exportId":"e","rootHash":"sha256:00","sha256":"sha256:00"},` +
	`"changed":["data/raw/advisories/acme/a.json"],"format":"stella-export/mirror-delta/v1","removed":["data/raw/vex/acme/v.json"]}`

func TestCheckDelta(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"good", "", "", ""},
		{"dotdot", `"added":["`, `"added":["../victim.txt","`, `added[0]: unsafe path "../victim.txt": '..' component`},
		{"deep dotdot", `"added":["`, `"added":["data/../../../../etc/passwd","`, `added[0]: unsafe path`},
		{"absolute", `"changed":["`, `"changed":["/etc/passwd","`, `changed[0]: unsafe path "/etc/passwd": absolute path`},
		{"removed escape", `"removed":["`, `"removed":["../x","`, `removed[0]: unsafe path`},
		{"outside tree", `"added":["`, `"added":["export.json","`, `added[0]: "export.json" is not a file of the mirror tree`},
		{"manifest", `"changed":["`, `"changed":["manifests/mirror.json","`, `"manifests/mirror.json" is not a file of the mirror tree`},
		{"added not carried", `"added":["`, `"added":["data/raw/advisories/acme/z.json","`, `added[0]: "data/raw/advisories/acme/z.json" is not in the delta bundle`},
		{"added in base", `"added":["`, `"added":["data/raw/advisories/acme/b.json","`, `added[0]: "data/raw/advisories/acme/b.json" is also in the base bundle`},
		{"changed not in base", `"changed":["data/raw/advisories/acme/a.json"]`, `"changed":[]`, `the delta bundle carries data/raw/advisories/acme/a.json, which is neither added nor changed`},
		{"removed not in base", `"removed":["`, `"removed":["data/raw/vex/acme/nothing.json","`, `removed[0]: "data/raw/vex/acme/nothing.json" is not in the base bundle`},
		{"removed but carried", `"removed":["`, `"removed":["data/raw/advisories/acme/a.json","`, `removed[0]: "data/raw/advisories/acme/a.json" is also changed[0]`},
		{"twice", `"added":["data/raw/advisories/acme/c.json"]`, `"added":["data/raw/advisories/acme/c.json","data/raw/advisories/acme/c.json"]`, `added[1]: "data/raw/advisories/acme/c.json" is also added[0]`},
		{"duplicate key", `"removed":[`, `"removed":[],"removed":[`, `duplicate`},
		{"unknown key", `"removed":[`, `"extra":1,"removed":[`, `unknown field "extra"`},
		{"trailing data", `"]}`, `"]}{}`, `byte`},
		{"no list", `,"removed":["data/raw/vex/acme/v.json"]`, ``, `must all be lists`},
		{"format", `mirror-delta/v1`, `mirror-delta/v2`, `format "stella-export/mirror-delta/v2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := goodDelta
			if tt.old != "" {
				if !strings.Contains(b, tt.old) {
					t.Fatalf("%q not in the delta", tt.old)
				}
				b = strings.Replace(b, tt.old, tt.new, 1)
			}
			dd, err := ParseDelta([]byte(b))
			if err == nil {
				err = CheckDelta(dd, testBase, testDelta)
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("accepted, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q, want %q", err, tt.want)
			}
		})
	}
}

// FuzzParseDelta: whatever manifests/delta.json says, an accepted delta
// names only safe mirror-tree paths that exist where it claims, so that no
// name can reach outside the staging directory.
func FuzzParseDelta(f *testing.F) {
	f.Add([]byte(goodDelta))
	f.Add([]byte(strings.Replace(goodDelta, `"added":["`, `"added":["../victim.txt","`, 1)))
	f.Add([]byte(strings.Replace(goodDelta, `"removed":[`, `"removed":[],"removed":[`, 1)))
	f.Add([]byte(`{"format":"stella-export/mirror-delta/v1","added":[],"changed":[],"removed":[]}`))
	f.Add([]byte(`{"added":["data/raw/advisories/acme/c.json\u0000"]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dd, err := ParseDelta(b)
		if err != nil {
			return
		}
		if err := CheckDelta(dd, testBase, testDelta); err != nil {
			return
		}
		stage := filepath.FromSlash("/stage")
		for _, list := range [][]string{dd.Added, dd.Changed, dd.Removed} {
			for _, p := range list {
				if err := safepath.Check(p, false); err != nil || !adapters.IsTree(p) {
					t.Fatalf("accepted unsafe path %q", p)
				}
				if !testBase[p] && !testDelta[p] {
					t.Fatalf("accepted %q, in neither tree", p)
				}
				if j := filepath.Join(stage, filepath.FromSlash(p)); !strings.HasPrefix(j, stage+string(filepath.Separator)) {
					t.Fatalf("%q leaves the stage: %s", p, j)
				}
			}
		}
	})
}
