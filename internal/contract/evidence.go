package contract

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// profiles lists the EvidenceExport profiles in documentation order.
var profiles = []string{ProfileJSONRaw, ProfileJSONPolicy, ProfileMirrorFull, ProfileMirrorDelta, ProfileTrivyDB, ProfileTrivyJavaDB}

// Limits of numeric fields.
const (
	minZstdLevel     = 1
	maxZstdLevel     = 22
	defaultZstdLevel = 3
	maxRetentionDays = 36500
)

// evidenceKind is the EvidenceExport kind: the fields after the common
// ones, and the rules between fields.
var evidenceKind = &kindSpec{
	fields: []field{
		{"profile", "missing; add profile: one of " + strings.Join(profiles, ", "), readProfile},
		{"source", "missing; add source: <evidence directory>, e.g. source: ../evidence", readSource},
		{"selectors", "", readSelectors},
		{"policy_snapshot", "", readPolicySnapshot},
		{"base", "", readBase},
		{"trivy_schema", "", readTrivySchema},
		{"compression", "", readCompression},
		{"retention_days", "", readRetention},
		{"output", "", readOutput},
		{"allow_cross_tenant", "", readAllowCrossTenant},
		{"encryption", "", readEncryption},
		{"delivery", "", readReserved},
	},
	check: checkEvidence,
}

var selectorFields = []field{
	{"tenants", "", readSelTenants},
	{"since", "", readSelSince},
	{"until", "", readSelUntil},
	{"products", "", readSelProducts},
	{"sbom_subjects", "", readSelSubjects},
	{"ecosystems", "", readSelEcosystems},
}

var compressionFields = []field{
	{"codec", "", readCodec},
	{"level", "", readLevel},
}

func readProfile(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.str(path, v)
	if !ok {
		return
	}
	if contains(profiles, s) {
		c.Profile = s
		return
	}
	if g := suggest(s, profiles); g != "" {
		p.errorf(v, path, "unknown profile %s; did you mean %s? (profiles: %s)", quote(s), g, strings.Join(profiles, ", "))
		return
	}
	p.errorf(v, path, "unknown profile %s; use one of %s", quote(s), strings.Join(profiles, ", "))
}

func readSource(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.nonEmpty(path, v, "source: ../evidence")
	if !ok {
		return
	}
	if strings.IndexByte(s, 0) >= 0 {
		p.errorf(v, path, "contains a NUL byte; write the evidence directory's path")
		return
	}
	c.Source = s
}

func readPolicySnapshot(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.str(path, v)
	if !ok {
		return
	}
	if reason := checkSnapshot(s); reason != "" {
		p.errorf(v, path, "%s", reason)
		return
	}
	c.PolicySnapshot = s
}

func readBase(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.nonEmpty(path, v, "base: ../out/mirror-full.tgz")
	if !ok {
		return
	}
	if strings.IndexByte(s, 0) >= 0 {
		p.errorf(v, path, "contains a NUL byte; write the path of the base mirror bundle")
		return
	}
	c.Base = s
}

// maxTrivySchema bounds what trivy_schema reads as an integer; which
// versions are supported is checked with the profile, in checkEvidence.
const maxTrivySchema = 1 << 20

func readTrivySchema(p *parser, c *Contract, path string, v *yaml.Node) {
	if n, ok := p.integer(path, v, 1, maxTrivySchema); ok {
		c.TrivySchema = n
	}
}

func readRetention(p *parser, c *Contract, path string, v *yaml.Node) {
	if n, ok := p.integer(path, v, 1, maxRetentionDays); ok {
		c.RetentionDays = n
	}
}

func readOutput(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.str(path, v)
	if !ok {
		return
	}
	if reason := checkOutput(s); reason != "" {
		p.errorf(v, path, "%s", reason)
		return
	}
	c.Output = s
}

func readAllowCrossTenant(p *parser, c *Contract, path string, v *yaml.Node) {
	if b, ok := p.boolean(path, v); ok {
		c.AllowCrossTenant = b
	}
}

// readReserved refuses delivery: the name is kept for a later version, so
// it is a known field, but no value is accepted yet.
func readReserved(p *parser, c *Contract, path string, v *yaml.Node) {
	p.errorf(p.keys[path], path, "not supported by this version yet (planned); remove it")
}

func readSelectors(p *parser, c *Contract, path string, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		p.errorf(v, path, "want a mapping of tenants, since, until, products, sbom_subjects or ecosystems, got %s", describe(v))
		return
	}
	p.mapping(c, path, v, selectorFields, true)
}

func readSelTenants(p *parser, c *Contract, path string, v *yaml.Node) {
	if l, ok := p.list(path, v, checkTenant, nil); ok {
		c.Selectors.Tenants = l
	}
}

func readSelSince(p *parser, c *Contract, path string, v *yaml.Node) {
	if t, ok := p.time(path, v); ok {
		c.Selectors.Since = t
	}
}

func readSelUntil(p *parser, c *Contract, path string, v *yaml.Node) {
	if t, ok := p.time(path, v); ok {
		c.Selectors.Until = t
	}
}

func readSelProducts(p *parser, c *Contract, path string, v *yaml.Node) {
	if l, ok := p.list(path, v, checkPurlPrefix, nil); ok {
		c.Selectors.Products = l
	}
}

func readSelSubjects(p *parser, c *Contract, path string, v *yaml.Node) {
	check := func(s string) string {
		switch {
		case strings.TrimSpace(s) == "":
			return "is empty; write an SBOM subject such as pkg:oci/app or the SBOM's component name"
		case strings.TrimSpace(s) != s:
			return fmt.Sprintf("%s has leading or trailing spaces; remove them", quote(s))
		case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return fmt.Sprintf("%s contains a control character; remove it", quote(s))
		}
		return ""
	}
	if l, ok := p.list(path, v, check, nil); ok {
		c.Selectors.SBOMSubjects = l
	}
}

func readSelEcosystems(p *parser, c *Contract, path string, v *yaml.Node) {
	check := func(s string) string {
		if name, release, ok := strings.Cut(s, ":"); ok {
			if _, known := NormalizeEcosystem(name); known {
				return fmt.Sprintf("%s names a release (%s); ecosystems select whole ecosystems: write %s", quote(s), release, name)
			}
		}
		if _, ok := NormalizeEcosystem(s); ok {
			return ""
		}
		if g := suggest(s, ecosystemNames()); g != "" {
			return fmt.Sprintf("unknown ecosystem %s; did you mean %s?", quote(s), g)
		}
		return fmt.Sprintf("unknown ecosystem %s; use an OSV ecosystem or purl type such as npm, PyPI, Go, Maven, crates.io, RubyGems, NuGet, Debian or Alpine (docs/contract.md lists all)", quote(s))
	}
	// Ecosystems select by purl type: "PyPI" and "pypi", or Debian and
	// Ubuntu (both deb), are duplicates too.
	same := func(s string) string {
		t, _ := NormalizeEcosystem(s)
		return "purl type " + t
	}
	if l, ok := p.list(path, v, check, same); ok {
		c.Selectors.Ecosystems = l
	}
}

func readCompression(p *parser, c *Contract, path string, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		p.errorf(v, path, "want a mapping such as {codec: zstd, level: %d}, got %s", defaultZstdLevel, describe(v))
		return
	}
	p.mapping(c, path, v, compressionFields, true)
}

func readCodec(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.str(path, v)
	if !ok {
		return
	}
	if s != "zstd" {
		p.errorf(v, path, "codec %s is not supported; the only codec is zstd", quote(s))
		return
	}
	c.Compression.Codec = s
}

func readLevel(p *parser, c *Contract, path string, v *yaml.Node) {
	if n, ok := p.integer(path, v, minZstdLevel, maxZstdLevel); ok {
		c.Compression.Level = n
	}
}

// checkEvidence applies the rules that relate fields of an EvidenceExport:
// which profile needs or refuses policy_snapshot and base, the time
// window, the tenant scope; and resolves paths.
func checkEvidence(p *parser, c *Contract, root *yaml.Node) {
	profile := p.vals["profile"]
	if c.Profile != "" {
		_, hasSnapshot := p.keys["policy_snapshot"]
		_, hasBase := p.keys["base"]
		switch {
		case c.Profile == ProfileJSONPolicy && !hasSnapshot:
			p.errorf(profile, "policy_snapshot", "required by profile %s; add policy_snapshot: <snapshot id>, e.g. snap-2025-06", c.Profile)
		case (c.Profile == ProfileJSONRaw || isTrivy(c.Profile)) && hasSnapshot:
			p.errorf(p.keys["policy_snapshot"], "policy_snapshot", "applies to json:policy and mirror profiles, not %s; remove it or change the profile", c.Profile)
		}
		switch {
		case c.Profile == ProfileMirrorDelta && !hasBase:
			p.errorf(profile, "base", "required by profile %s; add base: <previous mirror bundle>, e.g. base: ../out/mirror-full.tgz", c.Profile)
		case c.Profile != ProfileMirrorDelta && hasBase:
			p.errorf(p.keys["base"], "base", "applies only to profile %s, not %s; remove it or change the profile", ProfileMirrorDelta, c.Profile)
		}
	}

	checkTrivySchema(p, c)
	checkEncryption(p, c)

	s := &c.Selectors
	if !s.Since.IsZero() && !s.Until.IsZero() && !s.Since.Before(s.Until) {
		p.errorf(p.vals["selectors.since"], "selectors.since", "impossible window: since %s is not before until %s; since is inclusive, until exclusive: make since earlier or until later",
			p.vals["selectors.since"].Value, p.vals["selectors.until"].Value)
	}

	if c.Tenant != "" {
		if _, written := p.keys["selectors.tenants"]; !written {
			s.Tenants = []string{c.Tenant}
		} else if v := p.vals["allow_cross_tenant"]; v != nil && (v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool") {
			// allow_cross_tenant is itself wrong (and reported): judge
			// the tenants when it is fixed.
		} else if !c.AllowCrossTenant {
			for i, t := range s.Tenants {
				if t == c.Tenant {
					continue
				}
				ipath := fmt.Sprintf("selectors.tenants[%d]", i)
				p.errorf(p.vals[ipath], ipath, "%s is not the contract's tenant %s; remove it, or set allow_cross_tenant: true", t, c.Tenant)
				p.errs[len(p.errs)-1].Code = exitcode.CodeCrossTenantDenied
			}
		}
	}

	if c.Source != "" {
		c.SourceDir = resolve(c.Path, c.Source)
	}
	if c.Base != "" {
		c.BasePath = resolve(c.Path, c.Base)
	}
}

func isTrivy(profile string) bool { return profile == ProfileTrivyDB || profile == ProfileTrivyJavaDB }

// checkTrivySchema refuses trivy_schema on other profiles and any version
// but the one the profile writes, and fills in the default. Trivy does not
// check the Java DB's version when its updates are skipped, so this is the
// only guard against writing a database Trivy would misread.
func checkTrivySchema(p *parser, c *Contract) {
	want, trivy := TrivySchemas[c.Profile]
	v := p.vals["trivy_schema"]
	switch {
	case c.Profile == "":
	case !trivy && p.keys["trivy_schema"] != nil:
		p.errorf(p.keys["trivy_schema"], "trivy_schema", "applies only to profiles %s and %s, not %s; remove it or change the profile", ProfileTrivyDB, ProfileTrivyJavaDB, c.Profile)
	case !trivy:
	case c.TrivySchema == 0 && v != nil:
		// Not an integer: reported already.
	case c.TrivySchema == 0:
		c.TrivySchema = want
	case c.TrivySchema != want:
		p.errorf(v, "trivy_schema", "schema %d is not supported by profile %s; it writes schema %d only: write trivy_schema: %d or leave it out", c.TrivySchema, c.Profile, want, want)
		p.errs[len(p.errs)-1].Code = exitcode.CodeTrivySchema
		c.TrivySchema = 0
	}
}
