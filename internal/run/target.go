package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/dataset/export"
	"github.com/stella-ops/stella-export/internal/dataset/validate"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// Protected is an input a run must never delete or replace: the evidence
// source, the contract, the plan, a bundle being read.
type Protected struct {
	What string // "evidence source", "contract", "plan", "base bundle"...
	Path string
}

// ReplaceError says --force may not replace Path (exit 5).
type ReplaceError struct {
	Path   string
	Reason string
}

func (e *ReplaceError) Error() string {
	return fmt.Sprintf("%s; only an export directory that stella-export wrote is ever replaced", e.Reason)
}

func (e *ReplaceError) Unwrap() error { return exitcode.ErrConflict }

func (e *ReplaceError) ErrorCode() string { return exitcode.CodeOutputExists }

// exportTop are the names an export directory (or an applied mirror tree)
// holds at its top.
var exportTop = map[string]bool{
	layout.Manifest: true, layout.Provenance: true, "data": true, "indexes": true, "manifests": true,
	// a DatasetExport's documents (internal/dataset/export)
	export.ManifestName: true, export.SumsName: true, export.LedgerName: true, "events": true,
	export.SuccessName: true, validate.FileName: true,
}

// checkTarget decides whether the export directory dir may be written: it
// must not exist, or, with force, be an earlier output of stella-export
// (checkExportDir) that holds none of protect.
func checkTarget(dir string, force bool, protect []Protected) error {
	st, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check output: %w", err)
	}
	if !force {
		return &atomicfile.ExistsError{Path: dir}
	}
	if !st.IsDir() {
		return &ReplaceError{Path: dir, Reason: fmt.Sprintf("%s is a %s, not an export directory", dir, safefile.Kind(st.Mode()))}
	}
	for _, p := range protect {
		if holds(dir, p.Path) {
			return &ReplaceError{Path: dir, Reason: fmt.Sprintf("%s holds the %s %s", dir, p.What, p.Path)}
		}
	}
	return checkExportDir(dir)
}

// CheckExportDir returns nil when dir is a directory stella-export wrote
// as a whole (an export, an applied mirror tree, a blocked dataset run's
// report), which may be replaced or deleted (purge); else a
// *ReplaceError (exit 5) saying why not.
func CheckExportDir(dir string) error { return checkExportDir(dir) }

// checkExportDir accepts only what stella-export writes as a directory:
// either an export (export.json whose format is stella-export/bundle/v1) or
// a mirror tree applied by --apply-delta (no export.json, and
// manifests/mirror.json whose format is stella-export/mirror/v1), holding
// nothing at its top but export.json, provenance.json, data/, indexes/ and
// manifests/.
func checkExportDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("check output: %w", err)
	}
	has := map[string]bool{}
	for _, e := range ents {
		if !exportTop[e.Name()] {
			return &ReplaceError{Path: dir, Reason: fmt.Sprintf("%s: %s is not part of an export", dir, e.Name())}
		}
		has[e.Name()] = true
	}
	doc, want := layout.Manifest, manifest.Format
	switch {
	case len(has) == 1 && has[validate.FileName]:
		// a dataset run that validation blocked
		doc, want = validate.FileName, validate.Format
	case !has[layout.Manifest]:
		if has[layout.Provenance] || !has["manifests"] {
			return &ReplaceError{Path: dir, Reason: fmt.Sprintf("%s: no %s or %s", dir, layout.Manifest, adapters.MirrorManifest)}
		}
		doc, want = adapters.MirrorManifest, adapters.MirrorFormat
	}
	p := filepath.Join(dir, filepath.FromSlash(doc))
	f, err := safefile.OpenNoFollow(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &ReplaceError{Path: dir, Reason: fmt.Sprintf("%s: no %s or %s", dir, layout.Manifest, adapters.MirrorManifest)}
	}
	if err != nil {
		return &ReplaceError{Path: dir, Reason: err.Error()}
	}
	defer f.Close()
	if got, err := formatOf(f); err != nil || got != want {
		return &ReplaceError{Path: dir, Reason: fmt.Sprintf("%s is not a stella-export %s", p, doc)}
	}
	return nil
}

// formatOf returns the top-level "format" string of a JSON object,
// streaming over the other members so that a large manifest costs no
// memory.
func formatOf(r io.Reader) (string, error) {
	dec := json.NewDecoder(r)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", errors.New("not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", err
		}
		if t == "format" {
			var s string
			err := dec.Decode(&s)
			return s, err
		}
		if err := canonjson.SkipValue(dec, nil); err != nil {
			return "", err
		}
	}
	return "", errors.New("no format")
}

// resolve returns the absolute form of p with every symbolic link of its
// longest existing prefix resolved.
func resolve(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for q := abs; ; {
		if r, err := filepath.EvalSymlinks(q); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(q)
		if parent == q {
			return abs
		}
		rest = filepath.Join(filepath.Base(q), rest)
		q = parent
	}
}

// within reports whether path p is dir or lies below it (both resolved).
func within(p, dir string) bool {
	rel, err := filepath.Rel(resolve(dir), resolve(p))
	return err == nil && (rel == "." || rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)))
}

// holds reports whether the existing directory dir is p or one of p's
// ancestors, by name (links resolved) and by identity (so that a bind mount
// or a case-insensitive name does not hide it).
func holds(dir, p string) bool {
	if within(p, dir) {
		return true
	}
	dst, err := os.Stat(dir)
	if err != nil {
		return false
	}
	for _, q := range []string{absOr(p), resolve(p)} {
		for {
			if st, err := os.Stat(q); err == nil && os.SameFile(st, dst) {
				return true
			}
			parent := filepath.Dir(q)
			if parent == q {
				break
			}
			q = parent
		}
	}
	return false
}

func absOr(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// CheckPackage refuses a bundle path inside the export directory (a bundle
// cannot be part of the directory it packages, and the directory is
// replaced as a whole; invalid, exit 3, which commands reports as a usage
// error) or naming a protected input (exit 5). Both are *OptionError of
// option "Package".
func CheckPackage(pkg, outDir string, protect []Protected) error {
	if within(pkg, outDir) {
		return &exitcode.OptionError{Option: "Package", Value: pkg, Err: exitcode.Invalidf("inside the export directory %s; write the bundle beside it", outDir)}
	}
	for _, p := range protect {
		switch {
		case resolve(pkg) == resolve(p.Path):
			return &exitcode.OptionError{Option: "Package", Value: pkg, Err: exitcode.Conflictf("is the %s; pick another bundle path", p.What)}
		case within(pkg, p.Path):
			return &exitcode.OptionError{Option: "Package", Value: pkg, Err: exitcode.Conflictf("inside the %s %s; pick another bundle path", p.What, p.Path)}
		}
	}
	return nil
}
