// Package rewrap moves envelope files (.enc) to the current version of
// their master key's alias after `keys rotate`, without re-encrypting them
// (docs/encryption.md#rewrap): the header's fixed part and every chunk are
// kept byte for byte, and each chunk is authenticated on the way, so a
// damaged file is never passed on.
//
// A file is rewritten through a temporary file in its directory, with its
// mode, and renamed over the original only when the whole file has been
// copied; on failure the original is untouched. An export directory is
// rewrapped file by file, and then the `encryption` members of its
// export.json and provenance.json are brought up to date (the key id and
// each file's wrapped key).
package rewrap

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/envelope"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/keyring"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/merkle"
	"github.com/stella-ops/stella-export/internal/partial"
	"github.com/stella-ops/stella-export/internal/plaintext"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// Result is one file's rewrap.
type Result struct {
	Path string `json:"path"`
	From string `json:"from"` // key id before
	To   string `json:"to"`   // key id after; equal to From when the file was already current
	// wrapped is the new header's wrapped key, for provenance.json.
	wrapped [envelope.WrappedKeySize]byte
}

// aliasOf returns the alias of a keyring key id alias/NAME/vN.
func aliasOf(keyID string) (string, error) {
	i := strings.LastIndex(keyID, "/v")
	if !strings.HasPrefix(keyID, keyring.Prefix) || i <= len(keyring.Prefix) {
		return "", exitcode.Invalidf("key id %s is not a keyring key id (alias/NAME/vN): only keyring keys rotate", keyID)
	}
	return keyID[:i], nil
}

// File rewraps the envelope file at path under the current version of the
// alias its key id belongs to, in ring. A file already under the current
// version is left as it is.
func File(ctx context.Context, path string, ring keyring.Dir, rand io.Reader) (*Result, error) {
	return file(ctx, path, path, ring, rand)
}

// file is File, naming the file shown in errors.
func file(ctx context.Context, path, shown string, ring keyring.Dir, rand io.Reader) (*Result, error) {
	f, err := safefile.OpenNoFollow(path)
	if err != nil {
		return nil, fmt.Errorf("open %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	h, err := envelope.ReadHeader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", shown, err)
	}
	alias, err := aliasOf(h.KeyID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", shown, err)
	}
	cur, err := ring.Resolve(alias)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", shown, err)
	}
	res := &Result{Path: path, From: h.KeyID, To: cur.ID, wrapped: h.WrappedKey}
	if cur.ID == h.KeyID {
		return res, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	out, err := atomicfile.Create(path, true)
	if err != nil {
		return nil, err
	}
	defer partial.Track(ctx, out.TempName())()
	defer out.Abort()
	out.SetMode(st.Mode().Perm())
	lookup := func(id string) (envelope.Key, error) {
		k, err := ring.Lookup(id)
		return envelope.Key{ID: k.ID, Secret: k.Secret}, err
	}
	var buf bytes.Buffer
	w := io.MultiWriter(out, &headerCapture{buf: &buf, n: h.Len() - len(h.KeyID) + len(cur.ID)})
	if err := envelope.Rewrap(&ctxReader{ctx, f}, w, lookup, envelope.Key{ID: cur.ID, Secret: cur.Secret}, rand); err != nil {
		return nil, fmt.Errorf("%s: %w", shown, exitcode.Cause(ctx, err))
	}
	nh, err := envelope.ReadHeader(&buf)
	if err != nil {
		return nil, fmt.Errorf("%s: reading back the new header: %w", shown, err)
	}
	res.wrapped = nh.WrappedKey
	if err := out.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

// headerCapture keeps the first n bytes written to it.
type headerCapture struct {
	buf *bytes.Buffer
	n   int
}

func (h *headerCapture) Write(p []byte) (int, error) {
	if rest := h.n - h.buf.Len(); rest > 0 {
		h.buf.Write(p[:min(rest, len(p))])
	}
	return len(p), nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Dir rewraps every envelope file of the export directory dir (symbolic
// links, FIFOs and devices in it are refused, exit 3), and brings every
// record of the directory up to date, so that it is again what run would
// have written with the new headers: the encryption members of export.json
// and provenance.json (key id, wrapped keys), and every record naming the
// SHA-256 and size of a file that changed (mirror manifests and indexes,
// provenance.json's subject, export.json's files), then export.json's
// payloadRoot and payloadBytes. The directory must first be what its
// export.json records (its files' payload root is export.json's
// payloadRoot, otherwise exit 1: nothing in it is trusted).
//
// The new directory is built in a staging directory beside dir and renamed
// over it only when complete: on any failure or interruption dir is as it
// was.
func Dir(ctx context.Context, dir string, ring keyring.Dir, rand io.Reader) ([]*Result, error) {
	dir = filepath.Clean(dir)
	files, err := scan(dir)
	if err != nil {
		return nil, err
	}
	var encs []string
	for _, f := range files {
		if strings.HasSuffix(f.path, plaintext.SuffixEnvelope) {
			encs = append(encs, f.path)
		}
	}
	if len(encs) == 0 {
		return nil, exitcode.Invalidf("%s: no .enc file: not an envelope-encrypted export", dir)
	}
	mb, err := safefile.ReadAll(filepath.Join(dir, layout.Manifest), maxDoc)
	if err != nil {
		return nil, fmt.Errorf("read export directory: %w", err)
	}
	var rec struct {
		PayloadRoot string `json:"payloadRoot"`
	}
	if err := json.Unmarshal(mb, &rec); err != nil || rec.PayloadRoot == "" {
		return nil, exitcode.Invalidf("%s: not an export.json of stella-export (no payloadRoot)", filepath.Join(dir, layout.Manifest))
	}
	old := map[string]sized{}
	for _, f := range files {
		if f.path == layout.Manifest {
			continue
		}
		d, n, err := hashFile(filepath.Join(dir, filepath.FromSlash(f.path)))
		if err != nil {
			return nil, err
		}
		old[f.path] = sized{d, n}
	}
	if got := payloadRoot(old); got.String() != rec.PayloadRoot {
		return nil, exitcode.Verifyf("%s: the files' payload root is %s, export.json records %s: a file was changed, added or removed after run; rewrap only an export directory as run left it", dir, got, rec.PayloadRoot)
	}

	stage, err := makeStage(dir)
	if err != nil {
		return nil, err
	}
	defer partial.Track(ctx, stage)()
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(stage)
		}
	}()
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		if err := copyFile(filepath.Join(dir, filepath.FromSlash(f.path)), filepath.Join(stage, filepath.FromSlash(f.path)), f.mode); err != nil {
			return nil, err
		}
	}
	var out []*Result
	wrapped := map[string]string{}
	to := ""
	cur := maps.Clone(old)
	for _, n := range encs {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		p := filepath.Join(stage, filepath.FromSlash(n))
		r, err := file(ctx, p, filepath.Join(dir, filepath.FromSlash(n)), ring, rand)
		if err != nil {
			return nil, err
		}
		if to != "" && r.To != to {
			return nil, exitcode.Invalidf("%s: under %s while other files are under %s: an export uses one master key", n, r.To, to)
		}
		to = r.To
		r.Path = n
		wrapped[n] = base64.StdEncoding.EncodeToString(r.wrapped[:])
		out = append(out, r)
		if r.From != r.To {
			if cur[n], err = hashSized(p); err != nil {
				return nil, err
			}
		}
	}
	// The encryption members, then every record of a changed file's
	// digest, until no record changes (a manifest that changed is itself
	// recorded elsewhere: in provenance's subject, in export.json).
	for _, doc := range []string{layout.Provenance, layout.Manifest} {
		if err := updateDoc(filepath.Join(stage, doc), to, wrapped); err != nil {
			return nil, err
		}
	}
	if _, has := cur[layout.Provenance]; has {
		if cur[layout.Provenance], err = hashSized(filepath.Join(stage, layout.Provenance)); err != nil {
			return nil, err
		}
	}
	recorded := maps.Clone(old)
	for {
		changed := map[string]change{}
		for p, d := range cur {
			if recorded[p] != d {
				changed[p] = change{from: recorded[p], to: d}
				recorded[p] = d
			}
		}
		if len(changed) == 0 {
			break
		}
		for _, f := range files {
			if !strings.HasSuffix(f.path, ".json") || f.path == layout.Manifest {
				continue
			}
			p := filepath.Join(stage, filepath.FromSlash(f.path))
			hit, err := rewriteDoc(p, changed, nil)
			if err != nil {
				return nil, err
			}
			if hit {
				if cur[f.path], err = hashSized(p); err != nil {
					return nil, err
				}
			}
		}
	}
	all := map[string]change{}
	for p, d := range cur {
		if o, ok := old[p]; ok && o != d {
			all[p] = change{from: o, to: d}
		}
	}
	// Records in export.json name the digests run recorded (old), the
	// payload root and size cover the new files.
	if _, err := rewriteDoc(filepath.Join(stage, layout.Manifest), all, func(doc map[string]any) {
		var n int64
		for _, d := range cur {
			n += d.size
		}
		doc["payloadRoot"] = payloadRoot(cur).String()
		doc["payloadBytes"] = json.Number(strconv.FormatInt(n, 10))
	}); err != nil {
		return nil, err
	}
	if err := swap(stage, dir); err != nil {
		return nil, err
	}
	ok = true
	return out, nil
}

const maxDoc = 1 << 30

type sized struct {
	d    digest.SHA256
	size int64
}

type change struct{ from, to sized }

type entry struct {
	path string
	mode fs.FileMode
}

// scan lists the regular files below dir, by slash path, refusing anything
// else but directories.
func scan(dir string) ([]entry, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open export directory: %w", err)
	}
	defer root.Close()
	var files []entry
	err = fs.WalkDir(root.FS(), ".", func(p string, e fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case e.IsDir():
			return nil
		case !e.Type().IsRegular():
			return exitcode.Invalidf("%s: is a %s; an export directory holds only files and directories", filepath.Join(dir, p), safefile.Kind(e.Type()))
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		files = append(files, entry{path: p, mode: fi.Mode().Perm()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(files, func(a, b entry) int { return strings.Compare(a.path, b.path) })
	return files, nil
}

func hashFile(path string) (digest.SHA256, int64, error) {
	f, err := safefile.OpenNoFollow(path)
	if err != nil {
		return digest.SHA256{}, 0, fmt.Errorf("read export directory: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return digest.SHA256{}, 0, fmt.Errorf("read %s: %w", path, err)
	}
	return digest.Of(h), n, nil
}

func hashSized(path string) (sized, error) {
	d, n, err := hashFile(path)
	return sized{d, n}, err
}

// payloadRoot is run's payload root: the RFC 6962 root of the checksums
// lines of the files, by path.
func payloadRoot(files map[string]sized) digest.SHA256 {
	var b merkle.Builder
	for _, p := range slices.Sorted(maps.Keys(files)) {
		b.Add([]byte(checksums.Entry{Path: p, Digest: files[p].d}.Line()))
	}
	return b.Root()
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := safefile.OpenNoFollow(src)
	if err != nil {
		return fmt.Errorf("read export directory: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Chmod(mode); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// makeStage makes the staging directory of dir, beside it, with dir's mode.
func makeStage(dir string) (string, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return "", err
	}
	parent := filepath.Dir(dir)
	for range 100 {
		var b [8]byte
		crand.Read(b[:])
		p := filepath.Join(parent, ".stella-export-rewrap-"+hex.EncodeToString(b[:]))
		err := os.Mkdir(p, fi.Mode().Perm())
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("create staging directory: %w", err)
		}
		return p, nil
	}
	return "", fmt.Errorf("create staging directory in %s: no free name", parent)
}

// swap renames stage to dir, moving dir aside first and removing it after.
func swap(stage, dir string) error {
	old := stage + ".old"
	if err := os.Rename(dir, old); err != nil {
		return fmt.Errorf("replace %s: %w", dir, err)
	}
	if err := os.Rename(stage, dir); err != nil {
		os.Rename(old, dir)
		return fmt.Errorf("move the rewrapped export into place: %w", err)
	}
	return os.RemoveAll(old)
}

// rewriteDoc rewrites the canonical JSON document at path, replacing in
// every object that names a changed file (by "path" or "name") the digest
// and size of its old bytes by those of its new ones ("sha256":
// "sha256:<hex>" or bare hex, "digest":{"sha256":<hex>}, "size"), and
// then calling edit if not nil. It reports whether a record changed; the
// file is written only if something did.
func rewriteDoc(path string, changed map[string]change, edit func(map[string]any)) (bool, error) {
	b, err := safefile.ReadAll(path, maxDoc)
	if err != nil {
		return false, err
	}
	body := bytes.TrimSuffix(b, []byte("\n"))
	if !bytes.Contains(body, []byte(`"sha256"`)) && edit == nil {
		return false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return false, nil // not JSON: a payload file that records nothing
	}
	hit := substitute(doc, changed)
	m, isObj := doc.(map[string]any)
	if edit != nil && isObj {
		edit(m)
		hit = true
	}
	if !hit {
		return false, nil
	}
	if c, err := canonjson.Canonicalize(body); err != nil || !bytes.Equal(c, body) {
		return false, exitcode.Invalidf("%s: records a rewrapped file's digest but is not canonical JSON: not as run wrote it", path)
	}
	nb, err := canonjson.Marshal(doc)
	if err != nil {
		return false, err
	}
	if len(body) != len(b) {
		nb = append(nb, '\n')
	}
	st, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return true, atomicfile.WriteFile(path, nb, st.Mode().Perm(), true)
}

func substitute(v any, changed map[string]change) bool {
	hit := false
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			hit = substitute(e, changed) || hit
		}
	case map[string]any:
		name, _ := v["path"].(string)
		if name == "" {
			name, _ = v["name"].(string)
		}
		if c, ok := changed[name]; ok {
			replaced := false
			if s, ok := v["sha256"].(string); ok {
				switch s {
				case c.from.d.String():
					v["sha256"], replaced = c.to.d.String(), true
				case c.from.d.Hex():
					v["sha256"], replaced = c.to.d.Hex(), true
				}
			}
			if d, ok := v["digest"].(map[string]any); ok && d["sha256"] == c.from.d.Hex() {
				d["sha256"], replaced = c.to.d.Hex(), true
			}
			if n, ok := v["size"].(json.Number); replaced && ok && n.String() == strconv.FormatInt(c.from.size, 10) {
				v["size"] = json.Number(strconv.FormatInt(c.to.size, 10))
			}
			hit = hit || replaced
		}
		for _, e := range v {
			hit = substitute(e, changed) || hit
		}
	}
	return hit
}

// updateDoc sets encryption.keyId to keyID and, in provenance.json,
// encryption.files[].wrappedKey to the new wrapped keys, in the canonical
// JSON document at path, if it exists and has an encryption member.
func updateDoc(path, keyID string, wrapped map[string]string) error {
	b, err := safefile.ReadAll(path, 1<<30)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return exitcode.Invalidf("%s: %v", path, err)
	}
	enc, ok := doc["encryption"].(map[string]any)
	if !ok {
		return nil
	}
	enc["keyId"] = keyID
	if files, ok := enc["files"].([]any); ok {
		for i, f := range files {
			m, ok := f.(map[string]any)
			if !ok {
				return exitcode.Invalidf("%s: encryption.files[%d] is not an object", path, i)
			}
			name, _ := m["name"].(string)
			if w, ok := wrapped[name]; ok {
				m["wrappedKey"] = w
			} else if _, has := m["wrappedKey"]; has {
				return exitcode.Invalidf("%s: encryption.files[%d]: %q is not an .enc file of the export", path, i, name)
			}
		}
	}
	nb, err := canonjson.Marshal(doc)
	if err != nil {
		return err
	}
	if bytes.HasSuffix(b, []byte("\n")) {
		nb = append(nb, '\n')
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, nb, st.Mode().Perm(), true)
}
