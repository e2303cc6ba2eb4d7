package plan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// mirrorBundle writes a bundle of profile holding one mirror-tree file and
// manifests/mirror.json listing it, and returns its path and bytes.
func mirrorBundle(t *testing.T, profile string) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	doc := []byte(`{"id":"GO-1"}` + "\n")
	sum := sha256.Sum256(doc)
	man := `{"files":[{"path":"data/raw/advisories/acme/GO-1.json","sha256":"sha256:` + hex.EncodeToString(sum[:]) +
		`","size":14}],"format":"stella-export/mirror/v1","tenants":["acme"]}` + "\n"
	for rel, b := range map[string][]byte{"data/raw/advisories/acme/GO-1.json": doc, adapters.MirrorManifest: []byte(man)} {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := bundle.WriteDir(context.Background(), &buf, bundle.DirConfig{Dir: dir, Profile: profile, ExportID: "base-1"}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "base.tgz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, buf.Bytes()
}

// TestLoadBase: the base mirror is verified and its mirror.json taken from
// the same pass; what the bundle is and what its verification found reach
// the BaseMirror.
func TestLoadBase(t *testing.T) {
	path, raw := mirrorBundle(t, "mirror:full")
	bm, err := LoadBase(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if bm.ExportID != "base-1" || bm.SHA256 != "sha256:"+hex.EncodeToString(sum[:]) || !strings.HasPrefix(bm.RootHash, "sha256:") {
		t.Errorf("BaseRef %+v", bm.BaseRef)
	}
	if len(bm.Files) != 1 || !strings.HasPrefix(bm.Files["data/raw/advisories/acme/GO-1.json"], "sha256:") {
		t.Errorf("Files %v", bm.Files)
	}
}

func TestLoadBaseRefuses(t *testing.T) {
	rawBundle, _ := mirrorBundle(t, "json:raw")
	notGzip := filepath.Join(t.TempDir(), "not.tgz")
	if err := os.WriteFile(notGzip, []byte("not a bundle\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, raw := mirrorBundle(t, "mirror:full")
	tampered := filepath.Join(t.TempDir(), "tampered.tgz")
	// Cut the archive short: verification, not NewBase, refuses it.
	if err := os.WriteFile(tampered, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		code       int
		contains   string
	}{
		{"another profile", rawBundle, exitcode.Invalid, `base mirror ` + rawBundle + `: profile "json:raw", want a mirror:full bundle`},
		{"not a bundle", notGzip, exitcode.Invalid, "base mirror " + notGzip + ": "},
		{"truncated", tampered, exitcode.Invalid, "base mirror " + tampered + ": "},
		{"missing", filepath.Join(t.TempDir(), "none.tgz"), exitcode.IO, "read base mirror: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bm, err := LoadBase(context.Background(), tc.path)
			if code := exitcode.For(err); code != tc.code || bm != nil {
				t.Fatalf("exit %d (%v), base %v; want exit %d", code, err, bm, tc.code)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
		})
	}
}
