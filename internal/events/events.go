// Package events writes a run's telemetry as JSON lines: run state
// transitions and the adapter events adapter.start, adapter.chunk,
// adapter.complete and adapter.error. Lines carry a sequence number, never a
// clock, so the same run writes the same lines.
package events

import (
	"io"
	"sync"

	"github.com/stella-ops/stella-export/internal/canonjson"
)

// Writer emits events; a nil *Writer discards them.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	seq int
	err error
	// Hook, when set, sees every event (e.g. to drive a progress bar).
	Hook func(kind string, fields map[string]any)
}

// New writes events to w.
func New(w io.Writer) *Writer { return &Writer{w: w} }

// Emit writes one event; fields must be canonical-JSON friendly (strings,
// integers, bools, maps, slices).
func (e *Writer) Emit(kind string, fields map[string]any) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.Hook != nil {
		e.Hook(kind, fields)
	}
	if e.w == nil || e.err != nil {
		return
	}
	e.seq++
	m := map[string]any{"event": kind, "seq": e.seq}
	for k, v := range fields {
		m[k] = v
	}
	b, err := canonjson.MarshalLine(m)
	if err != nil {
		e.err = err
		return
	}
	_, e.err = e.w.Write(b)
}

// State records a run state transition.
func (e *Writer) State(state string, fields map[string]any) {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["state"] = state
	e.Emit("run.state", fields)
}

// Err is the first write error, if any.
func (e *Writer) Err() error {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}
