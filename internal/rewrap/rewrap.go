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
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/envelope"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/keyring"
	"github.com/stella-ops/stella-export/internal/layout"
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
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	alias, err := aliasOf(h.KeyID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cur, err := ring.Resolve(alias)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
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
		return nil, fmt.Errorf("%s: %w", path, exitcode.Cause(ctx, err))
	}
	nh, err := envelope.ReadHeader(&buf)
	if err != nil {
		return nil, fmt.Errorf("%s: reading back the new header: %w", path, err)
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

// Dir rewraps every envelope file below the export directory dir (symbolic
// links, FIFOs and devices in it are refused, exit 3) and then updates the
// encryption members of its export.json and provenance.json. Files are
// rewrapped one by one: after a failure, the files before it are rewrapped
// (each whole, and decryptable with the keyring, which keeps every
// version) and the documents not yet updated; running it again finishes.
func Dir(ctx context.Context, dir string, ring keyring.Dir, rand io.Reader) ([]*Result, error) {
	var names []string
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open export directory: %w", err)
	}
	err = fs.WalkDir(root.FS(), ".", func(p string, e fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case e.IsDir():
			return nil
		case !e.Type().IsRegular():
			return exitcode.Invalidf("%s: is a %s; an export directory holds only files and directories", filepath.Join(dir, p), safefile.Kind(e.Type()))
		case strings.HasSuffix(p, plaintext.SuffixEnvelope):
			names = append(names, p)
		}
		return nil
	})
	root.Close()
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, exitcode.Invalidf("%s: no .enc file: not an envelope-encrypted export", dir)
	}
	slices.Sort(names)
	var out []*Result
	wrapped := map[string]string{}
	to := ""
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return out, context.Cause(ctx)
		}
		r, err := File(ctx, filepath.Join(dir, filepath.FromSlash(n)), ring, rand)
		if err != nil {
			return out, err
		}
		if to != "" && r.To != to {
			return out, exitcode.Invalidf("%s: under %s while other files are under %s: an export uses one master key", n, r.To, to)
		}
		to = r.To
		r.Path = n
		wrapped[n] = base64.StdEncoding.EncodeToString(r.wrapped[:])
		out = append(out, r)
	}
	for _, doc := range []string{layout.Manifest, layout.Provenance} {
		if err := updateDoc(filepath.Join(dir, doc), to, wrapped); err != nil {
			return out, err
		}
	}
	return out, nil
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
