package adapters

import (
	"bytes"
	"context"
	"runtime"
	"sync"

	"github.com/stella-ops/stella-export/internal/evidence"
)

// Documents are read, checked and canonicalised on several goroutines
// while one writer keeps the plan order: an ordered fan-out and fan-in
// over a bounded window. What is written never depends on the number of
// workers; only how many documents are in flight does.
const (
	// windowItems bounds the documents in flight.
	windowItems = 64
	// windowBytes bounds the planned size of the documents in flight (a
	// larger document goes alone).
	windowBytes = 32 << 20
)

// item is one document in flight. Items are reused: nothing in one is
// allocated per document once the buffers have grown.
type item struct {
	doc       evidence.Doc
	eco, prod []string      // backing arrays of doc's slices
	buf       bytes.Buffer  // the canonical form, for writers that take it whole
	rd        bytes.Reader  // reads the opened document's bytes
	src       *Doc          // a document left open for the writer (streamed)
	file      File          // the staged file written for the document
	val       any           // what work made of the document, for emit
	cost      int64         // its share of windowBytes
	err       error         // from work, or the documents' iterator
	done      chan struct{} // work is finished
}

// set copies d into the item (the iterator's *Doc is valid for one step).
func (it *item) set(d *evidence.Doc) {
	it.doc = *d
	it.eco = append(it.eco[:0], d.Ecosystems...)
	it.prod = append(it.prod[:0], d.Products...)
	it.doc.Ecosystems, it.doc.Products = it.eco, it.prod
}

// reset releases what the item still holds; its buffers stay.
func (it *item) reset() {
	if it.src != nil {
		it.src.Close()
		it.src = nil
	}
	it.buf.Reset()
	it.rd.Reset(nil)
	it.file, it.err, it.cost, it.val = File{}, nil, 0, nil
}

// ordered calls work on every document of docs that keep selects, on up
// to GOMAXPROCS goroutines, and emit on each in plan order on the calling
// goroutine. keep's second result false ends the iteration (documents are
// in plan order, so a writer of one type stops after it). The first error
// in plan order, of the iterator, work or emit, stops everything and is
// returned; the items not emitted are released (reset). Cancelling ctx
// returns its cause.
func ordered(ctx context.Context, docs evidence.Docs, keep func(*evidence.Doc) (use, more bool), work, emit func(*item) error) error {
	if n := runtime.GOMAXPROCS(0); n > 1 {
		return orderedParallel(ctx, docs, keep, work, emit, n)
	}
	it := &item{}
	defer it.reset()
	for d, err := range docs.All() {
		if err != nil {
			return err
		}
		use, more := keep(d)
		if !more {
			break
		}
		if !use {
			continue
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		it.set(d)
		if err := work(it); err != nil {
			return err
		}
		if err := emit(it); err != nil {
			return err
		}
		it.reset()
	}
	return nil
}

func orderedParallel(ctx context.Context, docs evidence.Docs, keep func(*evidence.Doc) (use, more bool), work, emit func(*item) error, workers int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	free := make(chan *item, windowItems)
	for range windowItems {
		free <- &item{done: make(chan struct{}, 1)}
	}
	pending := make(chan *item, windowItems) // in plan order
	jobs := make(chan *item, windowItems)
	budget := newWindow(windowBytes)
	stop := context.AfterFunc(ctx, budget.close)
	defer stop()

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for it := range jobs {
				if ctx.Err() != nil {
					it.err = context.Cause(ctx)
				} else {
					it.err = work(it)
				}
				it.done <- struct{}{}
			}
		})
	}
	wg.Go(func() {
		defer close(pending)
		defer close(jobs)
		for d, err := range docs.All() {
			if err == nil {
				use, more := keep(d)
				if !more {
					return
				}
				if !use {
					continue
				}
			}
			var it *item
			select {
			case it = <-free:
			case <-ctx.Done():
				return
			}
			if err != nil {
				it.err = err
				it.done <- struct{}{}
				pending <- it
				return
			}
			it.set(d)
			it.cost = min(max(d.Size, 1), windowBytes)
			if !budget.acquire(it.cost) {
				it.cost = 0
				free <- it
				return
			}
			pending <- it
			jobs <- it
		}
	})

	var err error
	for it := range pending {
		<-it.done
		if err == nil {
			switch {
			case it.err != nil:
				err = it.err
			case ctx.Err() != nil:
				err = context.Cause(ctx)
			default:
				err = emit(it)
			}
			if err != nil {
				cancel(err)
			}
		}
		budget.release(it.cost)
		it.reset()
		free <- it
	}
	wg.Wait()
	if err == nil && ctx.Err() != nil {
		// Cancelled while the producer waited: nothing was left to emit.
		err = context.Cause(ctx)
	}
	return err
}

// window is a byte budget the producer takes from and the writer gives
// back to.
type window struct {
	mu     sync.Mutex
	cond   sync.Cond
	free   int64
	closed bool
}

func newWindow(n int64) *window {
	w := &window{free: n}
	w.cond.L = &w.mu
	return w
}

// acquire waits until n bytes are free and takes them; false once closed.
func (w *window) acquire(n int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.free < n && !w.closed {
		w.cond.Wait()
	}
	if w.closed {
		return false
	}
	w.free -= n
	return true
}

func (w *window) release(n int64) {
	w.mu.Lock()
	w.free += n
	w.mu.Unlock()
	w.cond.Broadcast()
}

func (w *window) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cond.Broadcast()
}
