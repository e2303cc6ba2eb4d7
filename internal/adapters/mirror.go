package adapters

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

func init() {
	Register(mirror{delta: false})
	Register(mirror{delta: true})
}

// Mirror layout (docs/evidence.md):
//
//	manifests/mirror.json                 every file of the tree with its digest
//	manifests/policy-snapshot.json        the policy snapshot, when the contract names one
//	manifests/delta.json                  mirror:delta only: base, added, changed, removed
//	data/raw/<type>/<tenant>/<id>.json    one canonical document per file
//	data/policy/findings/<tenant>/<id>.json
//	indexes/ecosystems/<ecosystem>.json   documents touching each ecosystem
//	indexes/products/<purl type>.json     documents about each product
const (
	MirrorManifest = "manifests/mirror.json"
	DeltaManifest  = "manifests/delta.json"
	mirrorSnapshot = "manifests/policy-snapshot.json"
	MirrorFormat   = "stella-export/mirror/v1"
	DeltaFormat    = "stella-export/mirror-delta/v1"
)

type mirror struct{ delta bool }

func (m mirror) Name() string {
	if m.delta {
		return "mirror:delta"
	}
	return "mirror:full"
}

func (mirror) Version() string { return "1" }

func (m mirror) Outputs(in *Input) []Output {
	out := []Output{{Path: MirrorManifest}}
	if m.delta {
		out = append(out, Output{Path: DeltaManifest})
	}
	if in.Snapshot != nil {
		out = append(out, Output{Path: mirrorSnapshot, Records: 1})
	}
	for _, t := range evidence.Types {
		if n := in.Count(t); n > 0 {
			out = append(out, Output{Path: typeRoot(t), Records: n})
		}
	}
	return append(out, Output{Path: "indexes/ecosystems/"}, Output{Path: "indexes/products/"})
}

func typeRoot(t evidence.Type) string {
	if t == evidence.Finding {
		return "data/policy/findings/"
	}
	return "data/raw/" + typeDir(t) + "/"
}

// MirrorPath is where a document lives in the mirror tree.
func MirrorPath(d *evidence.Doc) string {
	return typeRoot(d.Type) + encName(d.Tenant) + "/" + encName(d.ID) + ".json"
}

// encName makes any identifier a safe, injective file name: letters,
// digits, '-', '_' and inner '.' stay, every other byte becomes %XX; names
// over 160 bytes keep a prefix and a digest of the whole.
func encName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	out := b.String()
	if len(out) > 160 {
		sum := sha256.Sum256([]byte(s))
		out = out[:140] + "~" + hex.EncodeToString(sum[:8])
	}
	return out
}

type indexEntry struct {
	ID     string `json:"id"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Tenant string `json:"tenant"`
	Type   string `json:"type"`
}

// MirrorFile is one line of manifests/mirror.json.
type MirrorFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// MirrorManifestDoc is manifests/mirror.json: the content of the tree, and
// nothing about the run, so that applying a delta reproduces it exactly.
type MirrorManifestDoc struct {
	Format  string       `json:"format"`
	Tenants []string     `json:"tenants"`
	Files   []MirrorFile `json:"files"`
}

// DeltaDoc is manifests/delta.json.
type DeltaDoc struct {
	Format  string   `json:"format"`
	Base    BaseRef  `json:"base"`
	Added   []string `json:"added"`
	Changed []string `json:"changed"`
	Removed []string `json:"removed"`
}

// BaseRef names the base bundle of a delta.
type BaseRef struct {
	ExportID string `json:"exportId"`
	RootHash string `json:"rootHash"`
	SHA256   string `json:"sha256"` // of the base .tgz
}

// BaseMirror is a verified base mirror bundle's tree.
type BaseMirror struct {
	BaseRef
	Files map[string]string // path → sha256 of manifests/mirror.json's files
}

func (m mirror) Run(ctx context.Context, job *Job) error {
	name := m.Name()
	job.Events.Emit("adapter.start", map[string]any{"adapter": name, "output": "", "records": job.Docs.Len()})
	eco := map[string][]indexEntry{}
	prod := map[string]map[string][]indexEntry{}
	tenants := map[string]struct{}{}
	var in int64
	n := 0
	all := func(*evidence.Doc) (bool, bool) { return true, true }
	work := func(it *item) error {
		f, err := job.Stage.Create(MirrorPath(&it.doc))
		if err != nil {
			return err
		}
		f.Records = 1
		if err := writeDoc(f, job, it); err != nil {
			f.Abort()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		it.file = f.File()
		return nil
	}
	emit := func(it *item) error {
		d := &it.doc
		e := indexEntry{ID: d.ID, Path: it.file.Path, SHA256: it.file.SHA256, Tenant: d.Tenant, Type: string(d.Type)}
		for _, x := range d.Ecosystems {
			eco[x] = append(eco[x], e)
		}
		for _, p := range d.Products {
			t := evidence.PurlType(p)
			if prod[t] == nil {
				prod[t] = map[string][]indexEntry{}
			}
			prod[t][p] = append(prod[t][p], e)
		}
		tenants[d.Tenant] = struct{}{}
		in += d.Size
		n++
		if n%chunkRecords == 0 {
			job.Events.Emit("adapter.chunk", map[string]any{"adapter": name, "records": n, "inputBytes": in})
		}
		return nil
	}
	if err := ordered(ctx, job.Docs, all, work, emit); err != nil {
		return err
	}
	if job.Snapshot != nil {
		if err := writeSnapshot(job, mirrorSnapshot); err != nil {
			return err
		}
	}
	for x, es := range eco {
		b, err := canonjson.MarshalLine(map[string]any{"ecosystem": x, "documents": es})
		if err != nil {
			return err
		}
		if err := job.Stage.WriteFile("indexes/ecosystems/"+encName(x)+".json", b, len(es)); err != nil {
			return err
		}
	}
	for t, ps := range prod {
		b, err := canonjson.MarshalLine(map[string]any{"type": t, "products": ps})
		if err != nil {
			return err
		}
		if err := job.Stage.WriteFile("indexes/products/"+encName(t)+".json", b, len(ps)); err != nil {
			return err
		}
	}
	man := MirrorManifestDoc{Format: MirrorFormat, Tenants: sortedSet(tenants), Files: []MirrorFile{}}
	for _, f := range job.Stage.Files() {
		if IsTree(f.Path) && f.Path != MirrorManifest {
			man.Files = append(man.Files, MirrorFile{Path: f.Path, SHA256: f.SHA256, Size: f.Size})
		}
	}
	b, err := canonjson.MarshalLine(man)
	if err != nil {
		return err
	}
	if err := job.Stage.WriteFile(MirrorManifest, b, len(man.Files)); err != nil {
		return err
	}
	if m.delta {
		if err := makeDelta(job, man); err != nil {
			return err
		}
	}
	job.Events.Emit("adapter.complete", map[string]any{"adapter": name, "output": "", "records": n, "inputBytes": in, "files": len(man.Files) + 1})
	return nil
}

// IsTree reports whether a bundle or staged path belongs to the mirror tree.
func IsTree(p string) bool {
	return strings.HasPrefix(p, "manifests/") || strings.HasPrefix(p, "data/") || strings.HasPrefix(p, "indexes/")
}

func makeDelta(job *Job, man MirrorManifestDoc) error {
	base := job.Base
	if base == nil {
		return exitcode.Invalidf("mirror:delta needs a base mirror")
	}
	d := DeltaDoc{Format: DeltaFormat, Base: base.BaseRef, Added: []string{}, Changed: []string{}, Removed: []string{}}
	now := map[string]bool{}
	for _, f := range man.Files {
		now[f.Path] = true
		old, ok := base.Files[f.Path]
		switch {
		case !ok:
			d.Added = append(d.Added, f.Path)
		case old != f.SHA256:
			d.Changed = append(d.Changed, f.Path)
		default:
			if err := job.Stage.Remove(f.Path); err != nil {
				return err
			}
		}
	}
	for p := range base.Files {
		if !now[p] {
			d.Removed = append(d.Removed, p)
		}
	}
	sortStrings(d.Removed)
	b, err := canonjson.MarshalLine(d)
	if err != nil {
		return err
	}
	return job.Stage.WriteFile(DeltaManifest, b, len(d.Added)+len(d.Changed)+len(d.Removed))
}

// VerifiedBase is what the verification of a base mirror bundle
// established, handed over by the caller that verified it (adapters reads
// no bundle): the bundle's identity, its export.json profile, the bytes of
// its manifests/mirror.json as they were verified (nil when it has none)
// and the verified digest of each of its files.
type VerifiedBase struct {
	BaseRef
	Profile  string
	Manifest []byte
	Sums     *checksums.File
}

// MaxBaseManifest bounds the manifests/mirror.json a verifier holds for
// NewBase: it lists every file of the tree (a million files take about
// 150 MiB).
const MaxBaseManifest = 1 << 30

// NewBase makes the base of a mirror:delta from a verified mirror:full
// bundle (named name in messages). mirror.json must list exactly the files
// of the bundle's mirror tree but itself, each with the digest verified for
// it, so that the delta is computed from what was verified.
func NewBase(name string, v VerifiedBase) (*BaseMirror, error) {
	if v.Profile != "mirror:full" {
		return nil, exitcode.Invalidf("base mirror %s: profile %q, want a mirror:full bundle", name, v.Profile)
	}
	if v.Manifest == nil {
		return nil, exitcode.Invalidf("base mirror %s: no %s in the bundle", name, MirrorManifest)
	}
	var man MirrorManifestDoc
	if err := json.Unmarshal(v.Manifest, &man); err != nil || man.Format != MirrorFormat {
		return nil, exitcode.Invalidf("base mirror %s: %s is not a %s manifest", name, MirrorManifest, MirrorFormat)
	}
	bm := &BaseMirror{BaseRef: v.BaseRef, Files: make(map[string]string, len(man.Files))}
	for _, mf := range man.Files {
		i := v.Sums.Index(mf.Path)
		if i < 0 || !IsTree(mf.Path) || mf.Path == MirrorManifest {
			return nil, exitcode.Invalidf("base mirror %s: %s lists %q, which is not a file of the bundle's mirror tree", name, MirrorManifest, mf.Path)
		}
		if got := v.Sums.Entries[i].Digest.String(); got != mf.SHA256 {
			return nil, exitcode.Invalidf("base mirror %s: %s: %s has SHA-256 %s, %s says %s", name, MirrorManifest, mf.Path, got, MirrorManifest, mf.SHA256)
		}
		bm.Files[mf.Path] = mf.SHA256
	}
	for _, e := range v.Sums.Entries {
		if _, ok := bm.Files[e.Path]; !ok && IsTree(e.Path) && e.Path != MirrorManifest {
			return nil, exitcode.Invalidf("base mirror %s: %s is not in %s", name, e.Path, MirrorManifest)
		}
	}
	return bm, nil
}
