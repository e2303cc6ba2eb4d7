package run

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/partial"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/safepath"
	"github.com/stella-ops/stella-export/internal/tarball"
	"github.com/stella-ops/stella-export/internal/verify"
)

// ApplyResult describes an applied delta.
type ApplyResult struct {
	Files, Added, Changed, Removed int
}

// ApplyDelta rebuilds the mirror tree of full(B) in outDir from the bundle
// full(A) (base) and the bundle delta(A→B): both are verified, the delta's
// manifests/delta.json is checked against both trees (CheckDelta), the
// base's tree is written without the files the delta removes or replaces,
// the delta's files are added, and the result is checked file by file
// against the delta's manifests/mirror.json. Every file operation happens
// below the staging directory through an os.Root, and nothing outside it is
// ever removed: a name in a bundle only ever selects what is extracted.
// Nothing is left behind on failure. With force, outDir may replace only an
// earlier output of stella-export that holds neither bundle (checkTarget).
func ApplyDelta(ctx context.Context, deltaPath, basePath, outDir string, force bool) (res *ApplyResult, err error) {
	protect := []Protected{{What: "delta bundle", Path: deltaPath}, {What: "base bundle", Path: basePath}}
	if err := checkTarget(outDir, force, protect); err != nil {
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
	db, err := readEntry(deltaPath, adapters.DeltaManifest)
	if err != nil {
		return nil, err
	}
	dd, err := ParseDelta(db)
	if err != nil {
		return nil, exitcode.Invalidf("%s: %s: %v", deltaPath, adapters.DeltaManifest, err)
	}
	mb, err := readEntry(deltaPath, adapters.MirrorManifest)
	if err != nil {
		return nil, err
	}
	man, err := parseMirror(mb)
	if err != nil {
		return nil, exitcode.Invalidf("%s: %s: %v", deltaPath, adapters.MirrorManifest, err)
	}
	if dd.Base.SHA256 != "sha256:"+baseRep.SHA256 {
		return nil, exitcode.Conflictf("%s: the delta applies to the base bundle with SHA-256 %s (export %s), not to %s (SHA-256 %s)",
			deltaPath, dd.Base.SHA256, dd.Base.ExportID, basePath, baseRep.SHA256)
	}
	baseTree, err := treeNames(ctx, basePath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", basePath, err)
	}
	deltaTree, err := treeNames(ctx, deltaPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", deltaPath, err)
	}
	if err := CheckDelta(dd, baseTree, deltaTree); err != nil {
		return nil, exitcode.Invalidf("%s: %s: %v", deltaPath, adapters.DeltaManifest, err)
	}
	stage, err := makeStage(outDir, ".stella-export-apply-")
	if err != nil {
		return nil, err
	}
	defer partial.Track(ctx, stage)()
	defer func() {
		if err != nil {
			os.RemoveAll(stage)
		}
	}()
	root, err := os.OpenRoot(stage)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// The base's tree, minus what the delta removes or replaces.
	skip := map[string]bool{adapters.MirrorManifest: true}
	for _, list := range [][]string{dd.Added, dd.Changed, dd.Removed} {
		for _, p := range list {
			skip[p] = true
		}
	}
	if err := extractTree(ctx, basePath, root, func(name string) bool { return !skip[name] }); err != nil {
		return nil, fmt.Errorf("%s: %w", basePath, err)
	}
	if err := extractTree(ctx, deltaPath, root, func(name string) bool { return name != adapters.DeltaManifest }); err != nil {
		return nil, fmt.Errorf("%s: %w", deltaPath, err)
	}
	if err := checkTree(root, man); err != nil {
		return nil, err
	}
	root.Close()
	if err := replaceDir(stage, outDir, force, protect); err != nil {
		return nil, err
	}
	return &ApplyResult{Files: len(man.Files) + 1, Added: len(dd.Added), Changed: len(dd.Changed), Removed: len(dd.Removed)}, nil
}

// ParseDelta reads manifests/delta.json strictly: one JSON object, no
// duplicate or unknown keys, the delta format, and three path lists.
func ParseDelta(b []byte) (*adapters.DeltaDoc, error) {
	var dd adapters.DeltaDoc
	if err := strictJSON(b, &dd); err != nil {
		return nil, err
	}
	if dd.Format != adapters.DeltaFormat {
		return nil, fmt.Errorf("format %q, want %s", dd.Format, adapters.DeltaFormat)
	}
	if dd.Added == nil || dd.Changed == nil || dd.Removed == nil {
		return nil, errors.New(`"added", "changed" and "removed" must all be lists`)
	}
	return &dd, nil
}

func parseMirror(b []byte) (*adapters.MirrorManifestDoc, error) {
	var man adapters.MirrorManifestDoc
	if err := strictJSON(b, &man); err != nil {
		return nil, err
	}
	if man.Format != adapters.MirrorFormat {
		return nil, fmt.Errorf("format %q, want %s", man.Format, adapters.MirrorFormat)
	}
	for i, f := range man.Files {
		if err := safepath.Check(f.Path, false); err != nil {
			return nil, fmt.Errorf("files[%d]: %w", i, err)
		}
	}
	return &man, nil
}

// strictJSON decodes one JSON value into v, refusing duplicate keys (which
// the canonicaliser rejects), unknown fields and trailing data.
func strictJSON(b []byte, v any) error {
	if _, err := canonjson.RawBytes(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// CheckDelta checks a delta's lists against the files of the base bundle's
// mirror tree and of the delta bundle's: every name is a safe mirror-tree
// path named once across the three lists and is neither manifest; an added
// file is in the delta and not in the base, a changed one in both, a
// removed one in the base and not in the delta; and every file the delta
// carries (but its two manifests) is listed as added or changed.
func CheckDelta(dd *adapters.DeltaDoc, base, delta map[string]bool) error {
	seen := map[string]string{}
	lists := []struct {
		name            string
		paths           []string
		inBase, inDelta bool
	}{
		{"added", dd.Added, false, true},
		{"changed", dd.Changed, true, true},
		{"removed", dd.Removed, true, false},
	}
	for _, l := range lists {
		for i, p := range l.paths {
			at := fmt.Sprintf("%s[%d]", l.name, i)
			if err := safepath.Check(p, false); err != nil {
				return fmt.Errorf("%s: %w", at, err)
			}
			if !adapters.IsTree(p) || p == adapters.MirrorManifest || p == adapters.DeltaManifest {
				return fmt.Errorf("%s: %q is not a file of the mirror tree", at, p)
			}
			if first, dup := seen[p]; dup {
				return fmt.Errorf("%s: %q is also %s", at, p, first)
			}
			seen[p] = at
			if base[p] != l.inBase {
				return fmt.Errorf("%s: %q %s the base bundle", at, p, isOrNot(base[p]))
			}
			if delta[p] != l.inDelta {
				return fmt.Errorf("%s: %q %s the delta bundle", at, p, isOrNot(delta[p]))
			}
		}
	}
	for p := range delta {
		if _, ok := seen[p]; !ok && p != adapters.MirrorManifest && p != adapters.DeltaManifest {
			return fmt.Errorf("the delta bundle carries %s, which is neither added nor changed", p)
		}
	}
	return nil
}

func isOrNot(in bool) string {
	if in {
		return "is also in"
	}
	return "is not in"
}

func verifyFile(ctx context.Context, path string) (*verify.Report, error) {
	f, err := safefile.Open(path)
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

func readEntry(path, name string) ([]byte, error) {
	f, err := safefile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	defer f.Close()
	b, err := adapters.ReadEntry(f, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// eachTreeFile calls fn for every regular file of a (verified) bundle's
// mirror tree, with the archive positioned at its content.
func eachTreeFile(ctx context.Context, bundlePath string, fn func(name string, r io.Reader) error) error {
	f, err := safefile.Open(bundlePath)
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
		if e.Dir || !adapters.IsTree(e.Name) {
			continue
		}
		if err := safepath.Check(e.Name, false); err != nil {
			return err
		}
		if err := fn(e.Name, tr); err != nil {
			return err
		}
	}
}

// treeNames lists the mirror-tree files of a bundle.
func treeNames(ctx context.Context, bundlePath string) (map[string]bool, error) {
	names := map[string]bool{}
	err := eachTreeFile(ctx, bundlePath, func(name string, _ io.Reader) error {
		names[name] = true
		return nil
	})
	return names, err
}

// extractTree writes the mirror-tree files of a (verified) bundle that keep
// accepts below root, never replacing a file.
func extractTree(ctx context.Context, bundlePath string, root *os.Root, keep func(string) bool) error {
	return eachTreeFile(ctx, bundlePath, func(name string, r io.Reader) error {
		if !keep(name) {
			return nil
		}
		if dir := path.Dir(name); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, r); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// checkTree compares the tree below root with the mirror manifest: every
// listed file with its digest, and nothing else.
func checkTree(root *os.Root, man *adapters.MirrorManifestDoc) error {
	want := map[string]string{}
	for _, f := range man.Files {
		want[f.Path] = f.SHA256
	}
	n := 0
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return exitcode.Verifyf("applied tree: %s is not a regular file", p)
		}
		if p == adapters.MirrorManifest {
			return nil
		}
		w, ok := want[p]
		if !ok {
			return exitcode.Verifyf("applied tree: %s is not in %s", p, adapters.MirrorManifest)
		}
		f, err := root.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		if got := digest.Of(h).String(); got != w {
			return exitcode.Verifyf("applied tree: %s: SHA-256 %s, %s says %s", p, got, adapters.MirrorManifest, w)
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
