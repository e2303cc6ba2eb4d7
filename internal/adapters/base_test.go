package adapters

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// writeBundle packs dir as a bundle of profile and returns its path, its
// root and its bytes.
func writeBundle(t *testing.T, dir, profile string) (string, string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	res, err := bundle.WriteDir(context.Background(), &buf, bundle.DirConfig{Dir: dir, Profile: profile, ExportID: "base-1"})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "base.tgz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, res.Root.String(), buf.Bytes()
}

func TestLoadBase(t *testing.T) {
	full := mustRun(t, "mirror:full", newFixture(t, true, allDocs...), runOpts{})
	path, root, raw := writeBundle(t, full.stage.Dir, "mirror:full")

	bm, err := LoadBase(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	want := BaseRef{ExportID: "base-1", RootHash: root, SHA256: digest(raw)}
	if bm.BaseRef != want {
		t.Errorf("BaseRef %+v, want %+v", bm.BaseRef, want)
	}
	// Files is mirror.json's list: every tree file but mirror.json itself.
	files := map[string]string{}
	for p, b := range tree(t, full.stage.Dir) {
		if p != MirrorManifest {
			files[p] = digest(b)
		}
	}
	if !maps.Equal(bm.Files, files) {
		t.Errorf("Files\n got %v\nwant %v", bm.Files, files)
	}

	b, err := ReadEntry(bytes.NewReader(raw), MirrorManifest)
	if err != nil {
		t.Fatal(err)
	}
	if want := tree(t, full.stage.Dir)[MirrorManifest]; !bytes.Equal(b, want) {
		t.Errorf("ReadEntry(%s) = %s, want %s", MirrorManifest, b, want)
	}
}

func TestLoadBaseRefuses(t *testing.T) {
	raw := mustRun(t, "json:raw", newFixture(t, false, advH2), runOpts{})
	rawBundle, _, rawBytes := writeBundle(t, raw.stage.Dir, "json:raw")

	notManifest := t.TempDir()
	if err := os.MkdirAll(filepath.Join(notManifest, "manifests"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(notManifest, "manifests", "mirror.json"), []byte(`{"format":"stella-export/mirror/v0","files":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	badManifest, _, _ := writeBundle(t, notManifest, "mirror:full")

	notGzip := filepath.Join(t.TempDir(), "not.tgz")
	if err := os.WriteFile(notGzip, []byte("not a bundle\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, path string
		code       int
		contains   string
	}{
		{"another profile", rawBundle, exitcode.Invalid, `profile "json:raw", want a mirror:full bundle`},
		{"not a mirror manifest", badManifest, exitcode.Invalid, "manifests/mirror.json is not a stella-export/mirror/v1 manifest"},
		{"not a bundle", notGzip, exitcode.Invalid, "base mirror " + notGzip + ": "},
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

	_, err := ReadEntry(bytes.NewReader(rawBytes), MirrorManifest)
	if code := exitcode.For(err); code != exitcode.Invalid || err.Error() != "no manifests/mirror.json in the bundle" {
		t.Errorf("ReadEntry of a missing entry: exit %d (%v)", code, err)
	}
}
