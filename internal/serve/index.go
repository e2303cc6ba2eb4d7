// Package serve is a read-only HTTP server over the bundles under one
// directory (docs/distribution.md#serve).
//
// Index walks the directory once, never following a symbolic link, and
// verifies every .tgz it finds with internal/verify in one bounded
// streaming pass; only bundles that verify are served, under the export id
// their export.json names, and export.json, provenance.json and the
// in-bundle signature are kept from that pass (each under a size cap).
// Requests name an export id, which is only ever a key into the index:
// no part of a URL becomes a file name, so no request reaches a file
// outside the directory, or one that was not indexed. A bundle that
// changed on disk after indexing is refused (503) rather than served with
// stale headers.
//
// Downloads go through net/http's ServeContent: Range (single and
// multiple), If-Range, If-None-Match and If-Modified-Since, with
// ETag = the bundle's SHA-256 and Last-Modified = its createdAtUtc.
package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/tarball"
	"github.com/stella-ops/stella-export/internal/verify"
)

// Caps on the documents kept from each bundle.
const (
	maxManifest   = 1 << 20
	maxProvenance = safefile.MaxDoc
	maxSignature  = 64 << 10
)

// Export is one bundle the server offers.
type Export struct {
	ExportID   string `json:"exportId"`
	Tenant     string `json:"tenant,omitempty"`
	Profile    string `json:"profile"`
	CreatedAt  string `json:"createdAtUtc"`
	ExpiresAt  string `json:"expiresAtUtc,omitempty"`
	Root       string `json:"root"`
	SHA256     string `json:"sha256"`
	Size       int64  `json:"sizeBytes"`
	Name       string `json:"name"` // path under the directory, with slashes
	Provenance bool   `json:"provenance"`
	Signature  string `json:"signature,omitempty"` // "detached" (BUNDLE.sig), "in-bundle" (export.json.sig) or absent

	path       string
	created    time.Time
	info       os.FileInfo
	manifest   []byte
	provenance []byte
	signature  []byte
}

// Index is the set of exports being served, by export id.
type Index struct {
	Dir     string
	exports map[string]*Export
	ids     []string
}

// Len returns the number of exports.
func (ix *Index) Len() int { return len(ix.ids) }

// Exports returns the exports sorted by export id.
func (ix *Index) Exports() []*Export {
	out := make([]*Export, len(ix.ids))
	for i, id := range ix.ids {
		out[i] = ix.exports[id]
	}
	return out
}

// Lookup returns the export id, or nil.
func (ix *Index) Lookup(id string) *Export { return ix.exports[id] }

// Options configure Index.
type Options struct {
	Limits tarball.Limits
	// Warn receives one line per .tgz that is not served and why.
	Warn func(string)
}

// NewIndex walks dir and verifies every .tgz under it. Two different
// bundles claiming the same export id are both left out (with a warning):
// the server never guesses which one a client means.
func NewIndex(ctx context.Context, dir string, opt Options) (*Index, error) {
	warn := opt.Warn
	if warn == nil {
		warn = func(string) {}
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, exitcode.Invalidf("%s: not a directory", dir)
	}
	ix := &Index{Dir: dir, exports: map[string]*Export{}}
	dup := map[string]bool{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			warn(fmt.Sprintf("%s: skipped: %v", p, err))
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(d.Name(), ".tgz") {
			return nil
		}
		x, err := load(ctx, dir, p, opt.Limits)
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			warn(fmt.Sprintf("%s: not served: %v", p, err))
			return nil
		}
		switch prev := ix.exports[x.ExportID]; {
		case dup[x.ExportID]:
			warn(fmt.Sprintf("%s: not served: export id %s is claimed by more than one bundle", p, x.ExportID))
		case prev != nil && prev.SHA256 != x.SHA256:
			warn(fmt.Sprintf("%s, %s: not served: two different bundles claim export id %s", prev.path, p, x.ExportID))
			delete(ix.exports, x.ExportID)
			dup[x.ExportID] = true
		case prev == nil:
			ix.exports[x.ExportID] = x
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for id := range ix.exports {
		ix.ids = append(ix.ids, id)
	}
	sort.Strings(ix.ids)
	return ix, nil
}

// docs collects the documents Index keeps from the verifying pass.
type docs struct {
	found map[string]*bytes.Buffer
	big   []string
}

func (d *docs) extract(name string, size int64) (io.WriteCloser, error) {
	limit := map[string]int64{layout.Manifest: maxManifest, layout.Provenance: maxProvenance,
		layout.Manifest + layout.SigSuffix: maxSignature}[name]
	if limit == 0 {
		return nil, nil
	}
	if size > limit {
		d.big = append(d.big, fmt.Sprintf("%s: larger than %s", name, safefile.Size(limit)))
		return nil, nil
	}
	b := bytes.NewBuffer(make([]byte, 0, size))
	d.found[name] = b
	return nopCloser{b}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// load verifies the bundle at p and describes it.
func load(ctx context.Context, dir, p string, lim tarball.Limits) (*Export, error) {
	f, err := safefile.OpenNoFollow(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	d := &docs{found: map[string]*bytes.Buffer{}}
	rep, err := verify.Verify(ctx, f, verify.Options{Limits: lim, MaxDepth: -1, Extract: d.extract})
	if err != nil {
		return nil, err
	}
	if len(d.big) > 0 {
		return nil, errors.New(d.big[0])
	}
	mb := d.found[layout.Manifest]
	if mb == nil {
		return nil, fmt.Errorf("%s: missing", layout.Manifest)
	}
	var m struct {
		ExportID     string `json:"exportId"`
		Tenant       string `json:"tenant"`
		Profile      string `json:"profile"`
		CreatedAtUTC string `json:"createdAtUtc"`
		ExpiresAtUTC string `json:"expiresAtUtc"`
	}
	if err := json.Unmarshal(mb.Bytes(), &m); err != nil {
		return nil, fmt.Errorf("%s: %v", layout.Manifest, err)
	}
	for _, id := range []struct{ field, v string }{{"exportId", m.ExportID}, {"profile", m.Profile}, {"tenant", m.Tenant}} {
		if id.v == "" && id.field == "tenant" {
			continue
		}
		if err := safefile.CheckToken(id.field, id.v); err != nil {
			return nil, fmt.Errorf("%s: %w", layout.Manifest, err)
		}
		if err := manifest.CheckID(id.field, id.v); err != nil {
			return nil, fmt.Errorf("%s: %w", layout.Manifest, err)
		}
	}
	created, err := time.Parse(time.RFC3339, m.CreatedAtUTC)
	if err != nil {
		return nil, fmt.Errorf("%s: createdAtUtc: not an RFC 3339 time", layout.Manifest)
	}
	if m.ExpiresAtUTC != "" {
		t, err := time.Parse(time.RFC3339, m.ExpiresAtUTC)
		if err != nil {
			return nil, fmt.Errorf("%s: expiresAtUtc: not an RFC 3339 time", layout.Manifest)
		}
		m.ExpiresAtUTC = manifest.Timestamp(t)
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return nil, err
	}
	x := &Export{ExportID: m.ExportID, Tenant: m.Tenant, Profile: m.Profile, CreatedAt: manifest.Timestamp(created),
		ExpiresAt: m.ExpiresAtUTC, Root: rep.Root, SHA256: rep.SHA256, Size: info.Size(), Name: filepath.ToSlash(rel),
		path: p, created: created.UTC(), info: info, manifest: mb.Bytes()}
	if b := d.found[layout.Provenance]; b != nil {
		x.Provenance, x.provenance = true, b.Bytes()
	}
	if sig, err := readDetached(p + layout.SigSuffix); err == nil {
		x.Signature, x.signature = "detached", sig
	} else if b := d.found[layout.Manifest+layout.SigSuffix]; b != nil {
		x.Signature, x.signature = "in-bundle", b.Bytes()
	}
	return x, nil
}

// readDetached reads the detached signature beside a bundle, never through
// a symbolic link (which could point outside the directory).
func readDetached(p string) ([]byte, error) {
	f, err := safefile.OpenNoFollow(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return safefile.ReadFrom(f, p, maxSignature)
}
