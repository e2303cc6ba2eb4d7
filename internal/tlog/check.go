package tlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/fsck"
	"golang.org/x/mod/sumdb/note"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// TileError names the first tile of a log that is not what its entries
// make it.
type TileError struct {
	Path    string // tile/<L>/<N>[.p/<W>], relative to the log directory
	Missing bool   // unreadable rather than wrong
}

func (e *TileError) Error() string {
	if e.Missing {
		return fmt.Sprintf("%s: missing or unreadable", e.Path)
	}
	return fmt.Sprintf("%s: does not match the hashes recomputed from the entries", e.Path)
}

func (e *TileError) Unwrap() error { return exitcode.ErrVerify }

// Fsck recomputes every tile of the log in d from its entry bundles, and
// the root of its latest checkpoint (checked with v). A wrong or missing
// tile is a *TileError naming the lowest, first one.
//
// tessera's fsck stops its only worker at the first wrong tile while the
// walk over the entries waits for it (fsck v1.0.4), so the walk runs in a
// goroutine and its status is watched: the first tile marked invalid ends
// the check, leaving that goroutine blocked until the process exits.
func (d Dir) Fsck(ctx context.Context, v note.Verifier) (*log.Checkpoint, error) {
	quiet()
	cp, _, err := d.Latest(ctx, v)
	if err != nil {
		return nil, err
	}
	w := &watchedDir{Dir: d, started: make(chan struct{})}
	f := fsck.New(cp.Origin, v, w, tessera.NewMigrationOptions().LeafHasher(), fsck.Opts{N: 1})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Check(cctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	started := w.started
	for {
		select {
		case err := <-done:
			if err == nil {
				return cp, nil
			}
			if te := badTile(f.Status(), cp.Size); te != nil {
				return nil, te
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, exitcode.Verifyf("log fsck: %s", firstLine(err.Error()))
		case <-started:
			started = nil // f.Status is safe from now on
		case <-tick.C:
			if started == nil {
				if te := badTile(f.Status(), cp.Size); te != nil {
					return nil, te
				}
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// watchedDir closes started when fsck first reads an entry bundle: by
// then its status is set up.
type watchedDir struct {
	Dir
	once    sync.Once
	started chan struct{}
}

func (w *watchedDir) ReadEntryBundle(ctx context.Context, i uint64, p uint8) ([]byte, error) {
	w.once.Do(func() { close(w.started) })
	return w.Dir.ReadEntryBundle(ctx, i, p)
}

func badTile(st fsck.Status, size uint64) *TileError {
	for level, ranges := range st.TileRanges {
		for _, r := range ranges {
			if r.State == fsck.Invalid || r.State == fsck.FetchError {
				p := layout.PartialTileSize(uint64(level), r.First, size)
				return &TileError{Path: layout.TilePath(uint64(level), r.First, p), Missing: r.State == fsck.FetchError}
			}
		}
	}
	return nil
}

func firstLine(s string) string {
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// ParseReceipt decodes a receipt (strictly: unknown fields are refused).
func ParseReceipt(b []byte) (*Receipt, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	r := &Receipt{}
	if err := dec.Decode(r); err != nil {
		return nil, exitcode.Invalidf("not a log receipt: %v", err)
	}
	if dec.More() {
		return nil, exitcode.Invalidf("not a log receipt: data after the object")
	}
	return r, nil
}

// Marshal returns the receipt as canonical JSON and a newline.
func (r *Receipt) Marshal() ([]byte, error) { return canonjson.MarshalLine(r) }

// Verify checks the receipt's checkpoint with v and its inclusion proof,
// and returns the checkpoint.
func (r *Receipt) Verify(v note.Verifier) (*log.Checkpoint, error) {
	cp, err := OpenCheckpoint([]byte(r.Checkpoint), v)
	if err != nil {
		return nil, err
	}
	leaf, err := canonjson.Marshal(r.Entry)
	if err != nil {
		return nil, err
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, r.Index, cp.Size, rfc6962.DefaultHasher.HashLeaf(leaf), r.Inclusion, cp.Hash); err != nil {
		return nil, exitcode.Verifyf("entry %d is not in the log of size %d and root %s: %v", r.Index, cp.Size, RootString(cp.Hash), err)
	}
	return cp, nil
}

// RootString is a root as sha256:<hex>.
func RootString(h []byte) string { return fmt.Sprintf("sha256:%x", h) }

// SplitViewError is two checkpoints of one log that cannot both be true:
// the same size with different roots, or a larger tree that does not
// extend the smaller one. It names both.
type SplitViewError struct {
	Older, Newer *log.Checkpoint
	Reason       string
}

func (e *SplitViewError) Error() string {
	return fmt.Sprintf("split view: checkpoint of size %d and root %s and checkpoint of size %d and root %s: %s",
		e.Older.Size, RootString(e.Older.Hash), e.Newer.Size, RootString(e.Newer.Hash), e.Reason)
}

func (e *SplitViewError) Unwrap() error { return exitcode.ErrVerify }

// ErrNeedProof is returned by Consistent when the sizes differ and no
// proof was given.
var ErrNeedProof = errors.New("a consistency proof is needed")

// Consistent checks that a and b (either order) are views of one
// append-only log: the larger extends the smaller by the consistency
// proof p (from the smaller size to the larger). Equal sizes need no
// proof. A failure is a *SplitViewError.
func Consistent(a, b *log.Checkpoint, p [][]byte) error {
	older, newer := a, b
	if older.Size > newer.Size {
		older, newer = newer, older
	}
	if older.Origin != newer.Origin {
		return exitcode.Verifyf("checkpoints of different logs: %q and %q", older.Origin, newer.Origin)
	}
	if older.Size == newer.Size {
		if !bytes.Equal(older.Hash, newer.Hash) {
			return &SplitViewError{Older: older, Newer: newer, Reason: "same size, different roots"}
		}
		return nil
	}
	if p == nil && older.Size > 0 {
		return ErrNeedProof
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, older.Size, newer.Size, p, older.Hash, newer.Hash); err != nil {
		return &SplitViewError{Older: older, Newer: newer, Reason: "the larger log does not extend the smaller: " + err.Error()}
	}
	return nil
}

// Proof is the output of log prove: a consistency proof between two
// sizes.
type Proof struct {
	From        uint64   `json:"fromSize"`
	To          uint64   `json:"toSize"`
	Consistency [][]byte `json:"consistencyProof"`
	Checkpoint  string   `json:"checkpoint"` // of size To
}

// ParseProof decodes the output of log prove.
func ParseProof(b []byte) (*Proof, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	p := &Proof{}
	if err := dec.Decode(p); err != nil {
		return nil, exitcode.Invalidf("not a consistency proof: %v", err)
	}
	return p, nil
}
