package bundle

import (
	"iter"
	"slices"
	"strings"
)

// Sources is a payload: its files and directories, in strictly increasing
// byte-wise order of names. Write calls All twice, once to hash and once
// to write, and each call must yield the same payload (a file that
// appears, disappears or changes in between is an error, ErrChanged).
// A *Tree (DirSources) and a List are Sources.
type Sources interface {
	All() iter.Seq2[Source, error]
}

// List is a payload held in memory, in any order: All yields it sorted by
// name. Duplicate names are refused by Write.
type List []Source

// All yields the sources sorted by name.
func (l List) All() iter.Seq2[Source, error] {
	return func(yield func(Source, error) bool) {
		s := slices.Clone(l)
		slices.SortStableFunc(s, func(a, b Source) int { return strings.Compare(a.Name, b.Name) })
		for _, src := range s {
			if !yield(src, nil) {
				return
			}
		}
	}
}
