package evidence

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stella-ops/stella-export/internal/extsort"
	"github.com/stella-ops/stella-export/internal/partial"
)

// canonStore keeps the canonical form of the small documents Resolve reads
// (Config.KeepCanonical), appended in the order they are read to one
// temporary file in a spill directory beside the output. Run from a
// contract then takes each document's canonical bytes from there instead
// of opening, hashing and canonicalising the source file a second time:
// every document is read once. The file is written and read by this
// process only, in a directory of its own (0700); a forced exit
// (internal/partial) or, after a crash, partial.CleanStale removes it.
type canonStore struct {
	ctx     context.Context
	parent  string
	dir     string // created by the first add
	f       *os.File
	w       *bufio.Writer
	off     int64
	untrack func()
}

func newCanonStore(ctx context.Context, parent string) *canonStore {
	return &canonStore{ctx: ctx, parent: parent}
}

func (c *canonStore) create() error {
	dir, err := extsort.MkdirSpill(c.parent)
	if err != nil {
		return err
	}
	untrack := partial.Track(c.ctx, dir)
	f, err := os.OpenFile(filepath.Join(dir, "canonical"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		os.RemoveAll(dir)
		untrack()
		return fmt.Errorf("create spill file: %w", err)
	}
	c.dir, c.f, c.w, c.untrack = dir, f, bufio.NewWriterSize(f, 1<<20), untrack
	return nil
}

// add appends b and records where in d.
func (c *canonStore) add(d *Doc, b []byte) error {
	if c.f == nil {
		if err := c.create(); err != nil {
			return err
		}
	}
	if _, err := c.w.Write(b); err != nil {
		return fmt.Errorf("write spill file: %w", err)
	}
	d.CanonOff, d.CanonLen = c.off, int64(len(b))
	c.off += int64(len(b))
	return nil
}

// finish flushes what add buffered.
func (c *canonStore) finish() error {
	if c.w == nil {
		return nil
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("write spill file: %w", err)
	}
	return nil
}

// read returns d's canonical bytes in a new slice.
func (c *canonStore) read(d *Doc) ([]byte, error) {
	if c.f == nil || d.CanonLen <= 0 || d.CanonOff < 0 || d.CanonOff+d.CanonLen > c.off {
		return nil, fmt.Errorf("%s: no canonical form kept", d.Path)
	}
	b := make([]byte, d.CanonLen)
	if _, err := c.f.ReadAt(b, d.CanonOff); err != nil {
		return nil, fmt.Errorf("read spill file: %w", err)
	}
	return b, nil
}

func (c *canonStore) close() error {
	if c == nil || c.f == nil {
		return nil
	}
	c.f.Close()
	c.f = nil
	err := os.RemoveAll(c.dir)
	c.untrack()
	return err
}
