package plan

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// Check checks a plan read from a file against the contract it was made
// from (the caller has matched the contract's digest), since a plan file is
// as untrusted as any input: its contract section must say what the
// contract says (the cross-tenant consent only where the contract allows
// it); every input must belong to a tenant the contract selects (another
// tenant than the contract's only with the consent) and lie below
// <tenant>/<type directory>/ of the source (findings below
// <tenant>/policy/<snapshot>/findings/, for the contract's tenant and
// snapshot); the policy snapshot and base must be there exactly when the
// contract names them. Errors are exit 3. Check does not open any file:
// run opens each input without following links and checks its digest.
func (p *Plan) Check(c *contract.Contract) error {
	want := Contract{
		Path: p.Contract.Path, Digest: c.Digest, ExportID: c.ExportID, Tenant: c.Tenant, Profile: c.Profile,
		Source: c.Source, Selectors: selectors(c), PolicySnapshot: c.PolicySnapshot, BaseBundle: c.Base,
		TrivySchema:   c.TrivySchema,
		Compression:   Compression{Codec: c.Compression.Codec, Level: c.Compression.Level},
		RetentionDays: c.RetentionDays, Output: c.Output,
		AllowCrossTenant: c.AllowCrossTenant && p.Contract.AllowCrossTenant, SkipInvalid: p.Contract.SkipInvalid,
		Encryption: encryption(c),
	}
	if err := sameFields(p.Contract, want, c.Path); err != nil {
		return err
	}
	if (p.Policy != nil) != (c.PolicySnapshot != "") {
		return exitcode.Invalidf("policy: the plan has %s policy snapshot, but %s names %s", aOrNo(p.Policy != nil), c.Path, orNone(c.PolicySnapshot))
	}
	if p.Policy != nil {
		if p.Policy.SnapshotID != c.PolicySnapshot {
			return exitcode.Invalidf("policy.snapshotId: %q in the plan, %q in %s", p.Policy.SnapshotID, c.PolicySnapshot, c.Path)
		}
		if want := path.Join(c.Tenant, "policy", c.PolicySnapshot, "snapshot.json"); p.Policy.Path != want {
			return exitcode.Invalidf("policy.path: %q, want %q", p.Policy.Path, want)
		}
	}
	if (p.Base != nil) != (c.Profile == contract.ProfileMirrorDelta) {
		return exitcode.Invalidf("base: the plan has %s base mirror, but the profile is %s", aOrNo(p.Base != nil), c.Profile)
	}
	tenants := want.Selectors.Tenants
	i := 0
	for d, err := range p.Inputs.All() {
		if err != nil {
			return err
		}
		if err := checkInput(d, c, tenants, want.AllowCrossTenant); err != nil {
			return fmt.Errorf("inputs[%d]: %w", i, err)
		}
		i++
	}
	return nil
}

func checkInput(d *evidence.Doc, c *contract.Contract, tenants []string, cross bool) error {
	if !slices.Contains(tenants, d.Tenant) {
		return exitcode.Invalidf("tenant %q is not selected by the contract (selectors.tenants: %s)", d.Tenant, strings.Join(tenants, ", "))
	}
	if d.Tenant != c.Tenant && !cross {
		return &evidence.CrossTenantError{Path: d.Path, Tenant: d.Tenant, Want: c.Tenant}
	}
	if !reads(c.Profile, d.Type) {
		return exitcode.Invalidf("%s: profile %s does not read %s documents", d.Path, c.Profile, d.Type)
	}
	dir := d.Tenant + "/" + d.Type.Dir() + "/"
	if d.Type == evidence.Finding {
		if d.Tenant != c.Tenant || c.PolicySnapshot == "" {
			return exitcode.Invalidf("a finding of tenant %q, but the contract's policy snapshot is %s of tenant %q", d.Tenant, orNone(c.PolicySnapshot), c.Tenant)
		}
		dir = c.Tenant + "/policy/" + c.PolicySnapshot + "/findings/"
	}
	if !strings.HasPrefix(d.Path, dir) {
		return exitcode.Invalidf("path %q is not below %s (tenant %s, type %s)", d.Path, dir, d.Tenant, d.Type)
	}
	return nil
}

// sameFields compares the plan's contract section with the contract's,
// field by field, naming the first that differs.
func sameFields(got, want Contract, contractPath string) error {
	g, err := fields(got)
	if err != nil {
		return err
	}
	w, err := fields(want)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if string(g[k]) != string(w[k]) {
			return exitcode.Invalidf("contract.%s: %s in the plan, %s in %s", k, orAbsent(g[k]), orAbsent(w[k]), contractPath)
		}
	}
	return nil
}

func fields(c Contract) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	return m, json.Unmarshal(b, &m)
}

func orAbsent(b json.RawMessage) string {
	if b == nil {
		return "absent"
	}
	return string(b)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return fmt.Sprintf("%q", s)
}

func aOrNo(b bool) string {
	if b {
		return "a"
	}
	return "no"
}

// reads says whether the profile's adapters read documents of type t.
func reads(profile string, t evidence.Type) bool {
	if types := adapters.InputTypes(profile); types != nil {
		return slices.Contains(types, t)
	}
	return t != evidence.JavaIndex
}
