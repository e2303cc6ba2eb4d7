package commands

import (
	"context"
	"path/filepath"

	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/distribute/objstore"
	"github.com/stella-ops/stella-export/internal/distribute/record"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// layoutObjstore is the --layout value of the object-store layout
// (docs/distribution.md#object-store-layout).
const layoutObjstore = "objstore"

// checkLayout checks --layout of run and of package without --portable.
func checkLayout(layout string) error {
	if layout != "flat" && layout != layoutObjstore {
		return exitcode.Usagef("--layout: %q is not one of flat, objstore", layout)
	}
	return nil
}

// objstoreRun is a bundle being built for the object store: the bundle
// flag named the store root, and the bundle is written to staged first.
type objstoreRun struct {
	root, staged string
	remove       func()
}

func stageObjstore(root string) (*objstoreRun, error) {
	dir, remove, err := objstore.Stage(root)
	if err != nil {
		return nil, err
	}
	return &objstoreRun{root: root, staged: filepath.Join(dir, objstore.BundleName), remove: remove}, nil
}

// store puts the finished bundle into the store, records it and, with an
// outbox, queues its distribution event.
func (s *objstoreRun) store(ctx context.Context, tenant, exportID, createdAt, expiresAt, outbox string) (*objstore.Object, error) {
	obj, err := objstore.Put(ctx, s.root, tenant, exportID, expiresAt, s.staged)
	if err != nil {
		return nil, err
	}
	if outbox != "" {
		if _, err := record.Announce(ctx, outbox, obj.Record(exportID, expiresAt), tenant, createdAt); err != nil {
			return obj, err
		}
	}
	return obj, nil
}

// recordLocal records a DatasetExport's local delivery beside its export
// directory (and queues the event with an outbox): the bundle's digest
// and size when the bundle was delivered, else export.json's digest and
// the payload's bytes.
func recordLocal(ctx context.Context, outDir, delivered, bundle, bundleSHA string, payloadBytes int64, exportID, tenant, createdAt, expiresAt, outbox string) (queued string, err error) {
	r := record.Record{ExportID: exportID, Type: record.TypeLocal, Location: filepath.ToSlash(delivered), SHA256: bundleSHA,
		SizeBytes: fileSize(bundle), ExpiresAt: record.Expiry(expiresAt)}
	if bundle == "" {
		b, err := safefile.ReadAll(filepath.Join(outDir, "export.json"), safefile.MaxDoc)
		if err != nil {
			return "", err
		}
		r.SHA256, r.SizeBytes = digest.Sum(b).Hex(), payloadBytes
	}
	if _, err := record.Append(ctx, filepath.Dir(filepath.Clean(outDir)), r); err != nil {
		return "", err
	}
	if outbox == "" {
		return "", nil
	}
	res, err := record.Announce(ctx, outbox, r, tenant, createdAt)
	if err != nil {
		return "", err
	}
	return res.Key, nil
}
