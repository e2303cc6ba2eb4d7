package tarball

import "hash/maphash"

// NameSet remembers which names (a Reader's entries, verify's directories)
// were seen without keeping the names: each is stored as two 64-bit hashes
// under independent random seeds. Memory is about 24 bytes per name
// whatever its length.
// Two different names collide with probability about n²/2^129, and the
// seeds are chosen per Reader, so a crafted archive cannot aim for a
// collision; a collision could only refuse an archive as having a
// duplicate, never accept one.
type NameSet struct {
	s1, s2 maphash.Seed
	m      map[[2]uint64]struct{}
}

// NewNameSet returns an empty set with fresh random seeds.
func NewNameSet() *NameSet {
	return &NameSet{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), m: map[[2]uint64]struct{}{}}
}

// Len is the number of names added.
func (s *NameSet) Len() int { return len(s.m) }

// Add records name and reports whether it was new.
func (s *NameSet) Add(name string) bool {
	k := [2]uint64{maphash.String(s.s1, name), maphash.String(s.s2, name)}
	if _, dup := s.m[k]; dup {
		return false
	}
	s.m[k] = struct{}{}
	return true
}
