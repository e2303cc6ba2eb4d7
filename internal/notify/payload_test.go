package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/tarball"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/notify")

func fromFile(t *testing.T, path string, opt BuildOptions) (*Payload, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, _, err := FromBundle(context.Background(), f, path, opt)
	return p, err
}

// TestGoldenPayload pins the payload bytes and the key of the sample
// portable export (refresh with go test ./internal/notify -update), and
// checks them against the bundle: root_hash is what verify reports,
// artifact_sha256 the file's SHA-256, the sizes those of the files.
func TestGoldenPayload(t *testing.T) {
	path := samplePortable(t)
	p, err := fromFile(t, path, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := p.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{
		"export.airgap.ready.v1.json": body,
		"key.txt":                     []byte(p.Key() + "\n"),
	}
	for name, data := range got {
		gp := filepath.Join(goldenDir, name)
		if *update {
			if err := os.WriteFile(gp, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(gp)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/notify -update to create it)", err)
		}
		if !bytes.Equal(data, want) {
			t.Errorf("%s differs from the golden file:\n--- got\n%s--- want\n%s", name, data, want)
		}
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if p.ArtifactSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("artifact_sha256 %s, sha256sum says %x", p.ArtifactSHA256, sum)
	}
	if p.Metadata.ExportSizeBytes != int64(len(raw)) {
		t.Errorf("export_size_bytes %d, file has %d", p.Metadata.ExportSizeBytes, len(raw))
	}
	inner, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(path)), "portable-bundle-v1.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Metadata.PortableSizeBytes != int64(len(inner)) {
		t.Errorf("portable_size_bytes %d, the inner bundle has %d", p.Metadata.PortableSizeBytes, len(inner))
	}
	checksums := entryOf(t, raw, "checksums.txt")
	if line1, _, _ := strings.Cut(string(checksums), "\n"); line1 != "root "+p.RootHash {
		t.Errorf("root_hash %s, checksums.txt line 1 is %q", p.RootHash, line1)
	}
	want := sha256.Sum256([]byte("export.airgap.ready.v1\nexp-sample\n" + p.ArtifactSHA256))
	if p.Key() != hex.EncodeToString(want[:]) {
		t.Errorf("key %s, want SHA-256 of type, export id and artifact digest", p.Key())
	}
	for field, v := range map[string]string{
		"type": p.Type, "export_id": p.ExportID, "bundle_id": p.BundleID, "tenant_id": p.TenantID,
		"profile_id": p.ProfileID, "portable_version": p.PortableVersion, "created_at": p.CreatedAt,
		"artifact_uri": p.ArtifactURI, "source_uri": p.Metadata.SourceURI,
	} {
		want := map[string]string{
			"type": "export.airgap.ready.v1", "export_id": "exp-sample", "bundle_id": "evb-sample", "tenant_id": "acme",
			"profile_id": "airgap-evidence", "portable_version": "v1", "created_at": "2025-01-01T00:00:00Z",
			"artifact_uri": "/v1/exports/airgap/evidence/exp-sample/download", "source_uri": "/evidence/evb-sample/portable",
		}[field]
		if v != want {
			t.Errorf("%s = %q, want %q", field, v, want)
		}
	}
	if p.ExpiresAt != "" || strings.Contains(string(body), "expires_at") {
		t.Errorf("expires_at present without --expires-at: %s", body)
	}
}

func entryOf(t *testing.T, raw []byte, name string) []byte {
	t.Helper()
	r, err := tarball.NewReader(bytes.NewReader(raw), tarball.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatalf("no %s: %v", name, err)
		}
		if e.Name == name {
			var b bytes.Buffer
			if _, err := b.ReadFrom(r); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}
	}
}

func TestPayloadOptions(t *testing.T) {
	path := samplePortable(t)
	created := time.Date(2025, 11, 20, 0, 0, 0, 0, time.UTC)
	p, err := fromFile(t, path, BuildOptions{
		ArtifactURI: "https://exports.example/t/{bundleId}/{exportId}.tgz",
		CreatedAt:   created, ExpiresAt: created.AddDate(1, 0, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.CreatedAt != "2025-11-20T00:00:00Z" || p.ExpiresAt != "2026-11-20T00:00:00Z" {
		t.Errorf("created_at %s, expires_at %s", p.CreatedAt, p.ExpiresAt)
	}
	if p.ArtifactURI != "https://exports.example/t/evb-sample/exp-sample.tgz" {
		t.Errorf("artifact_uri %s", p.ArtifactURI)
	}
	// Same export, same artifact: the key does not depend on the options.
	q, err := fromFile(t, path, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Key() != q.Key() {
		t.Errorf("key changed with the options")
	}

	_, err = fromFile(t, path, BuildOptions{CreatedAt: created, ExpiresAt: created})
	var expiry *ExpiryError
	if exitcode.For(err) != exitcode.Invalid || !errors.As(err, &expiry) || !strings.Contains(err.Error(), "expires_at 2025-11-20T00:00:00Z is not after created_at") {
		t.Errorf("expires_at == created_at: %v (exit %d)", err, exitcode.For(err))
	}
}

// TestRefusedBundles: a bundle that does not verify exits 1 and is not
// announced; a directory bundle (no portable evidence) exits 3.
func TestRefusedBundles(t *testing.T) {
	path := samplePortable(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(t.TempDir(), "tampered.tgz")
	if err := os.WriteFile(tampered, flipInEntry(t, raw, "portable-bundle-v1.tgz"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = fromFile(t, tampered, BuildOptions{})
	if exitcode.For(err) != exitcode.Verify {
		t.Errorf("tampered bundle: %v (exit %d), want exit 1", err, exitcode.For(err))
	}

	dirBundle := filepath.Join(t.TempDir(), "dir.tgz")
	f, err := os.Create(dirBundle)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bundle.WriteDir(context.Background(), f, bundle.DirConfig{Dir: sampleDir}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = fromFile(t, dirBundle, BuildOptions{})
	var pe *ProfileError
	if exitcode.For(err) != exitcode.Invalid || !asProfile(err, &pe) || pe.Profile != "directory" {
		t.Errorf("directory bundle: %v (exit %d), want a ProfileError, exit 3", err, exitcode.For(err))
	}

	_, err = fromFile(t, writeTemp(t, []byte("not a bundle")), BuildOptions{})
	if exitcode.For(err) != exitcode.Invalid {
		t.Errorf("garbage: %v (exit %d), want exit 3", err, exitcode.For(err))
	}
}

func writeTemp(t *testing.T, b []byte) string {
	p := filepath.Join(t.TempDir(), "x.tgz")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// flipInEntry rewrites a bundle with one bit of the named entry flipped, keeping
// the archive well-formed (so only the digest check fails).
func flipInEntry(t *testing.T, raw []byte, name string) []byte {
	t.Helper()
	r, err := tarball.NewReader(bytes.NewReader(raw), tarball.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w, err := tarball.NewWriter(&out, tarball.Options{ModTime: r.GzipModTime})
	if err != nil {
		t.Fatal(err)
	}
	for {
		e, err := r.Next()
		if err != nil {
			break
		}
		if e.Dir {
			if err := w.Dir(e.Name); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(r); err != nil {
			t.Fatal(err)
		}
		data := b.Bytes()
		if e.Name == name {
			data[len(data)/2] ^= 1
		}
		if err := w.File(e.Name, int64(len(data)), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestManifestFromVerifyingPass: export.json is taken from the pass that
// verifies it, and only once that pass has succeeded: a bundle whose
// export.json was altered is refused as unverified (exit 1), never read as
// a manifest.
func TestManifestFromVerifyingPass(t *testing.T) {
	raw, err := os.ReadFile(samplePortable(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fromFile(t, writeTemp(t, flipInEntry(t, raw, "export.json")), BuildOptions{})
	if exitcode.For(err) != exitcode.Verify || !strings.Contains(err.Error(), "export.json") {
		t.Errorf("altered export.json: %v (exit %d), want exit 1 naming export.json", err, exitcode.For(err))
	}
}
