package run

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// stagedExport stages a few files in dir/stage as a run does and writes
// its export.json; it returns the stage's records and export.json.
func stagedExport(t *testing.T, dir string) (stageDir string, files *adapters.Files, m *manifest.Run, mb []byte) {
	t.Helper()
	stageDir = filepath.Join(dir, "stage")
	if err := os.Mkdir(stageDir, 0o755); err != nil {
		t.Fatal(err)
	}
	stage := adapters.NewStage(context.Background(), stageDir, 0)
	t.Cleanup(func() { stage.Close() })
	for _, f := range []struct{ path, body string }{
		{"data/a.json", `{"a":1}`},
		{"data/b.json", `{"b":2}`},
		{"data/c/d.json", `{"d":3}`},
		{layout.Provenance, `{"format":"stella-export/provenance/v1"}`},
	} {
		if err := stage.WriteFile(f.path, []byte(f.body+"\n"), 1); err != nil {
			t.Fatal(err)
		}
	}
	files, err := stage.Files()
	if err != nil {
		t.Fatal(err)
	}
	m = &manifest.Run{Format: manifest.Format, Profile: "json:raw", ExportID: "exp-stage", ExporterVersion: "test"}
	if err := payloadFiles(m, files, func(adapters.File) {}); err != nil {
		t.Fatal(err)
	}
	if mb, err = manifest.Bytes(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stageDir, layout.Manifest), mb, 0o644); err != nil {
		t.Fatal(err)
	}
	return stageDir, files, m, mb
}

// TestPackageStageSameBytes: the bundle of a stage, packaged with the
// digests the stage recorded, is the bundle `package DIR` makes of the
// same directory by hashing every file.
func TestPackageStageSameBytes(t *testing.T) {
	dir := t.TempDir()
	stageDir, files, m, mb := stagedExport(t, dir)
	rd, err := runReadme(m, tarball.DefaultModTime, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got, want bytes.Buffer
	if _, err := packageStage(context.Background(), &got, dir, stageDir, files, m, mb, rd, tarball.DefaultModTime, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := PackageDir(context.Background(), &want, stageDir, PackageOptions{TempDir: dir}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("the bundle of the stage differs from package DIR's bundle of the same directory")
	}
}

// TestPackageStageTakesRecords: the hashing pass takes the digests the
// stage recorded instead of reading the files. A file overwritten, at the
// same size, after it was recorded is not read until the writing pass,
// which refuses it (ErrChanged, exit 5) by the recorded digest; had the
// hashing pass read it, the payload root would have differed from
// export.json's (an internal error, exit 4) before anything was written.
func TestPackageStageTakesRecords(t *testing.T) {
	dir := t.TempDir()
	stageDir, files, m, mb := stagedExport(t, dir)
	if err := os.WriteFile(filepath.Join(stageDir, "data", "b.json"), []byte(`{"b":9}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := packageStage(context.Background(), new(bytes.Buffer), dir, stageDir, files, m, mb, []byte("r\n"), tarball.DefaultModTime, Options{})
	if !errors.Is(err, bundle.ErrChanged) || exitcode.For(err) != exitcode.Conflict || !strings.Contains(err.Error(), filepath.Join("data", "b.json")) {
		t.Fatalf("err = %v (exit %d), want ErrChanged naming data/b.json, exit 5", err, exitcode.For(err))
	}
}
