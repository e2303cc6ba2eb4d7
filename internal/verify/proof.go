package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/merkle"
	"github.com/stella-ops/stella-export/internal/safepath"
)

// ProofAlgorithm names the tree a Proof belongs to.
const ProofAlgorithm = "rfc6962-sha256"

// Proof is the RFC 6962 inclusion proof of one file of a bundle: enough to
// show, with the file and the bundle's root alone, that the file is part of
// the bundle.
type Proof struct {
	Algorithm string   `json:"algorithm"`
	Path      string   `json:"path"`
	Leaf      string   `json:"leaf"` // the checksums.txt line, without LF
	LeafIndex int      `json:"leafIndex"`
	TreeSize  int      `json:"treeSize"`
	AuditPath []string `json:"auditPath"` // lowercase hex, leaf's sibling first
	Root      string   `json:"root"`
}

// Prove builds the inclusion proof of path from a verified checksums file.
// A path that is not listed is an *exitcode.OptionError for "path" (exit 3).
func Prove(f *checksums.File, path string) (*Proof, error) {
	i := f.Index(path)
	if i < 0 {
		return nil, &exitcode.OptionError{Option: "path", Value: path, Err: exitcode.Invalidf("not listed in checksums.txt")}
	}
	ap, err := merkle.InclusionProof(f.Leaves(), i)
	if err != nil {
		return nil, err
	}
	p := &Proof{Algorithm: ProofAlgorithm, Path: path, Leaf: f.Entries[i].Line(), LeafIndex: i,
		TreeSize: len(f.Entries), Root: f.Root.String(), AuditPath: make([]string, len(ap))}
	for j, h := range ap {
		p.AuditPath[j] = h.Hex()
	}
	return p, nil
}

// MaxProofSize bounds a proof document. A proof of a tree of 2^64 leaves
// holds 64 hashes; the rest is one path and one leaf line.
const MaxProofSize = 1 << 20

// ParseProof reads a proof document strictly: one JSON object in UTF-8
// without duplicate keys (checked by canonjson.Raw, as every third-party
// document is), no unknown fields, at most MaxProofSize bytes, a safe path,
// and indexes in range.
func ParseProof(r io.Reader) (*Proof, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxProofSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxProofSize {
		return nil, exitcode.Invalidf("larger than %d bytes; not a proof document", MaxProofSize)
	}
	if _, err := canonjson.Raw(io.Discard, bytes.NewReader(b), int64(len(b))); err != nil {
		return nil, exitcode.Invalidf("not a proof document: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Proof
	if err := dec.Decode(&p); err != nil {
		return nil, exitcode.Invalidf("not a proof document: %v", err)
	}
	if p.Algorithm != ProofAlgorithm {
		return nil, exitcode.Invalidf("algorithm: %q is not %q", p.Algorithm, ProofAlgorithm)
	}
	if p.Path == "" || p.TreeSize <= 0 || p.LeafIndex < 0 || p.LeafIndex >= p.TreeSize {
		return nil, exitcode.Invalidf("path, leafIndex or treeSize missing or out of range")
	}
	if err := safepath.Check(p.Path, false); err != nil {
		return nil, exitcode.Invalidf("path: %v", err)
	}
	if len(p.AuditPath) > 64 {
		return nil, exitcode.Invalidf("auditPath: %d hashes; a tree of at most 2^64 leaves needs at most 64", len(p.AuditPath))
	}
	return &p, nil
}

// CheckProof hashes the file content from r and checks that the line
// "<sha256>  <p.Path>" sits at p.LeafIndex of a tree whose root is root
// ("sha256:<hex>"). The check binds the file and its path to root; it does
// not bind p.TreeSize or p.LeafIndex, which other sizes and positions with
// the same audit path shape satisfy too, so callers must not present them
// as checked. It returns an error classified as exit 1 when the file
// or the proof does not lead to root, and exit 3 when the proof is malformed
// (an *exitcode.OptionError for "root" when root is).
func CheckProof(p *Proof, r io.Reader, root string) error {
	// The root is sha256:<hex>, as verify prints it; bare hex is accepted
	// too, as it always was here.
	want, err := digest.Parse(root)
	if err != nil {
		var bare error
		if want, bare = digest.ParseHex(root); bare != nil {
			return exitcode.Optionf("root", "%v", err)
		}
	}
	if p.Root != "" && p.Root != want.String() {
		return exitcode.Verifyf("the proof is for root %s, not %s", p.Root, want)
	}
	path := make([]digest.SHA256, len(p.AuditPath))
	for i, s := range p.AuditPath {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != sha256.Size {
			return exitcode.Invalidf("auditPath[%d]: not 64 hex digits", i)
		}
		copy(path[i][:], b)
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return err
	}
	line := digest.Of(h).Hex() + "  " + p.Path
	if p.Leaf != "" && p.Leaf != line {
		return exitcode.Verifyf("%s: the file's SHA-256 is %s but the proof's leaf is %q", p.Path, line[:64], p.Leaf)
	}
	if err := merkle.VerifyInclusion(p.LeafIndex, p.TreeSize, merkle.LeafHash([]byte(line)), path, want); err != nil {
		return exitcode.Verifyf("%s: %v", p.Path, err)
	}
	return nil
}
