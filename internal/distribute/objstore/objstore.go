// Package objstore writes exports in the object-store layout
// (docs/distribution.md#object-store-layout): a bundle is stored as
// ROOT/exports/{tenant}/{exportId}/bundle.tgz, write once and read-only
// (mode 0444), with its distribution recorded in distributions.json
// beside it. The directory can be mirrored as is into a bucket (aws s3
// sync, rclone, gsutil rsync): the keys are the paths under ROOT.
//
// A bundle is built in a staging directory inside ROOT (Stage), so that
// storing it is a hard link on the same file system: the object appears
// whole, with its final mode, or not at all. Storing the same bytes again
// is a no-op; different bytes under an existing key are refused (exit 5)
// and leave the stored object as it was.
package objstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/distribute/record"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/partial"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// BundleName is the bundle's name under its export's prefix.
const BundleName = "bundle.tgz"

// Mode is the mode of every stored object.
const Mode fs.FileMode = 0o444

// Stage makes a private staging directory inside root (created as
// needed) for a bundle being built, named with the process id so that a
// later command removes it if this process is killed
// (partial.CleanStale, which Stage runs on root first); remove removes it
// and what is left in it.
func Stage(root string) (dir string, remove func(), err error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", nil, fmt.Errorf("object store %s: %w", root, err)
	}
	partial.CleanStale(root)
	dir, err = os.MkdirTemp(root, partial.DirPattern("objstore"))
	if err != nil {
		return "", nil, fmt.Errorf("object store %s: %w", root, err)
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// Key returns the object key of an export's bundle.
func Key(tenant, exportID string) string { return path.Join("exports", tenant, exportID, BundleName) }

// Object describes what Put stored.
type Object struct {
	Path      string `json:"path"`
	Key       string `json:"key"`
	SHA256    string `json:"sha256"`
	SizeBytes int64  `json:"sizeBytes"`
	Unchanged bool   `json:"unchanged"` // the same bytes were stored already
	Recorded  bool   `json:"-"`         // a new distributions.json entry was added
}

// Put stores the finished bundle src (inside root, made in Stage) under
// Key(tenant, exportID) and records it (expiresAt is the export's
// expiresAtUtc, "" for none). src is consumed: linked into place, or
// removed when the same bytes were there already.
func Put(ctx context.Context, root, tenant, exportID, expiresAt, src string) (*Object, error) {
	for _, id := range []struct{ field, v string }{{"tenant", tenant}, {"exportId", exportID}} {
		if err := safefile.CheckToken(id.field, id.v); err != nil {
			return nil, err
		}
		if err := manifest.CheckID(id.field, id.v); err != nil {
			return nil, err
		}
	}
	key := Key(tenant, exportID)
	target := filepath.Join(root, filepath.FromSlash(key))
	sum, size, err := hashFile(src)
	if err != nil {
		return nil, err
	}
	obj := &Object{Path: target, Key: key, SHA256: sum, SizeBytes: size}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return nil, fmt.Errorf("object store: %w", err)
	}
	if err := os.Chmod(src, Mode); err != nil {
		return nil, fmt.Errorf("object store: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	err = os.Link(src, target)
	switch {
	case err == nil:
		os.Remove(src)
	case errors.Is(err, fs.ErrExist):
		st, lerr := os.Lstat(target)
		if lerr != nil {
			return nil, lerr
		}
		if !st.Mode().IsRegular() {
			return nil, exitcode.Conflictf("%s is a %s, not a stored object", target, safefile.Kind(st.Mode()))
		}
		have, _, herr := hashFile(target)
		if herr != nil {
			return nil, herr
		}
		if have != sum {
			return nil, exitcode.Conflictf("%s already exists with different content (SHA-256 %s, this export gives %s); objects are written once", target, have, sum)
		}
		obj.Unchanged = true
		os.Remove(src)
	default:
		return nil, fmt.Errorf("object store: %w", err)
	}
	obj.Recorded, err = record.Append(ctx, filepath.Dir(target), obj.Record(exportID, expiresAt))
	return obj, err
}

// Record is the distributions.json entry of o.
func (o *Object) Record(exportID, expiresAt string) record.Record {
	return record.Record{ExportID: exportID, Type: record.TypeObjstore, Location: o.Key, SHA256: o.SHA256,
		SizeBytes: o.SizeBytes, ExpiresAt: record.Expiry(expiresAt)}
}

func hashFile(p string) (string, int64, error) {
	f, err := safefile.OpenNoFollow(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", p, err)
	}
	return digest.Of(h).Hex(), n, nil
}
