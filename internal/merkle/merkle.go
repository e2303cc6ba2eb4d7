// Package merkle computes the RFC 6962 (Certificate Transparency) Merkle Tree
// Hash with SHA-256 over an ordered list of leaves, and builds and checks
// inclusion proofs (audit paths).
//
// In stella-export the leaves are lines 2..n of checksums.txt without their
// LF (docs/format.md#merkle-root):
//
//	leaf  = SHA-256(0x00 || line)
//	node  = SHA-256(0x01 || left || right)
//	split = the largest power of two smaller than n
//	empty = SHA-256("")
//
// Every hash is a digest.SHA256.
package merkle

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"

	"github.com/stella-ops/stella-export/internal/digest"
)

// LeafHash returns SHA-256(0x00 || leaf).
func LeafHash(leaf []byte) digest.SHA256 {
	d := sha256.New()
	d.Write([]byte{0})
	d.Write(leaf)
	var h digest.SHA256
	d.Sum(h[:0])
	return h
}

// NodeHash returns SHA-256(0x01 || left || right).
func NodeHash(left, right digest.SHA256) digest.SHA256 {
	var buf [1 + 2*sha256.Size]byte
	buf[0] = 1
	copy(buf[1:], left[:])
	copy(buf[1+sha256.Size:], right[:])
	return sha256.Sum256(buf[:])
}

// EmptyRoot is the root of a tree with no leaves: SHA-256("").
func EmptyRoot() digest.SHA256 { return sha256.Sum256(nil) }

// Root returns the Merkle Tree Hash of the given leaf hashes.
func Root(leaves []digest.SHA256) digest.SHA256 {
	if len(leaves) == 0 {
		return EmptyRoot()
	}
	return root(leaves)
}

func root(l []digest.SHA256) digest.SHA256 {
	if len(l) == 1 {
		return l[0]
	}
	k := split(len(l))
	return NodeHash(root(l[:k]), root(l[k:]))
}

// split returns the largest power of two strictly smaller than n (n > 1).
func split(n int) int {
	return 1 << (bits.Len(uint(n-1)) - 1)
}

// Builder accumulates leaves one at a time in O(log n) memory: it keeps the
// roots of the perfect subtrees built so far (one per set bit of the leaf
// count, largest first), like a binary counter. Folding them from the
// smallest up gives the RFC 6962 root, because the tree of n leaves splits
// off its largest perfect subtree on the left.
type Builder struct {
	n     int
	stack []digest.SHA256 // perfect subtree roots, sizes strictly decreasing
}

// Add appends a leaf (the raw leaf bytes, hashed here).
func (b *Builder) Add(leaf []byte) {
	h := LeafHash(leaf)
	// Each trailing one bit of n is a subtree of the size of the new one:
	// merge until the sizes differ.
	for m := b.n; m&1 == 1; m >>= 1 {
		top := len(b.stack) - 1
		h = NodeHash(b.stack[top], h)
		b.stack = b.stack[:top]
	}
	b.stack = append(b.stack, h)
	b.n++
}

// Len is the number of leaves added.
func (b *Builder) Len() int { return b.n }

// Root is the Merkle Tree Hash of the leaves added so far.
func (b *Builder) Root() digest.SHA256 {
	if b.n == 0 {
		return Root(nil)
	}
	r := b.stack[len(b.stack)-1]
	for i := len(b.stack) - 2; i >= 0; i-- {
		r = NodeHash(b.stack[i], r)
	}
	return r
}

// InclusionProof returns the RFC 6962 audit path for leaf index i, from the
// leaf's sibling up to the root's child.
func InclusionProof(leaves []digest.SHA256, i int) ([]digest.SHA256, error) {
	if i < 0 || i >= len(leaves) {
		return nil, fmt.Errorf("leaf index %d out of range [0, %d)", i, len(leaves))
	}
	return path(leaves, i), nil
}

func path(l []digest.SHA256, i int) []digest.SHA256 {
	if len(l) <= 1 {
		return nil
	}
	k := split(len(l))
	if i < k {
		return append(path(l[:k], i), root(l[k:]))
	}
	return append(path(l[k:], i-k), root(l[:k]))
}

// ErrRootMismatch is returned (wrapped in a *RootMismatchError) when a proof
// does not lead to the expected root.
var ErrRootMismatch = errors.New("root mismatch")

// RootMismatchError carries both roots.
type RootMismatchError struct {
	Want, Got digest.SHA256
}

func (e *RootMismatchError) Error() string {
	return fmt.Sprintf("proof leads to %s, want %s", e.Got, e.Want)
}

func (e *RootMismatchError) Unwrap() error { return ErrRootMismatch }

// RootFromInclusion recomputes the root from a leaf hash, its index, the tree
// size and the audit path (RFC 9162 section 2.1.3.2).
func RootFromInclusion(index, size int, leaf digest.SHA256, proof []digest.SHA256) (digest.SHA256, error) {
	if index < 0 || size <= 0 || index >= size {
		return digest.SHA256{}, fmt.Errorf("leaf index %d out of range for tree size %d", index, size)
	}
	fn, sn := uint64(index), uint64(size-1)
	r := leaf
	for _, p := range proof {
		if sn == 0 {
			return digest.SHA256{}, fmt.Errorf("audit path has %d hashes, too many for index %d of %d", len(proof), index, size)
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return digest.SHA256{}, fmt.Errorf("audit path has %d hashes, too few for index %d of %d", len(proof), index, size)
	}
	return r, nil
}

// VerifyInclusion checks that leaf sits at index in a tree of size with the
// given root.
func VerifyInclusion(index, size int, leaf digest.SHA256, proof []digest.SHA256, want digest.SHA256) error {
	got, err := RootFromInclusion(index, size, leaf, proof)
	if err != nil {
		return err
	}
	if !bytes.Equal(got[:], want[:]) {
		return &RootMismatchError{Want: want, Got: got}
	}
	return nil
}
