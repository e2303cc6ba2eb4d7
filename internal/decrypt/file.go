package decrypt

import (
	"context"
	"fmt"
	"os"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/partial"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// FileResult describes a decrypted file.
type FileResult struct {
	Path   string        `json:"path"`
	SHA256 digest.SHA256 `json:"sha256"`
	Size   int64         `json:"size"`
}

// File decrypts the encrypted file in to out, mode 0600: written to a
// temporary file in out's directory and renamed to out only after the last
// chunk authenticated. An existing out is an error (exit 5) unless force,
// and then only a regular file is replaced; in itself is never replaced.
func File(ctx context.Context, in, out string, force bool, keys Keys) (*FileResult, error) {
	f, err := safefile.Open(in)
	if err != nil {
		return nil, fmt.Errorf("open %w", err)
	}
	defer f.Close()
	if st, err := os.Stat(out); err == nil {
		if ist, err := f.Stat(); err == nil && os.SameFile(st, ist) {
			return nil, exitcode.Conflictf("%s: the output is the encrypted file itself", out)
		}
	}
	af, err := atomicfile.Create(out, force)
	if err != nil {
		return nil, err
	}
	defer partial.Track(ctx, af.TempName())()
	defer af.Abort()
	af.SetMode(0o600)
	d, n, err := keys.Copy(ctx, af, in, f)
	if err != nil {
		return nil, fileError(in, err)
	}
	if err := af.Commit(); err != nil {
		return nil, err
	}
	return &FileResult{Path: out, SHA256: d, Size: n}, nil
}
