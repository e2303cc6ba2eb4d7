package run

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/partial"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/safepath"
	"github.com/stella-ops/stella-export/internal/verify"
)

// ApplyResult describes an applied delta.
type ApplyResult struct {
	Files, Added, Changed, Removed int
}

// ApplyDelta rebuilds the mirror tree of full(B) in outDir from the bundle
// full(A) (base) and the bundle delta(A→B), reading each bundle once: the
// delta is verified while its mirror tree is extracted to a staging
// directory and its manifests are held in memory, then the base is
// verified while the files of its tree that the delta neither removes,
// replaces nor carries are extracted beside them. Only then, with both
// verified, is anything trusted: the delta's manifests/delta.json is
// checked against both trees (CheckDelta) and the staged tree, file by file
// with the digests verify checked, against the delta's
// manifests/mirror.json. Every file operation happens below the staging
// directory through an os.Root, and nothing outside it is ever removed: a
// name in a bundle only ever selects what is extracted. Nothing is left
// behind on failure. With force, outDir may replace only an earlier output
// of stella-export that holds neither bundle (checkTarget).
func ApplyDelta(ctx context.Context, deltaPath, basePath, outDir string, force bool) (*ApplyResult, error) {
	return applyDelta(ctx, openBundle, deltaPath, basePath, outDir, force)
}

// openBundle opens a bundle to be read; tests count the reads through it.
type opener func(path string) (io.ReadCloser, error)

func openBundle(path string) (io.ReadCloser, error) { return safefile.Open(path) }

// maxTreeManifest bounds manifests/mirror.json and manifests/delta.json,
// which are held in memory while their bundle is verified: both list
// files of the tree, so they grow with it (a million files take about
// 150 MiB).
const maxTreeManifest = 1 << 30

func applyDelta(ctx context.Context, open opener, deltaPath, basePath, outDir string, force bool) (res *ApplyResult, err error) {
	protect := []Protected{{What: "delta bundle", Path: deltaPath}, {What: "base bundle", Path: basePath}}
	if err := checkTarget(outDir, force, protect); err != nil {
		return nil, err
	}
	// Open both first, so that a FIFO or a missing file is refused before
	// anything is read.
	deltaFile, err := open(deltaPath)
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	defer deltaFile.Close()
	baseFile, err := open(basePath)
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	defer baseFile.Close()
	stage, err := makeStage(outDir, partial.DirPattern("apply"))
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

	// 1. The delta: its tree but delta.json extracted, both manifests kept.
	var deltaDoc, mirrorDoc *bytes.Buffer
	deltaRep, err := verifyFile(ctx, deltaFile, deltaPath, func(name string, size int64) (io.WriteCloser, error) {
		switch {
		case name == adapters.DeltaManifest:
			deltaDoc = &bytes.Buffer{}
			return keep(deltaDoc, name, size)
		case name == adapters.MirrorManifest:
			mirrorDoc = &bytes.Buffer{}
			w, err := keep(mirrorDoc, name, size)
			if err != nil {
				return nil, err
			}
			return extractTo(root, name, w)
		case adapters.IsTree(name):
			return extractTo(root, name, nil)
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	if deltaRep.Profile != "mirror:delta" {
		return nil, exitcode.Invalidf("%s: profile %q, want a mirror:delta bundle", deltaPath, deltaRep.Profile)
	}
	if deltaDoc == nil {
		return nil, exitcode.Invalidf("%s: no %s in the bundle", deltaPath, adapters.DeltaManifest)
	}
	dd, err := ParseDelta(deltaDoc.Bytes())
	if err != nil {
		return nil, exitcode.Invalidf("%s: %s: %v", deltaPath, adapters.DeltaManifest, err)
	}
	if mirrorDoc == nil {
		return nil, exitcode.Invalidf("%s: no %s in the bundle", deltaPath, adapters.MirrorManifest)
	}
	man, err := parseMirror(mirrorDoc.Bytes())
	if err != nil {
		return nil, exitcode.Invalidf("%s: %s: %v", deltaPath, adapters.MirrorManifest, err)
	}
	deltaTree := treeDigests(deltaRep)

	// 2. The base: its tree but mirror.json, the files the delta lists
	// (removed, or replaced by its own) and any other file the delta
	// already wrote (which CheckDelta refuses below).
	skip := map[string]bool{adapters.MirrorManifest: true}
	for _, list := range [][]string{dd.Added, dd.Changed, dd.Removed} {
		for _, p := range list {
			skip[p] = true
		}
	}
	fromBase := func(name string) bool {
		_, inDelta := deltaTree[name]
		return adapters.IsTree(name) && !skip[name] && (!inDelta || name == adapters.DeltaManifest)
	}
	baseRep, err := verifyFile(ctx, baseFile, basePath, func(name string, size int64) (io.WriteCloser, error) {
		if !fromBase(name) {
			return nil, nil
		}
		return extractTo(root, name, nil)
	})
	if err != nil {
		return nil, err
	}
	if dd.Base.SHA256 != "sha256:"+baseRep.SHA256 {
		return nil, exitcode.Conflictf("%s: the delta applies to the base bundle with SHA-256 %s (export %s), not to %s (SHA-256 %s)",
			deltaPath, dd.Base.SHA256, dd.Base.ExportID, basePath, baseRep.SHA256)
	}
	baseTree := treeDigests(baseRep)
	if err := CheckDelta(dd, names(baseTree), names(deltaTree)); err != nil {
		return nil, exitcode.Invalidf("%s: %s: %v", deltaPath, adapters.DeltaManifest, err)
	}

	// 3. The staged tree, by the digests verified, against mirror.json.
	applied := map[string]digest.SHA256{}
	for p, d := range deltaTree {
		if p != adapters.DeltaManifest {
			applied[p] = d
		}
	}
	for p, d := range baseTree {
		if fromBase(p) {
			applied[p] = d
		}
	}
	if err := checkTree(applied, man); err != nil {
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

// verifyFile verifies the bundle read from r (named path in messages),
// handing its files to extract as they stream past.
func verifyFile(ctx context.Context, r io.Reader, path string, extract func(string, int64) (io.WriteCloser, error)) (*verify.Report, error) {
	rep, err := verify.Verify(ctx, r, verify.Options{Extract: extract})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}

// treeDigests lists the mirror-tree files of a verified bundle with their
// verified digests.
func treeDigests(rep *verify.Report) map[string]digest.SHA256 {
	tree := map[string]digest.SHA256{}
	for _, e := range rep.Checksums().Entries {
		if adapters.IsTree(e.Path) {
			tree[e.Path] = e.Digest
		}
	}
	return tree
}

func names(tree map[string]digest.SHA256) map[string]bool {
	m := make(map[string]bool, len(tree))
	for p := range tree {
		m[p] = true
	}
	return m
}

// keep returns a writer that holds a manifest of size bytes in b, refusing
// one larger than maxTreeManifest before reading it.
func keep(b *bytes.Buffer, name string, size int64) (io.WriteCloser, error) {
	if size > maxTreeManifest {
		return nil, exitcode.Invalidf("%s: %d bytes, more than the %d a tree manifest may have", name, size, maxTreeManifest)
	}
	b.Grow(int(size))
	return nopCloser{b}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// extractTo creates the file name below root, never replacing one, and
// returns a writer to it; also, when not nil, receives the same bytes.
// The caller may use the file only once its bundle has verified.
func extractTo(root *os.Root, name string, also io.WriteCloser) (io.WriteCloser, error) {
	if err := safepath.Check(name, false); err != nil {
		return nil, err
	}
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	if also == nil {
		return out, nil
	}
	return teeFile{Writer: io.MultiWriter(out, also), f: out}, nil
}

type teeFile struct {
	io.Writer
	f *os.File
}

func (t teeFile) Close() error { return t.f.Close() }

// checkTree compares the applied tree, every file with the digest its
// bundle verified, with the mirror manifest: every listed file with its
// digest, and nothing else but the manifest itself.
func checkTree(tree map[string]digest.SHA256, man *adapters.MirrorManifestDoc) error {
	want := map[string]string{}
	for _, f := range man.Files {
		want[f.Path] = f.SHA256
	}
	n := 0
	for _, p := range slices.Sorted(maps.Keys(tree)) {
		if p == adapters.MirrorManifest {
			continue
		}
		w, ok := want[p]
		if !ok {
			return exitcode.Verifyf("applied tree: %s is not in %s", p, adapters.MirrorManifest)
		}
		if got := tree[p].String(); got != w {
			return exitcode.Verifyf("applied tree: %s: SHA-256 %s, %s says %s", p, got, adapters.MirrorManifest, w)
		}
		n++
	}
	if n != len(want) {
		return exitcode.Verifyf("applied tree: %d of the %d files %s lists are missing", len(want)-n, len(want), adapters.MirrorManifest)
	}
	return nil
}
