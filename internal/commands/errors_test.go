package commands

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/notify"
	"github.com/stella-ops/stella-export/internal/plan"
	"github.com/stella-ops/stella-export/internal/portable"
	"github.com/stella-ops/stella-export/internal/signing"
)

// TestFlagNames: libraries name options and keys in their own terms; the
// CLI message names the flag and a bad flag value exits 2.
func TestFlagNames(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.pub")
	_, kmsErr := signing.LoadPublicKey("awskms:///alias/x")
	_, missingErr := signing.LoadPublicKey(missing)
	_, urlErr := notify.CheckURL(notify.WebhookOption, "ftp://x/y", notify.WebhookSchemes)
	tests := []struct {
		name string
		err  error
		want string
		code int
	}{
		{"kms key", keyFlag(kmsErr, "--key"),
			"--key awskms:///alias/x: KMS and hardware key references are not supported by this build; use a key file or env://VAR", exitcode.Usage},
		{"missing key", keyFlag(missingErr, "--sign-key"), "--sign-key " + missing + ": no such file or directory", exitcode.IO},
		{"wrapped option", flagged(fmt.Errorf("b.tgz: %w", exitcode.Optionf("ExpectRoot", `"abc" is not sha256:<64 lowercase hex>`)), verifyFlags),
			`b.tgz: --root: "abc" is not sha256:<64 lowercase hex>`, exitcode.Usage},
		{"option with a value", flagged(&exitcode.OptionError{Option: "path", Value: "a.txt", Err: exitcode.Invalidf("not listed in checksums.txt")}, verifyFlags),
			"--prove a.txt: not listed in checksums.txt", exitcode.Usage},
		{"url", flagged(urlErr, relayFlags), `--webhook: "ftp://x/y": scheme "ftp" is not http or https`, exitcode.Usage},
		{"conflict keeps its code", flagged(&exitcode.OptionError{Option: "OutDir", Err: exitcode.Conflictf("out exists")}, portableFlags),
			"-o: out exists", exitcode.Conflict},
		{"option of another command", flagged(exitcode.Optionf("Layout", "bad"), verifyFlags), "Layout: bad", exitcode.Invalid},
		{"not an option error", flagged(errors.New("boom"), verifyFlags), "boom", exitcode.IO},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%s: message %q, want %q", tt.name, got, tt.want)
		}
		if got := exitcode.For(tt.err); got != tt.code {
			t.Errorf("%s: exit %d, want %d", tt.name, got, tt.code)
		}
	}
}

// TestRemedy: libraries describe what is wrong without naming flags; the
// hint that names the flag to pass is added here, once.
func TestRemedy(t *testing.T) {
	for _, tc := range []struct {
		err  error
		hint string
	}{
		{&atomicfile.ExistsError{Path: "out.tgz"}, "remove out.tgz or pass --force"},
		{fmt.Errorf("sign: %w", &signing.OtherContentError{Path: "b.tgz.sig"}), "pass --force to replace it"},
		{fmt.Errorf("b.tgz: an attestation needs provenance: %w", signing.ErrNoProvenance), "pass --provenance FILE, the provenance.json of the export"},
		{&portable.MarkedFailedError{Marker: "x.failed"}, "inspect it, then re-run with --acknowledge-failure"},
		{fmt.Errorf("c.yaml:3:4: %w", plan.ErrUnconfirmedCrossTenant), "pass --allow-cross-tenant to confirm the cross-tenant export"},
		{&evidence.CrossTenantError{Path: "acme/x.json", Tenant: "globex", Want: "acme"}, "cross-tenant exports need allow_cross_tenant: true in the contract and --allow-cross-tenant"},
		{errors.New("something else"), ""},
	} {
		if got := remedy(tc.err); got != tc.hint {
			t.Errorf("remedy(%v) = %q, want %q", tc.err, got, tc.hint)
		}
		if strings.Contains(tc.err.Error(), "--") {
			t.Errorf("library message names a flag: %q", tc.err)
		}
	}
}
