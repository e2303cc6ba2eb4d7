package contract

import (
	"path/filepath"
	"reflect"
	"testing"
)

// TestEncryption: the shorthand, the default scope per profile, and
// recipients files resolved against the contract's directory.
func TestEncryption(t *testing.T) {
	for _, tt := range []struct {
		name string
		src  string
		want *Encryption
	}{
		{"none", mk(), nil},
		{"shorthand", mk("profile: mirror:full", "encryption: alias/prod"),
			&Encryption{Mode: EncryptEnvelope, Key: "alias/prod", Scope: ScopePayload}},
		{"mirror default scope", mk("profile: mirror:full", "encryption: {mode: envelope, key: alias/prod}"),
			&Encryption{Mode: EncryptEnvelope, Key: "alias/prod", Scope: ScopeData}},
		{"json default scope", mk("encryption: {mode: envelope, key: alias/prod}"),
			&Encryption{Mode: EncryptEnvelope, Key: "alias/prod", Scope: ScopePayload}},
		{"age", mk("profile: mirror:delta", "base: b.tgz", "encryption: {mode: age, recipients: [keys/acme.recipients, "+testRecipient+"], scope: payload}"),
			&Encryption{Mode: EncryptAge, Recipients: []string{"keys/acme.recipients", testRecipient},
				RecipientPaths: []string{filepath.Join("contracts", "keys", "acme.recipients"), testRecipient}, Scope: ScopePayload}},
	} {
		c, err := Parse(filepath.Join("contracts", "c.yaml"), []byte(tt.src))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !reflect.DeepEqual(c.Encryption, tt.want) {
			t.Errorf("%s: Encryption = %+v, want %+v", tt.name, c.Encryption, tt.want)
		}
	}
}
