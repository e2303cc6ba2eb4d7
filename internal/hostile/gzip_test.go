package hostile

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
)

func checkGzip(b []byte, want int64) error {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, zr)
	if err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("inflated %d bytes, want %d", n, want)
	}
	return nil
}
