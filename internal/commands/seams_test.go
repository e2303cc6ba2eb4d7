package commands

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPackageSeams keeps the package graph pointing the way README.md's
// architecture says: layout and digest are leaves, bundle declares the
// Signer it needs instead of pulling in the signing stack, verify reads
// bundles without the package that writes them, notify needs no part of
// portable, and adapters are handed verified bundles instead of verifying
// them.
func TestPackageSeams(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list dependencies with")
	}
	const mod = "github.com/stella-ops/stella-export/internal/"
	for _, tc := range []struct {
		pkg       string
		forbidden []string // substrings of import paths
	}{
		{"layout", []string{mod}},
		{"digest", []string{mod}},
		{"bundle", []string{"sigstore", mod + "signing"}},
		{"verify", []string{mod + "bundle"}},
		{"notify", []string{mod + "portable"}},
		{"adapters", []string{mod + "verify"}},
	} {
		out, err := exec.Command(goTool, "list", "-deps", mod+tc.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", tc.pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == mod+tc.pkg {
				continue
			}
			for _, f := range tc.forbidden {
				if strings.Contains(dep, f) {
					t.Errorf("internal/%s depends on %s", tc.pkg, dep)
				}
			}
		}
	}
}
