package evidence

import "iter"

// Docs is the selected documents of an export in plan order (Less), read as
// a stream so that memory does not grow with their number. It can be
// iterated more than once: each All starts again from the first document.
//
// A *Doc yielded by All is valid only until the next step of the iteration;
// a caller that keeps one copies it. An error ends the iteration (it is
// yielded with a nil *Doc, once).
type Docs interface {
	// Len is the number of documents.
	Len() int
	// All yields the documents in order.
	All() iter.Seq2[*Doc, error]
}

// SliceDocs is Docs held in memory, already in plan order: small plans
// and tests.
type SliceDocs []*Doc

// Len implements Docs.
func (s SliceDocs) Len() int { return len(s) }

// All implements Docs.
func (s SliceDocs) All() iter.Seq2[*Doc, error] {
	return func(yield func(*Doc, error) bool) {
		for _, d := range s {
			if !yield(d, nil) {
				return
			}
		}
	}
}

// Collect copies the documents of docs into a slice: for tests and for
// callers that have not learned to stream yet. Memory grows with the
// number of documents.
func Collect(docs Docs) (SliceDocs, error) {
	out := make(SliceDocs, 0, docs.Len())
	for d, err := range docs.All() {
		if err != nil {
			return nil, err
		}
		c := *d
		out = append(out, &c)
	}
	return out, nil
}
