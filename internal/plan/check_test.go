package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

func loadContract(t *testing.T, path string) *contract.Contract {
	t.Helper()
	c, err := contract.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// first returns the first input of type t, from a plan whose inputs are
// held in memory (inMemory) so that tests can edit them.
func first(p *Plan, t evidence.Type) *evidence.Doc {
	for _, d := range p.Inputs.(evidence.SliceDocs) {
		if d.Type == t {
			return d
		}
	}
	return nil
}

// A plan is checked against its contract: a crafted plan cannot reach
// another tenant's documents or files outside its type directories.
func TestCheck(t *testing.T) {
	contracts := filepath.Join("..", "..", "testdata", "contracts")
	evDir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "evidence"))
	if err != nil {
		t.Fatal(err)
	}
	cross := filepath.Join(t.TempDir(), "cross.yaml")
	body := "apiVersion: stella-export/v1\nkind: EvidenceExport\nexport_id: urn:stella:export:acme:cross\ntenant: acme\nprofile: json:raw\nsource: " + evDir +
		"\nallow_cross_tenant: true\nselectors:\n  tenants: [acme, globex]\n"
	if err := os.WriteFile(cross, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	sealed := filepath.Join(t.TempDir(), "sealed.yaml")
	body = "apiVersion: stella-export/v1\nkind: EvidenceExport\nexport_id: urn:stella:export:acme:sealed\ntenant: acme\nprofile: json:raw\nsource: " + evDir +
		"\nencryption: alias/prod\n"
	if err := os.WriteFile(sealed, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		contract string
		consent  bool
		edit     func(p *Plan)
		want     string
	}{
		{"raw", "json-raw.yaml", false, nil, ""},
		{"policy", "json-policy.yaml", false, nil, ""},
		{"cross-tenant with consent", cross, true, nil, ""},
		{"other tenant's directory", "json-raw.yaml", false, func(p *Plan) {
			first(p, evidence.Advisory).Path = "globex/advisories/x.json"
		}, `inputs[0]: path "globex/advisories/x.json" is not below acme/advisories/ (tenant acme, type advisory)`},
		{"unselected tenant", "json-raw.yaml", false, func(p *Plan) {
			d := first(p, evidence.Advisory)
			d.Tenant, d.Path = "globex", "globex/advisories/x.json"
		}, `tenant "globex" is not selected by the contract (selectors.tenants: acme)`},
		{"wrong type directory", "json-raw.yaml", false, func(p *Plan) {
			first(p, evidence.VEX).Path = "acme/advisories/x.json"
		}, `is not below acme/vex/`},
		{"policy directory as an advisory", "json-policy.yaml", false, func(p *Plan) {
			first(p, evidence.Advisory).Path = "acme/policy/snap-2025-06/snapshot.json"
		}, `is not below acme/advisories/`},
		{"finding outside the snapshot", "json-policy.yaml", false, func(p *Plan) {
			first(p, evidence.Finding).Path = "acme/policy/other/findings/f.json"
		}, `is not below acme/policy/snap-2025-06/findings/`},
		{"finding without a snapshot", "json-raw.yaml", false, func(p *Plan) {
			first(p, evidence.Advisory).Type = evidence.Finding
		}, `a finding of tenant "acme", but the contract's policy snapshot is none`},
		{"policy path", "json-policy.yaml", false, func(p *Plan) {
			p.Policy.Path = "globex/policy/snap-2025-06/snapshot.json"
		}, `policy.path: "globex/policy/snap-2025-06/snapshot.json", want "acme/policy/snap-2025-06/snapshot.json"`},
		{"policy dropped", "json-policy.yaml", false, func(p *Plan) { p.Policy = nil }, `policy: the plan has no policy snapshot, but`},
		{"contract tenant", "json-raw.yaml", false, func(p *Plan) { p.Contract.Tenant = "globex" }, `contract.tenant: "globex" in the plan, "acme" in`},
		{"contract selectors", "json-raw.yaml", false, func(p *Plan) { p.Contract.Selectors.Tenants = []string{"acme", "globex"} }, `contract.selectors:`},
		{"contract profile", "json-raw.yaml", false, func(p *Plan) { p.Contract.Profile = "mirror:full" }, `contract.profile:`},
		{"consent the contract does not give", "json-raw.yaml", false, func(p *Plan) { p.Contract.AllowCrossTenant = true }, `contract.allowCrossTenant: true in the plan, false in`},
		{"cross-tenant without consent", cross, true, func(p *Plan) { p.Contract.AllowCrossTenant = false }, `belongs to tenant "globex", not "acme"`},
		{"encryption dropped", sealed, false, func(p *Plan) { p.Contract.Encryption = nil }, `contract.encryption: absent in the plan, {"mode":"envelope","scope":"payload","key":"alias/prod"} in`},
		{"encryption scope", sealed, false, func(p *Plan) { p.Contract.Encryption.Scope = "data" }, `contract.encryption: {"mode":"envelope","scope":"data","key":"alias/prod"} in the plan, {"mode":"envelope","scope":"payload","key":"alias/prod"} in`},
		{"encryption added", "json-raw.yaml", false, func(p *Plan) {
			p.Contract.Encryption = &Encryption{Mode: "age", Scope: "data", Recipients: []string{"r"}}
		}, `contract.encryption: {"mode":"age","scope":"data","recipients":["r"]} in the plan, absent in`},
		{"encryption kept", sealed, false, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.contract
			if !filepath.IsAbs(path) {
				path = filepath.Join(contracts, path)
			}
			c := loadContract(t, path)
			p, _, _, err := Build(context.Background(), c, Options{AllowCrossTenant: tt.consent})
			if err != nil {
				t.Fatal(err)
			}
			inMemory(t, p)
			if tt.edit != nil {
				tt.edit(p)
			}
			err = p.Check(c)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want == "":
				return
			case err == nil:
				t.Fatalf("accepted, want %q", tt.want)
			case !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q, want %q", err, tt.want)
			case exitcode.For(err) != exitcode.Invalid:
				t.Fatalf("exit %d, want %d", exitcode.For(err), exitcode.Invalid)
			}
			var ct *evidence.CrossTenantError
			if strings.Contains(tt.name, "without consent") && !errors.As(err, &ct) {
				t.Fatalf("want a *evidence.CrossTenantError, got %T", err)
			}
		})
	}
}

// inMemory replaces p's inputs with a copy in memory.
func inMemory(t testing.TB, p *Plan) {
	t.Helper()
	docs, err := evidence.Collect(p.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	p.Inputs = docs
}
