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
	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// verifiedBase packs dir as a bundle of profile and returns what verifying
// it establishes: its identity, mirror.json's bytes and its digests, as a
// verifier (plan.LoadBase) hands them to NewBase.
func verifiedBase(t *testing.T, dir, profile string) VerifiedBase {
	t.Helper()
	var buf bytes.Buffer
	res, err := bundle.WriteDir(context.Background(), &buf, bundle.DirConfig{Dir: dir, Profile: profile, ExportID: "base-1"})
	if err != nil {
		t.Fatal(err)
	}
	v := VerifiedBase{BaseRef: BaseRef{ExportID: "base-1", RootHash: res.Root.String(), SHA256: digest(buf.Bytes())},
		Profile: profile, Sums: bundleSums(t, buf.Bytes())}
	if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(MirrorManifest))); err == nil {
		v.Manifest = b
	}
	return v
}

// bundleSums parses the checksums.txt of the bundle raw.
func bundleSums(t *testing.T, raw []byte) *checksums.File {
	t.Helper()
	r, err := tarball.NewReader(bytes.NewReader(raw), tarball.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatalf("checksums.txt: %v", err)
		}
		if e.Name == "checksums.txt" {
			f, err := checksums.Parse(r)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
}

func TestNewBase(t *testing.T) {
	full := mustRun(t, "mirror:full", newFixture(t, true, allDocs...), runOpts{})
	v := verifiedBase(t, full.stage.Dir, "mirror:full")

	bm, err := NewBase("base.tgz", v)
	if err != nil {
		t.Fatal(err)
	}
	if bm.BaseRef != v.BaseRef {
		t.Errorf("BaseRef %+v, want %+v", bm.BaseRef, v.BaseRef)
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
}

// TestNewBaseRefuses: a base that is not a mirror:full bundle, or whose
// mirror.json does not state exactly the verified tree, is refused (exit
// 3), so that a delta is never computed from an unverified claim.
func TestNewBaseRefuses(t *testing.T) {
	raw := mustRun(t, "json:raw", newFixture(t, false, advH2), runOpts{})
	rawBase := verifiedBase(t, raw.stage.Dir, "json:raw")

	notManifest := t.TempDir()
	if err := os.MkdirAll(filepath.Join(notManifest, "manifests"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(notManifest, "manifests", "mirror.json"), []byte(`{"format":"stella-export/mirror/v0","files":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	badManifest := verifiedBase(t, notManifest, "mirror:full")

	full := mustRun(t, "mirror:full", newFixture(t, false, advH2, advNet), runOpts{})
	good := verifiedBase(t, full.stage.Dir, "mirror:full")
	h2, net := MirrorPath(&advH2.Doc), MirrorPath(&advNet.Doc)
	lying := func(old, new string) VerifiedBase {
		t.Helper()
		if !bytes.Contains(good.Manifest, []byte(old)) {
			t.Fatalf("%q not in mirror.json %s", old, good.Manifest)
		}
		v := good
		v.Manifest = bytes.Replace(good.Manifest, []byte(old), []byte(new), 1)
		return v
	}
	h2Digest := good.Sums.Entries[good.Sums.Index(h2)].Digest.String()
	i := bytes.Index(good.Manifest, []byte(`{"path":"`+net))
	if i < 0 {
		t.Fatalf("%s not in mirror.json", net)
	}
	netLine := string(good.Manifest[i : i+bytes.IndexByte(good.Manifest[i:], '}')+1])
	noManifest := good
	noManifest.Manifest = nil

	for _, tc := range []struct {
		name     string
		v        VerifiedBase
		contains string
	}{
		{"another profile", rawBase, `base mirror base.tgz: profile "json:raw", want a mirror:full bundle`},
		{"no mirror manifest", noManifest, "base mirror base.tgz: no manifests/mirror.json in the bundle"},
		{"not a mirror manifest", badManifest, "manifests/mirror.json is not a stella-export/mirror/v1 manifest"},
		{"misstated digest", lying(h2Digest, "sha256:"+strings.Repeat("0", 64)), "manifests/mirror.json: " + h2 + " has SHA-256 " + h2Digest},
		{"file not in the bundle", lying(`"path":"`+h2, `"path":"`+h2+"x"), `lists "` + h2 + `x", which is not a file of the bundle's mirror tree`},
		{"file outside the tree", lying(`"path":"`+h2, `"path":"README.md`), `lists "README.md", which is not a file`},
		{"file not listed", lying(netLine+",", ""), net + " is not in manifests/mirror.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bm, err := NewBase("base.tgz", tc.v)
			if code := exitcode.For(err); code != exitcode.Invalid || bm != nil {
				t.Fatalf("exit %d (%v), base %v; want exit %d", code, err, bm, exitcode.Invalid)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
		})
	}
}
