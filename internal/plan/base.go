package plan

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/verify"
)

// LoadBase reads the base mirror bundle of a mirror:delta once: it is
// verified while its manifests/mirror.json is held (at most
// adapters.MaxBaseManifest bytes), and adapters.NewBase then takes only
// what the verification established.
func LoadBase(ctx context.Context, path string) (*adapters.BaseMirror, error) {
	f, err := safefile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read base mirror: %w", err)
	}
	defer f.Close()
	var man *bytes.Buffer
	rep, err := verify.Verify(ctx, f, verify.Options{Extract: func(name string, size int64) (io.WriteCloser, error) {
		if name != adapters.MirrorManifest {
			return nil, nil
		}
		if size > adapters.MaxBaseManifest {
			return nil, exitcode.Invalidf("%s: %d bytes, more than the %d a mirror manifest may have", name, size, adapters.MaxBaseManifest)
		}
		man = bytes.NewBuffer(make([]byte, 0, size))
		return nopCloser{man}, nil
	}})
	if err != nil {
		return nil, fmt.Errorf("base mirror %s: %w", path, err)
	}
	v := adapters.VerifiedBase{
		BaseRef: adapters.BaseRef{ExportID: rep.ExportID, RootHash: rep.Root, SHA256: "sha256:" + rep.SHA256},
		Profile: rep.Profile, Sums: rep.Checksums(),
	}
	if man != nil {
		v.Manifest = man.Bytes()
	}
	return adapters.NewBase(path, v)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
