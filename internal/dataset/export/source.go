package export

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/dataset/csv"
	"github.com/stella-ops/stella-export/internal/dataset/jsonl"
	"github.com/stella-ops/stella-export/internal/dataset/schema"
	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// Source is an open dataset source.
type Source struct {
	table.Reader
	f      *os.File
	h      hash.Hash // of the bytes read, for file sources
	digest string    // the digest, for sources hashed when opened
}

// Digest returns "sha256:<hex>" of the source file once it has been read
// to the end.
func (s *Source) Digest() string {
	if s.h == nil {
		return s.digest
	}
	return digest.Of(s.h).String()
}

// Close closes the reader and the file.
func (s *Source) Close() error {
	err := s.Reader.Close()
	if s.f != nil {
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// OpenSource opens the contract's dataset_ref as rows of s. A FIFO,
// device or directory is refused without blocking (exit 3).
func OpenSource(c *contract.Contract, s *schema.Schema) (*Source, error) {
	d := c.Dataset
	name := d.SourcePath
	switch d.SourceKind {
	case "csv", "jsonl":
		f, err := safefile.Open(name)
		if err != nil {
			return nil, fmt.Errorf("%s: dataset_ref: %w", c.Where("dataset_ref"), err)
		}
		h := sha256.New()
		r := io.TeeReader(f, h)
		src := &Source{f: f, h: h}
		if d.SourceKind == "csv" {
			cr, err := csv.NewReader(r, s.Schema, name)
			if err != nil {
				f.Close()
				return nil, err
			}
			src.Reader = cr
		} else {
			src.Reader = jsonl.NewReader(r, s.Schema, name)
		}
		return src, nil
	case "sqlite":
		return openSQLite(c, s)
	case "parquet":
		return openParquet(c, s)
	}
	return nil, fmt.Errorf("internal error: source kind %q", d.SourceKind)
}
