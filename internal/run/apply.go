package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/tarball"
	"github.com/stella-ops/stella-export/internal/verify"
)

// ApplyResult describes an applied delta.
type ApplyResult struct {
	Files, Added, Changed, Removed int
}

// ApplyDelta rebuilds the mirror tree of full(B) in outDir from the bundle
// full(A) (base) and the bundle delta(A→B): both are verified, the base's
// tree is written, the delta's removed files dropped, its added and
// changed files written, and the result checked file by file against the
// delta's manifests/mirror.json. Nothing is left behind on failure.
func ApplyDelta(ctx context.Context, deltaPath, basePath, outDir string, force bool) (res *ApplyResult, err error) {
	if err := checkFree(outDir, force); err != nil {
		return nil, err
	}
	deltaRep, err := verifyFile(ctx, deltaPath)
	if err != nil {
		return nil, err
	}
	if deltaRep.Profile != "mirror:delta" {
		return nil, exitcode.Invalidf("%s: profile %q, want a mirror:delta bundle", deltaPath, deltaRep.Profile)
	}
	baseRep, err := verifyFile(ctx, basePath)
	if err != nil {
		return nil, err
	}
	var dd adapters.DeltaDoc
	var man adapters.MirrorManifestDoc
	if err := readJSONEntry(deltaPath, adapters.DeltaManifest, &dd); err != nil {
		return nil, err
	}
	if err := readJSONEntry(deltaPath, adapters.MirrorManifest, &man); err != nil {
		return nil, err
	}
	if dd.Base.SHA256 != "sha256:"+baseRep.SHA256 {
		return nil, exitcode.Conflictf("%s: the delta applies to the base bundle with SHA-256 %s (export %s), not to %s (SHA-256 %s)",
			deltaPath, dd.Base.SHA256, dd.Base.ExportID, basePath, baseRep.SHA256)
	}
	parent := filepath.Dir(filepath.Clean(outDir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(parent, ".stella-export-apply-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(stage)
		}
	}()
	removed := map[string]bool{}
	for _, p := range dd.Removed {
		removed[p] = true
	}
	// The base's tree, minus what the delta removes or replaces.
	if err := extractTree(ctx, basePath, stage, func(name string) bool {
		return !removed[name] && name != adapters.MirrorManifest
	}); err != nil {
		return nil, fmt.Errorf("%s: %w", basePath, err)
	}
	replaced := map[string]bool{adapters.MirrorManifest: true}
	for _, p := range append(append([]string{}, dd.Added...), dd.Changed...) {
		replaced[p] = true
	}
	for p := range replaced {
		if err := os.Remove(filepath.Join(stage, filepath.FromSlash(p))); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
	}
	if err := extractTree(ctx, deltaPath, stage, func(name string) bool { return name != adapters.DeltaManifest }); err != nil {
		return nil, fmt.Errorf("%s: %w", deltaPath, err)
	}
	if err := checkTree(stage, man); err != nil {
		return nil, err
	}
	if err := replaceDir(stage, outDir, force); err != nil {
		return nil, err
	}
	return &ApplyResult{Files: len(man.Files) + 1, Added: len(dd.Added), Changed: len(dd.Changed), Removed: len(dd.Removed)}, nil
}

func verifyFile(ctx context.Context, path string) (*verify.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	defer f.Close()
	rep, err := verify.Verify(ctx, f, verify.Options{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}

func readJSONEntry(path, name string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read bundle: %w", err)
	}
	defer f.Close()
	b, err := adapters.ReadEntry(f, name)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return exitcode.Invalidf("%s: %s: %v", path, name, err)
	}
	return nil
}

// extractTree writes the mirror-tree files of a (verified) bundle that
// keep accepts. Names were checked safe by the reader.
func extractTree(ctx context.Context, bundlePath, dir string, keep func(string) bool) error {
	f, err := os.Open(bundlePath)
	if err != nil {
		return err
	}
	defer f.Close()
	tr, err := tarball.NewReader(f, tarball.Limits{})
	if err != nil {
		return err
	}
	defer tr.Close()
	for {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		e, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if e.Dir || !adapters.IsTree(e.Name) || !keep(e.Name) {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(e.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, tr); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	}
}

// checkTree compares dir with the mirror manifest: every listed file with
// its digest, and nothing else.
func checkTree(dir string, man adapters.MirrorManifestDoc) error {
	want := map[string]string{}
	for _, f := range man.Files {
		want[f.Path] = f.SHA256
	}
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == adapters.MirrorManifest {
			return nil
		}
		w, ok := want[rel]
		if !ok {
			return exitcode.Verifyf("applied tree: %s is not in %s", rel, adapters.MirrorManifest)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != w {
			return exitcode.Verifyf("applied tree: %s: SHA-256 %s, %s says %s", rel, got, adapters.MirrorManifest, w)
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if n != len(want) {
		return exitcode.Verifyf("applied tree: %d of the %d files %s lists are missing", len(want)-n, len(want), adapters.MirrorManifest)
	}
	return nil
}
