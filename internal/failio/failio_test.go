package failio

import (
	"errors"
	"testing"
)

func TestWriter(t *testing.T) {
	errFull := errors.New("full")
	w := &Writer{After: 5, Err: errFull}
	if n, err := w.Write([]byte("abc")); n != 3 || err != nil {
		t.Fatalf("first write: %d, %v", n, err)
	}
	if n, err := w.Write([]byte("defg")); n != 2 || err != errFull {
		t.Fatalf("second write: %d, %v; want 2 and the error", n, err)
	}
	if n, err := w.Write([]byte("h")); n != 0 || err != errFull {
		t.Fatalf("third write: %d, %v; want 0 and the error", n, err)
	}
}
