package merkle

import (
	"errors"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/stella-ops/stella-export/internal/digest"
)

// The test vector of docs/format.md#test-vector.
var specLines = []string{
	"9e8b62f81ea5c66fa06ee53da032751386b37702153070c0e14dd1d316282fa7  README.md",
	"e346432021b04179518d9614f3560ccd71354a4ee101ddcb893d6959a9d6301c  export.json",
	"a8076d3d28d21e02012b20eaf7dbf75409a6277134439025f282e368e3305abf  verify-export.sh",
}

func TestSpecVector(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{3, "sha256:bfa01b440e811b7b436d08b97ad46663118bf5ed8417fc10902a4c6dde91c7a3"},
		{1, "sha256:99f007c1401d209d8e9989d154e1437e063d4a3cef7f753abd609f5c8a838f09"},
		{2, "sha256:4503248d3d70f7863cea57f502a0e29869b4fbcd27bdf46da2fcb123d43c4431"},
		{0, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	for _, tt := range tests {
		var b Builder
		for _, l := range specLines[:tt.n] {
			b.Add([]byte(l))
		}
		if got := b.Root().String(); got != tt.want {
			t.Errorf("root of %d leaves = %s, want %s", tt.n, got, tt.want)
		}
	}
}

func leavesN(n int) []digest.SHA256 {
	l := make([]digest.SHA256, n)
	for i := range l {
		l[i] = LeafHash(fmt.Appendf(nil, "leaf %d", i))
	}
	return l
}

// TestAgainstTransparencyDev cross-checks roots and audit paths with an
// independent implementation of RFC 6962.
func TestAgainstTransparencyDev(t *testing.T) {
	h := rfc6962.DefaultHasher
	for n := 1; n <= 70; n++ {
		l := leavesN(n)
		r := Root(l)
		for i := 0; i < n; i++ {
			p, err := InclusionProof(l, i)
			if err != nil {
				t.Fatal(err)
			}
			pp := make([][]byte, len(p))
			for j := range p {
				pp[j] = p[j][:]
			}
			if err := proof.VerifyInclusion(h, uint64(i), uint64(n), l[i][:], pp, r[:]); err != nil {
				t.Fatalf("n=%d i=%d: transparency-dev rejects our proof: %v", n, i, err)
			}
			if err := VerifyInclusion(i, n, l[i], p, r); err != nil {
				t.Fatalf("n=%d i=%d: own verifier rejects: %v", n, i, err)
			}
			if len(p) > 0 {
				bad := append([]digest.SHA256(nil), p...)
				bad[0][0] ^= 1
				err := VerifyInclusion(i, n, l[i], bad, r)
				if !errors.Is(err, ErrRootMismatch) {
					t.Fatalf("n=%d i=%d: tampered proof gives %v", n, i, err)
				}
				if err := VerifyInclusion(i, n, l[i], p[:len(p)-1], r); err == nil {
					t.Fatalf("n=%d i=%d: short proof accepted", n, i)
				}
				if err := VerifyInclusion(i, n, l[i], append(p, r), r); err == nil {
					t.Fatalf("n=%d i=%d: long proof accepted", n, i)
				}
			}
		}
	}
}

// The streaming Builder agrees with Root over the whole leaf list at every
// size, including every power of two and its neighbours.
func TestBuilderMatchesRoot(t *testing.T) {
	const max = 1100
	var b Builder
	leaves := make([]digest.SHA256, 0, max)
	for n := 1; n <= max; n++ {
		leaf := fmt.Appendf(nil, "line %d", n)
		b.Add(leaf)
		leaves = append(leaves, LeafHash(leaf))
		if got, want := b.Root(), Root(leaves); got != want {
			t.Fatalf("%d leaves: builder %s, Root %s", n, got, want)
		}
		if b.Len() != n {
			t.Fatalf("Len %d, want %d", b.Len(), n)
		}
	}
}
