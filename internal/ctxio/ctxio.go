// Package ctxio stops long copies when their context is cancelled: a
// Ctrl-C in the middle of a 10 GiB file takes effect at the next read, not
// at the end of the file.
package ctxio

import (
	"context"
	"io"
)

// NewReader returns a reader of r that fails with ctx's error, before
// reading, once ctx is done.
func NewReader(ctx context.Context, r io.Reader) io.Reader { return &reader{ctx: ctx, r: r} }

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c *reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// CountReader counts the bytes read through it.
type CountReader struct {
	R io.Reader
	N int64
}

func (c *CountReader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.N += int64(n)
	return n, err
}

// CountWriter counts the bytes written through it.
type CountWriter struct {
	W io.Writer
	N int64
}

func (c *CountWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}
