package contract

import (
	"fmt"
	"path"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stella-ops/stella-export/internal/agecrypt"
	"github.com/stella-ops/stella-export/internal/keyring"
)

// Encryption modes and scopes (docs/contract.md#encryption).
const (
	EncryptEnvelope = "envelope"
	EncryptAge      = "age"
	ScopeData       = "data"
	ScopePayload    = "payload"
)

// RecipientsSuffix ends the name of a tenant's recipients file,
// keys/<tenant>.recipients: a file named <T>.recipients belongs to tenant T.
const RecipientsSuffix = ".recipients"

// Encryption is the contract's encryption field: how run encrypts the
// export's files. Keys are never in the contract: Key names an alias of
// the keyring, Recipients are public keys.
type Encryption struct {
	Mode string // EncryptEnvelope or EncryptAge
	// Key is the envelope mode's master key alias, alias/NAME.
	Key string
	// Recipients are the age mode's recipients as written: age1...
	// strings and paths of recipients files relative to the contract.
	Recipients []string
	// RecipientPaths are Recipients with the file paths resolved against
	// the contract's directory (recipient strings as they are).
	RecipientPaths []string
	// Scope is ScopeData (files under data/) or ScopePayload (every
	// payload file); when not written, data for mirror profiles and
	// payload for the others.
	Scope string
}

var encryptionFields = []field{
	{"mode", "missing; add mode: envelope or mode: age", readEncMode},
	{"key", "", readEncKey},
	{"recipients", "", readEncRecipients},
	{"scope", "", readEncScope},
}

// readEncryption reads the mapping {mode, key|recipients, scope} or the
// shorthand alias/NAME, which means {mode: envelope, key: alias/NAME,
// scope: payload}.
func readEncryption(p *parser, c *Contract, path string, v *yaml.Node) {
	c.Encryption = &Encryption{}
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
		if _, err := keyring.ParseAlias(v.Value); err != nil {
			p.errorf(v, path, "%s; write alias/NAME (envelope mode) or a mapping such as {mode: age, recipients: [keys/%s.recipients]}", reason(err), tenantOr(c))
			return
		}
		*c.Encryption = Encryption{Mode: EncryptEnvelope, Key: v.Value, Scope: ScopePayload}
		return
	}
	if v.Kind != yaml.MappingNode {
		p.errorf(v, path, "want alias/NAME or a mapping such as {mode: envelope, key: alias/NAME} or {mode: age, recipients: [age1...]}, got %s", describe(v))
		return
	}
	p.mapping(c, path, v, encryptionFields, true)
}

// reason is err's message for a FieldError: the keyring's and agecrypt's
// messages start with what they checked.
func reason(err error) string { return err.Error() }

func tenantOr(c *Contract) string {
	if c.Tenant != "" {
		return c.Tenant
	}
	return "TENANT"
}

func readEncMode(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.str(path, v)
	if !ok {
		return
	}
	if s != EncryptEnvelope && s != EncryptAge {
		p.errorf(v, path, "unknown mode %s; use envelope (AES-256-GCM under a keyring alias) or age (age recipients)", quote(s))
		return
	}
	c.Encryption.Mode = s
}

func readEncKey(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.str(path, v)
	if !ok {
		return
	}
	if _, err := keyring.ParseAlias(s); err != nil {
		p.errorf(v, path, "%s", reason(err))
		return
	}
	c.Encryption.Key = s
}

func readEncRecipients(p *parser, c *Contract, path string, v *yaml.Node) {
	check := func(s string) string {
		if strings.IndexByte(s, 0) >= 0 {
			return "contains a NUL byte; write an age1... recipient or the path of a recipients file"
		}
		if strings.TrimSpace(s) == "" {
			return "is empty; write an age1... recipient or the path of a recipients file such as keys/" + tenantOr(c) + RecipientsSuffix
		}
		if len(s) >= 4 && strings.EqualFold(s[:4], "age1") {
			if _, err := agecrypt.ParseRecipients([]string{s}); err != nil {
				return reason(err)
			}
			return ""
		}
		if strings.HasPrefix(s, "AGE-SECRET-KEY-") {
			return "an age identity (a secret key) was given where a recipient (age1..., a public key) belongs; never put a secret key in a contract"
		}
		return ""
	}
	if l, ok := p.list(path, v, check, nil); ok {
		c.Encryption.Recipients = l
	}
}

func readEncScope(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.str(path, v)
	if !ok {
		return
	}
	if s != ScopeData && s != ScopePayload {
		p.errorf(v, path, "unknown scope %s; use data (the files under data/) or payload (every payload file)", quote(s))
		return
	}
	c.Encryption.Scope = s
}

// isRecipientFile says whether a recipients entry names a file.
func isRecipientFile(s string) bool { return !(len(s) >= 4 && strings.EqualFold(s[:4], "age1")) }

// checkEncryption relates encryption to the mode, the profile and the
// tenant, fills in the default scope and resolves recipients files.
func checkEncryption(p *parser, c *Contract) {
	e := c.Encryption
	if e == nil {
		return
	}
	if _, mapping := p.keys["encryption.mode"]; !mapping && e.Mode == "" {
		return // the value itself was wrong, and reported
	}
	at := func(field string) *yaml.Node {
		if k := p.keys["encryption."+field]; k != nil {
			return k
		}
		return p.keys["encryption"]
	}
	switch e.Mode {
	case EncryptEnvelope:
		if _, ok := p.keys["encryption.recipients"]; ok {
			p.errorf(at("recipients"), "encryption.recipients", "applies to mode age, not envelope; remove it, or use mode: age")
		}
		if _, ok := p.keys["encryption.key"]; !ok && e.Key == "" && p.keys["encryption.mode"] != nil {
			p.errorf(at("mode"), "encryption.key", "required by mode envelope; add key: alias/NAME (stella-export keys create alias/NAME makes one)")
		}
	case EncryptAge:
		if _, ok := p.keys["encryption.key"]; ok {
			p.errorf(at("key"), "encryption.key", "applies to mode envelope, not age; remove it, or use mode: envelope")
		}
		if _, ok := p.keys["encryption.recipients"]; !ok {
			p.errorf(at("mode"), "encryption.recipients", "required by mode age; add recipients: [keys/%s%s] or recipients: [age1...]", tenantOr(c), RecipientsSuffix)
		}
	}
	if e.Scope == "" && p.keys["encryption.scope"] == nil {
		e.Scope = ScopePayload
		if strings.HasPrefix(c.Profile, "mirror:") {
			e.Scope = ScopeData
		}
	}
	if e.Scope == ScopeData && isTrivy(c.Profile) {
		p.errorf(at("scope"), "encryption.scope", "profile %s writes no data/ directory, so scope data would encrypt nothing; use scope: payload", c.Profile)
	}
	for i, r := range e.Recipients {
		if !isRecipientFile(r) {
			e.RecipientPaths = append(e.RecipientPaths, r)
			continue
		}
		e.RecipientPaths = append(e.RecipientPaths, resolve(c.Path, r))
		// keys/<tenant>.recipients belongs to tenant <tenant>: another
		// tenant's file is refused like another tenant in selectors.
		base := path.Base(strings.ReplaceAll(r, "\\", "/"))
		owner, ok := strings.CutSuffix(base, RecipientsSuffix)
		if !ok || c.Tenant == "" || owner == c.Tenant || !validTenant(owner) || c.AllowCrossTenant {
			continue
		}
		ipath := fmt.Sprintf("encryption.recipients[%d]", i)
		p.errorf(p.vals[ipath], ipath, "%s is the recipients file of tenant %s, not of the contract's tenant %s; use keys/%s%s, or set allow_cross_tenant: true", quote(r), owner, c.Tenant, c.Tenant, RecipientsSuffix)
	}
}
