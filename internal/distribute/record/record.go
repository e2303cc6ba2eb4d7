// Package record keeps the distribution records of exports: every place an
// export was written to or published at (an object-store prefix, a local
// delivery, an OCI registry or layout) is one entry of distributions.json,
// in the directory that holds the export (the bundle file, or the export
// directory). The format is docs/distribution.md#distribution-records.
//
// Append adds an entry by rewriting the whole file, canonical JSON and one
// LF, under an exclusive flock(2) on that directory, so that concurrent
// writers never lose an entry; an entry already present is not added again,
// so that re-running a write-once distribution changes nothing. Event wraps
// an entry in a stella.export.distribution.v1 outbox event.
//
// The shell equivalent of reading the entries of one export:
//
//	jq '.distributions[] | select(.export_id == "EXPORT_ID")' distributions.json
package record

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/notify"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// FileName is the name of the records file.
const FileName = "distributions.json"

// Format identifies the records file's version.
const Format = "stella-export/distributions/v1"

// Types of distribution.
const (
	TypeObjstore  = "objstore"   // written under exports/{tenant}/{exportId}/ of an object-store layout
	TypeLocal     = "local"      // copied by a DatasetExport's delivery_method local
	TypeOCI       = "oci"        // pushed to a registry, location REGISTRY/REPO@sha256:...
	TypeOCILayout = "oci-layout" // written into an OCI image layout directory
)

// Types lists the known distribution types.
var Types = []string{TypeObjstore, TypeLocal, TypeOCI, TypeOCILayout}

// Record is one distribution of one export.
type Record struct {
	ExportID  string `json:"export_id"`
	Type      string `json:"type"`
	Location  string `json:"location"`   // object key, path or OCI reference
	SHA256    string `json:"sha256"`     // bare hex of what was distributed
	SizeBytes int64  `json:"size_bytes"` // its size
	// ExpiresAt is the export's expiresAtUtc (RFC 3339, whole seconds,
	// UTC); nil (JSON null) for an export that does not expire.
	ExpiresAt *string `json:"expires_at"`
}

// File is the content of distributions.json.
type File struct {
	Format        string   `json:"format"`
	Distributions []Record `json:"distributions"`
}

// Expiry returns the ExpiresAt of an export whose expiresAtUtc is s
// ("" for none).
func Expiry(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Check validates r: *exitcode.OptionError (exit 3) naming the field.
func (r Record) Check() error {
	if err := safefile.CheckToken("export_id", r.ExportID); err != nil {
		return err
	}
	if err := manifest.CheckID("export_id", r.ExportID); err != nil {
		return err
	}
	if !slices.Contains(Types, r.Type) {
		return exitcode.Optionf("type", "%q is not one of objstore, local, oci, oci-layout", r.Type)
	}
	if err := safefile.CheckToken("location", r.Location); err != nil {
		return err
	}
	if r.Location == "" {
		return exitcode.Optionf("location", "empty")
	}
	if _, err := digest.ParseHex(r.SHA256); err != nil {
		return exitcode.Optionf("sha256", "%q is not 64 lowercase hex digits", r.SHA256)
	}
	if r.SizeBytes < 0 {
		return exitcode.Optionf("size_bytes", "%d is negative", r.SizeBytes)
	}
	if r.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, *r.ExpiresAt)
		if err != nil || manifest.Timestamp(t) != *r.ExpiresAt {
			return exitcode.Optionf("expires_at", "%q is not an RFC 3339 UTC time in whole seconds", *r.ExpiresAt)
		}
	}
	return nil
}

func (r Record) equal(o Record) bool {
	return r.ExportID == o.ExportID && r.Type == o.Type && r.Location == o.Location && r.SHA256 == o.SHA256 &&
		r.SizeBytes == o.SizeBytes && (r.ExpiresAt == nil) == (o.ExpiresAt == nil) && (r.ExpiresAt == nil || *r.ExpiresAt == *o.ExpiresAt)
}

// Append adds r to dir/distributions.json, creating it if needed, and
// reports whether it was added (false: the same entry was there already).
// A records file that is not one stella-export wrote (not canonical JSON
// of this format, or larger than safefile.MaxDoc) is refused with exit 3
// and left as it is.
func Append(ctx context.Context, dir string, r Record) (bool, error) {
	if err := r.Check(); err != nil {
		return false, fmt.Errorf("distribution record: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return false, err
	}
	defer unlock()
	if err := ctx.Err(); err != nil {
		return false, context.Cause(ctx)
	}
	path := filepath.Join(dir, FileName)
	f, err := Read(path)
	if err != nil {
		return false, err
	}
	for _, o := range f.Distributions {
		if o.equal(r) {
			return false, nil
		}
	}
	f.Distributions = append(f.Distributions, r)
	b, err := canonjson.MarshalLine(f)
	if err != nil {
		return false, err
	}
	if err := atomicfile.WriteFile(path, b, 0o644, true); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	return true, nil
}

// Read reads a records file; a missing one is an empty File.
func Read(path string) (*File, error) {
	b, err := safefile.ReadAll(path, safefile.MaxDoc)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{Format: Format, Distributions: []Record{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read distribution records: %w", err)
	}
	c, err := canonjson.Canonicalize(bytes.TrimSuffix(b, []byte("\n")))
	if err != nil || !bytes.Equal(append(c, '\n'), b) {
		return nil, exitcode.Invalidf("%s: not canonical JSON (RFC 8785 and one LF); it was not written by stella-export", path)
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, exitcode.Invalidf("%s: %v", path, err)
	}
	if f.Format != Format {
		return nil, exitcode.Invalidf("%s: format: want %q", path, Format)
	}
	for i, r := range f.Distributions {
		if err := r.Check(); err != nil {
			return nil, exitcode.Invalidf("%s: distributions[%d]: %v", path, i, err)
		}
	}
	if f.Distributions == nil {
		f.Distributions = []Record{}
	}
	return &f, nil
}

// lockDir takes an exclusive flock(2) on the directory dir itself (no
// lock file is left beside the records) and returns its release.
func lockDir(dir string) (func(), error) {
	d, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("lock distribution records: %w", err)
	}
	for {
		err = syscall.Flock(int(d.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("lock distribution records in %s: %w", dir, err)
	}
	return func() {
		syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
		d.Close()
	}, nil
}

// Event wraps r in a distribution event of the export's tenant, created
// at the export's createdAtUtc, for the emit outbox.
func Event(r Record, tenant, createdAt string) (*notify.Event, error) {
	return notify.NewEvent(notify.EventDistribution, r.ExportID, tenant, createdAt, r)
}

// Announce queues the distribution event of r in the outbox at dir: the
// same entry is queued once.
func Announce(ctx context.Context, dir string, r Record, tenant, createdAt string) (*notify.EmitResult, error) {
	e, err := Event(r, tenant, createdAt)
	if err != nil {
		return nil, err
	}
	return notify.Outbox{Dir: dir}.Put(ctx, e)
}
