package adapters

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/extsort"
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

// AppendCanonical appends e's canonical JSON (canonjson.Appender).
func (e indexEntry) AppendCanonical(b []byte) []byte {
	for i, kv := range [...][2]string{{"id", e.ID}, {"path", e.Path}, {"sha256", e.SHA256}, {"tenant", e.Tenant}, {"type", e.Type}} {
		if i == 0 {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, kv[0]...)
		b = append(b, '"', ':')
		b = canonjson.AppendString(b, kv[1])
	}
	return append(b, '}')
}

// MirrorFile is one line of manifests/mirror.json.
type MirrorFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// AppendCanonical appends f's canonical JSON (canonjson.Appender).
func (f MirrorFile) AppendCanonical(b []byte) []byte {
	b = append(b, `{"path":`...)
	b = canonjson.AppendString(b, f.Path)
	b = append(b, `,"sha256":`...)
	b = canonjson.AppendString(b, f.SHA256)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, f.Size, 10)
	return append(b, '}')
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
	idx := job.Stage.Sorter(indexLess)
	defer idx.Close()
	tenants := map[string]struct{}{}
	var in int64
	n := 0
	all := func(*evidence.Doc) (bool, bool) { return true, true }
	// Workers canonicalise, hash and create the files; emit, one
	// goroutine in plan order, records the index entries. Creating a file
	// is most of a small document's cost (kernel time), and two
	// goroutines creating in one directory take about half the time one
	// does. Which file is created first does not matter: the stage sorts
	// its records by path, and paths are unique (resolve refuses a
	// type's duplicate ids in a tenant).
	work := func(it *item) error {
		if err := job.canonical(it); err != nil {
			return err
		}
		if it.src == nil {
			it.buf.WriteByte('\n')
			it.val = sha256.Sum256(it.buf.Bytes())
		}
		return writeMirrorDoc(job, it)
	}
	var rec, entry []byte
	emit := func(it *item) error {
		d := &it.doc
		entry = indexEntry{ID: d.ID, Path: it.file.Path, SHA256: it.file.SHA256, Tenant: d.Tenant, Type: string(d.Type)}.AppendCanonical(entry[:0])
		for _, x := range d.Ecosystems {
			rec = indexRecord(rec[:0], indexEcosystem, x, "", entry)
			if err := idx.Add(rec); err != nil {
				return err
			}
		}
		for _, p := range d.Products {
			rec = indexRecord(rec[:0], indexProduct, evidence.PurlType(p), p, entry)
			if err := idx.Add(rec); err != nil {
				return err
			}
		}
		if _, ok := tenants[d.Tenant]; !ok {
			tenants[d.Tenant] = struct{}{}
		}
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
	sorted, err := idx.Sort(ctx)
	if err != nil {
		return err
	}
	defer sorted.Close()
	if err := writeIndexes(ctx, job.Stage, sorted); err != nil {
		return err
	}
	staged, err := job.Stage.Files()
	if err != nil {
		return err
	}
	tree := &treeFiles{staged}
	files, err := writeMirrorManifest(job.Stage, sortedSet(tenants), tree)
	if err != nil {
		return err
	}
	if m.delta {
		if err := makeDelta(job, tree); err != nil {
			return err
		}
	}
	job.Events.Emit("adapter.complete", map[string]any{"adapter": name, "output": "", "records": n, "inputBytes": in, "files": files + 1})
	return nil
}

// An index record is the kind, the file's key (ecosystem or purl type),
// the product (products only; empty for ecosystems), each a uvarint length
// and bytes, then the entry's canonical JSON. Sorted by kind, key and
// product in canonical key order (the products object's order), and
// stable, so each key's entries stay in plan order.
const (
	indexEcosystem = 'e'
	indexProduct   = 'p'
)

func indexRecord(b []byte, kind byte, key, product string, entry []byte) []byte {
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(product)))
	b = append(b, product...)
	return append(b, entry...)
}

// indexFields splits an index record (made by indexRecord: well formed).
func indexFields(rec []byte) (kind byte, key, product, entry []byte) {
	kind, rec = rec[0], rec[1:]
	n, k := binary.Uvarint(rec)
	key, rec = rec[k:k+int(n)], rec[k+int(n):]
	n, k = binary.Uvarint(rec)
	product, entry = rec[k:k+int(n)], rec[k+int(n):]
	return kind, key, product, entry
}

func indexLess(a, b []byte) int {
	ka, keyA, prodA, _ := indexFields(a)
	kb, keyB, prodB, _ := indexFields(b)
	if c := int(ka) - int(kb); c != 0 {
		return c
	}
	if c := bytes.Compare(keyA, keyB); c != 0 {
		return c
	}
	return canonjson.CompareKeys(prodA, prodB)
}

// writeIndexes writes indexes/ecosystems/<ecosystem>.json,
// {"documents":[entries],"ecosystem":x}, and indexes/products/<type>.json,
// {"products":{purl:[entries],...},"type":t}, streaming each from the
// sorted index records.
func writeIndexes(ctx context.Context, stage *Stage, sorted *extsort.Sorted) error {
	var (
		f                 *StagedFile
		bw                *bufio.Writer
		kind              byte
		key, product      []byte
		entries, products int
	)
	finish := func() error {
		if f == nil {
			return nil
		}
		var tail []byte
		if kind == indexEcosystem {
			f.Records = entries
			tail = []byte(`],"ecosystem":`)
		} else {
			f.Records = products
			tail = []byte(`]},"type":`)
		}
		k, err := canonjson.Marshal(string(key))
		if err != nil {
			return err
		}
		bw.Write(tail)
		bw.Write(k)
		bw.WriteString("}\n")
		if err := bw.Flush(); err != nil {
			f.Abort()
			return err
		}
		err = f.Close()
		f = nil
		return err
	}
	fail := func(err error) error {
		if f != nil {
			f.Abort()
		}
		return err
	}
	for rec, err := range sorted.All() {
		if err != nil {
			return fail(err)
		}
		k, ky, p, entry := indexFields(rec)
		if f == nil || k != kind || !bytes.Equal(ky, key) {
			if err := finish(); err != nil {
				return fail(err)
			}
			if err := ctx.Err(); err != nil {
				return context.Cause(ctx)
			}
			kind, key, product = k, append(key[:0], ky...), append(product[:0], p...)
			entries, products = 0, 1
			dir := "indexes/ecosystems/"
			if kind == indexProduct {
				dir = "indexes/products/"
			}
			if f, err = stage.Create(dir + encName(string(key)) + ".json"); err != nil {
				return err
			}
			bw = bufio.NewWriterSize(f, 64<<10)
			if kind == indexEcosystem {
				bw.WriteString(`{"documents":[`)
			} else {
				bw.WriteString(`{"products":{`)
				if err := writeKey(bw, p); err != nil {
					return fail(err)
				}
			}
		} else if kind == indexProduct && !bytes.Equal(p, product) {
			product = append(product[:0], p...)
			products++
			entries = 0
			bw.WriteString("],")
			if err := writeKey(bw, p); err != nil {
				return fail(err)
			}
		}
		if entries > 0 {
			bw.WriteByte(',')
		}
		bw.Write(entry)
		entries++
	}
	if err := finish(); err != nil {
		return fail(err)
	}
	return nil
}

// writeKey writes "key":[ for a products object member.
func writeKey(w *bufio.Writer, key []byte) error {
	k, err := canonjson.Marshal(string(key))
	if err != nil {
		return err
	}
	w.Write(k)
	_, err = w.WriteString(":[")
	return err
}

// treeFiles is the staged files of the mirror tree but mirror.json.
type treeFiles struct{ staged *Files }

func (t *treeFiles) All() iter.Seq2[File, error] {
	return func(yield func(File, error) bool) {
		for f, err := range t.staged.All() {
			if err != nil || (IsTree(f.Path) && f.Path != MirrorManifest) {
				if !yield(f, err) || err != nil {
					return
				}
			}
		}
	}
}

// writeMirrorManifest streams manifests/mirror.json (MirrorManifestDoc)
// and returns the number of files it lists.
func writeMirrorManifest(stage *Stage, tenants []string, tree *treeFiles) (int, error) {
	f, err := stage.Create(MirrorManifest)
	if err != nil {
		return 0, err
	}
	n := 0
	files := func(yield func(any, error) bool) {
		for tf, err := range tree.All() {
			if err == nil {
				n++
			}
			if !yield(MirrorFile{Path: tf.Path, SHA256: tf.SHA256, Size: tf.Size}, err) {
				return
			}
		}
	}
	head := struct {
		Format  string   `json:"format"`
		Tenants []string `json:"tenants"`
	}{MirrorFormat, tenants}
	if err := canonjson.WriteObject(f, head, map[string]canonjson.Array{"files": {Seq: files}}); err != nil {
		f.Abort()
		return 0, err
	}
	f.Records = n
	return n, f.Close()
}

// IsTree reports whether a bundle or staged path belongs to the mirror tree.
func IsTree(p string) bool {
	return strings.HasPrefix(p, "manifests/") || strings.HasPrefix(p, "data/") || strings.HasPrefix(p, "indexes/")
}

// makeDelta removes the files the base has with the same digest and
// streams manifests/delta.json (DeltaDoc): the tree's files the base lacks
// (added) or has with another digest (changed), and the base's files the
// tree lacks (removed), each in byte-wise path order.
func makeDelta(job *Job, tree *treeFiles) error {
	base := job.Base
	if base == nil {
		return exitcode.Invalidf("mirror:delta needs a base mirror")
	}
	old := slices.Sorted(maps.Keys(base.Files))
	// removed walks the sorted base paths alongside the sorted tree.
	removed := func(yield func(string, error) bool) {
		i := 0
		for f, err := range tree.All() {
			if err != nil {
				yield("", err)
				return
			}
			for ; i < len(old) && old[i] < f.Path; i++ {
				if !yield(old[i], nil) {
					return
				}
			}
			if i < len(old) && old[i] == f.Path {
				i++
			}
		}
		for ; i < len(old); i++ {
			if !yield(old[i], nil) {
				return
			}
		}
	}
	records := 0
	for f, err := range tree.All() {
		if err != nil {
			return err
		}
		if sha, ok := base.Files[f.Path]; ok && sha == f.SHA256 {
			if err := job.Stage.Remove(f.Path); err != nil {
				return err
			}
			continue
		}
		records++
	}
	for _, err := range removed {
		if err != nil {
			return err
		}
		records++
	}
	paths := func(keep func(File) bool) canonjson.Array {
		return canonjson.Array{Seq: func(yield func(any, error) bool) {
			for f, err := range tree.All() {
				if (err != nil || keep(f)) && !yield(f.Path, err) {
					return
				}
			}
		}}
	}
	head := struct {
		Format string  `json:"format"`
		Base   BaseRef `json:"base"`
	}{DeltaFormat, base.BaseRef}
	f, err := job.Stage.Create(DeltaManifest)
	if err != nil {
		return err
	}
	err = canonjson.WriteObject(f, head, map[string]canonjson.Array{
		"added": paths(func(f File) bool { _, ok := base.Files[f.Path]; return !ok }),
		"changed": paths(func(f File) bool {
			sha, ok := base.Files[f.Path]
			return ok && sha != f.SHA256
		}),
		"removed": {Seq: func(yield func(any, error) bool) {
			for p, err := range removed {
				if !yield(p, err) {
					return
				}
			}
		}},
	})
	if err != nil {
		f.Abort()
		return err
	}
	f.Records = records
	return f.Close()
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

// writeMirrorDoc stages the item's document at its mirror path: the
// canonical form work put in it.buf with its digest, or, for a document
// too large to hold, streamed from it.src.
func writeMirrorDoc(job *Job, it *item) error {
	rel := MirrorPath(&it.doc)
	if it.src == nil {
		sum := it.val.([sha256.Size]byte)
		f, err := job.Stage.WriteHashed(rel, it.buf.Bytes(), sum[:], 1)
		it.file = f
		return err
	}
	f, err := job.Stage.Create(rel)
	if err != nil {
		return err
	}
	f.Records = 1
	if _, err := canonjson.Raw(f, it.src, it.src.Size); err != nil {
		f.Abort()
		return fmt.Errorf("%s: %w", it.doc.Path, err)
	}
	if _, err := f.Write([]byte{'\n'}); err != nil {
		f.Abort()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	it.file = f.File()
	return nil
}
