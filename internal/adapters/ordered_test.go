package adapters

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/evidence"
)

func numbered(n int) evidence.SliceDocs {
	ds := make(evidence.SliceDocs, n)
	for i := range ds {
		ds[i] = &evidence.Doc{Type: evidence.Advisory, ID: fmt.Sprintf("%06d", i), Size: int64(1 + i%5000),
			Ecosystems: []string{fmt.Sprint("e", i)}}
	}
	return ds
}

// failing yields docs, then err in place of the document at index at.
type failing struct {
	evidence.SliceDocs
	at  int
	err error
}

func (f failing) All() iter.Seq2[*evidence.Doc, error] {
	return func(yield func(*evidence.Doc, error) bool) {
		for i, d := range f.SliceDocs {
			if i == f.at {
				yield(nil, f.err)
				return
			}
			if !yield(d, nil) {
				return
			}
		}
	}
}

// TestOrdered: whatever the number of workers and however long each
// document takes, emit sees the kept documents in plan order, each with
// its own copy of the document and work's result; the first error in plan
// order wins, and every item is released.
func TestOrdered(t *testing.T) {
	docs := numbered(3000)
	keepOdd := func(d *evidence.Doc) (bool, bool) { return d.ID[5]%2 == 1, d.ID < "002500" }
	var errWork, errLater, errIter = errors.New("work failed"), errors.New("later work failed"), errors.New("iterator failed")
	for _, workers := range []int{1, 2, 7} {
		for _, tc := range []struct {
			name     string
			docs     evidence.Docs
			failAt   string // work fails for this ID
			failLate string // and for this later one
			want     error
			emitted  int
		}{
			{name: "all", docs: docs, emitted: 1250},
			{name: "work error", docs: docs, failAt: "001001", failLate: "001003", want: errWork, emitted: 500},
			{name: "late error first", docs: docs, failAt: "001003", failLate: "001001", want: errLater, emitted: 500},
			{name: "iterator error", docs: failing{docs, 1001, errIter}, want: errIter, emitted: 500},
		} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, workers), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(1, uint64(workers)))
				delays := make([]time.Duration, len(docs))
				for i := range delays {
					if rng.IntN(50) == 0 {
						delays[i] = time.Duration(rng.IntN(2000)) * time.Microsecond
					}
				}
				work := func(it *item) error {
					var i int
					fmt.Sscan(it.doc.ID, &i)
					time.Sleep(delays[i])
					switch it.doc.ID {
					case tc.failAt:
						return errWork
					case tc.failLate:
						return errLater
					}
					it.buf.WriteString("w" + it.doc.ID)
					return nil
				}
				next := 1
				emit := func(it *item) error {
					want := fmt.Sprintf("%06d", next)
					if it.doc.ID != want || it.buf.String() != "w"+want || it.doc.Ecosystems[0] != fmt.Sprint("e", next) {
						return fmt.Errorf("emitted %s (%q, %v), want %s", it.doc.ID, it.buf.String(), it.doc.Ecosystems, want)
					}
					next += 2
					return nil
				}
				var err error
				if workers == 1 {
					err = ordered(context.Background(), tc.docs, keepOdd, work, emit)
				} else {
					err = orderedParallel(context.Background(), tc.docs, keepOdd, work, emit, workers)
				}
				if !errors.Is(err, tc.want) || (err != nil && tc.want == nil) {
					t.Fatalf("ordered: %v, want %v", err, tc.want)
				}
				if got := (next - 1) / 2; got != tc.emitted {
					t.Errorf("emitted %d documents, want %d", got, tc.emitted)
				}
			})
		}
	}
}

// TestOrderedCancel: cancelling stops the workers and returns the cause,
// whether it happens before the first document or while emitting.
func TestOrderedCancel(t *testing.T) {
	docs := numbered(2000)
	all := func(*evidence.Doc) (bool, bool) { return true, true }
	cause := errors.New("stop")
	for _, workers := range []int{2, 4} {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(cause)
		worked := 0
		err := orderedParallel(ctx, docs, all, func(*item) error { worked++; return nil }, func(*item) error { return nil }, 1)
		if !errors.Is(err, cause) || worked != 0 {
			t.Errorf("cancelled before: %v after %d documents, want %v and none", err, worked, cause)
		}

		ctx, cancel = context.WithCancelCause(context.Background())
		emitted := 0
		err = orderedParallel(ctx, docs, all, func(*item) error { return nil }, func(*item) error {
			emitted++
			if emitted == 100 {
				cancel(cause)
			}
			return nil
		}, workers)
		if !errors.Is(err, cause) || emitted != 100 {
			t.Errorf("cancelled while emitting: %v after %d documents, want %v after 100", err, emitted, cause)
		}
	}
}
