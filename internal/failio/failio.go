// Package failio has writers that fail on purpose, for tests of error
// paths (a disk that fills up part way through an output).
package failio

// Writer accepts After bytes; the write that would pass them writes what
// still fits and returns Err, as do the writes after it.
type Writer struct {
	After int
	Err   error
}

func (w *Writer) Write(p []byte) (int, error) {
	if len(p) > w.After {
		n := w.After
		w.After = 0
		return n, w.Err
	}
	w.After -= len(p)
	return len(p), nil
}
