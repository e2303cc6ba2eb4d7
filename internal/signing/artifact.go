package signing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/ctxio"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/provenance"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// FileOptions configure SignFile.
type FileOptions struct {
	Artifact    string
	Signer      Signer
	Signature   string // default Artifact + ".sig"
	Bundle      string // default Artifact + ".sigstore.json"
	Attest      bool
	Attestation string // default Artifact + ".intoto.jsonl"
	// Provenance is a provenance.json to attest from; empty means the
	// artefact's own (it must then be a bundle carrying one).
	Provenance string
	Force      bool
}

// FileResult says what SignFile wrote.
type FileResult struct {
	Artifact    string `json:"artifact"`
	SHA256      string `json:"sha256"`
	Algorithm   string `json:"algorithm"`
	KeyID       string `json:"keyId"`
	Signature   string `json:"signature"`
	Bundle      string `json:"bundle"`
	Attestation string `json:"attestation,omitempty"`
	Unchanged   bool   `json:"unchanged"` // every output already held these bytes
}

// SignFile signs an artefact: a detached .sig and a Sigstore bundle, and
// with Attest a DSSE attestation of SLSA provenance. The artefact is read
// once, streaming. Outputs are written atomically; an existing output with
// the same bytes is left alone, one with other bytes needs Force.
func SignFile(ctx context.Context, o FileOptions) (*FileResult, error) {
	if o.Signature == "" {
		o.Signature = o.Artifact + layout.SigSuffix
	}
	if o.Bundle == "" {
		o.Bundle = o.Artifact + layout.SigstoreBundleSuffix
	}
	if o.Attest && o.Attestation == "" {
		o.Attestation = o.Artifact + layout.AttestationSuffix
	}
	var prov *provenance.Document
	if o.Attest && o.Provenance != "" {
		p, err := readProvenanceFile(o.Provenance)
		if err != nil {
			return nil, err
		}
		prov = p
	}
	d, inner, err := digestArtifact(ctx, o.Artifact, o.Attest && prov == nil)
	if err != nil {
		return nil, err
	}
	if o.Attest && prov == nil {
		if inner == nil {
			return nil, exitcode.Invalidf("%s: --attest needs provenance: the artefact is not a bundle with provenance.json; pass --provenance FILE", o.Artifact)
		}
		prov = inner
	}
	open := func() (io.ReadCloser, error) { return safefile.Open(o.Artifact) }
	sig, err := o.Signer.Sign(d, open)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", o.Artifact, err)
	}
	bundleJSON, err := NewBundle(o.Signer.Public(), d, sig)
	if err != nil {
		return nil, err
	}
	outs := []struct {
		path string
		data []byte
	}{{o.Signature, EncodeSig(sig)}, {o.Bundle, bundleJSON}}
	if o.Attest {
		line, err := Attest(o.Signer, NewStatement(filepath.Base(o.Artifact), d, prov))
		if err != nil {
			return nil, fmt.Errorf("attest %s: %w", o.Artifact, err)
		}
		outs = append(outs, struct {
			path string
			data []byte
		}{o.Attestation, line})
	}
	// Check every output before writing any, so a conflict leaves nothing half done.
	fresh := outs[:0:0] // the outputs whose bytes are not already in place
	for _, out := range outs {
		// An existing output is read up to one byte more than the new one:
		// that is enough to compare, and a FIFO there is refused.
		old, err := safefile.ReadAll(out.path, int64(len(out.data)))
		var tl *safefile.TooLargeError
		var nr *safefile.NotRegularError
		if errors.As(err, &tl) {
			old, err = nil, nil // longer, so other content
		}
		switch {
		case errors.As(err, &nr):
			return nil, err
		case err == nil && bytes.Equal(old, out.data):
			continue
		case err == nil && !o.Force:
			return nil, exitcode.Conflictf("%s exists with other content (a signature by another key or of other bytes); pass --force to replace it", out.path)
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return nil, exitcode.WithCode(exitcode.IO, err)
		}
		fresh = append(fresh, out)
	}
	for _, out := range fresh {
		if err := atomicfile.WriteFile(out.path, out.data, 0o644, true); err != nil {
			return nil, err
		}
	}
	kid := Fingerprint(o.Signer.Public())
	res := &FileResult{Artifact: o.Artifact, SHA256: d.Hex(), Algorithm: o.Signer.Algorithm(), KeyID: kid,
		Signature: o.Signature, Bundle: o.Bundle, Attestation: o.Attestation, Unchanged: len(fresh) == 0}
	return res, nil
}

func readProvenanceFile(path string) (*provenance.Document, error) {
	f, err := safefile.Open(path)
	var nr *safefile.NotRegularError
	switch {
	case errors.As(err, &nr):
		return nil, fmt.Errorf("--provenance %w", err)
	case err != nil:
		return nil, exitcode.WithCode(exitcode.IO, fmt.Errorf("--provenance: %w", err))
	}
	defer f.Close()
	p, err := provenance.Read(f)
	if err != nil {
		return nil, exitcode.Invalidf("%s: %v", path, err)
	}
	return p, nil
}

// digestArtifact hashes the artefact in one streaming pass; with wantProv
// it also reads the artefact as a bundle and returns its provenance.json
// (nil when it is not a bundle or has none).
func digestArtifact(ctx context.Context, path string, wantProv bool) (digest.SHA256, *provenance.Document, error) {
	var d digest.SHA256
	f, err := safefile.Open(path)
	var nr *safefile.NotRegularError
	switch {
	case errors.As(err, &nr):
		return d, nil, err
	case err != nil:
		return d, nil, exitcode.WithCode(exitcode.IO, fmt.Errorf("open artefact: %w", err))
	}
	defer f.Close()
	h := sha256.New()
	src := io.TeeReader(ctxio.NewReader(ctx, f), h)
	var prov *provenance.Document
	if wantProv {
		prov, err = scanProvenance(src, path)
		if err != nil {
			return d, nil, err
		}
	}
	if _, err := io.Copy(io.Discard, src); err != nil {
		return d, nil, exitcode.Cause(ctx, exitcode.WithCode(exitcode.IO, fmt.Errorf("read %s: %w", path, err)))
	}
	copy(d[:], h.Sum(nil))
	return d, prov, nil
}

// scanProvenance reads a bundle up to its top-level provenance.json. A file
// that is not a gzip'd tar gives nil, no error; a bundle whose
// provenance.json is malformed is an error.
func scanProvenance(r io.Reader, path string) (*provenance.Document, error) {
	tr, err := tarball.NewReader(r, tarball.DefaultLimits)
	if err != nil {
		return nil, nil
	}
	defer tr.Close()
	for {
		e, err := tr.Next()
		if err != nil {
			return nil, nil // end of archive, or not one we read: no provenance
		}
		if e.Name != layout.Provenance {
			continue
		}
		p, err := provenance.Read(tr)
		if err != nil {
			return nil, exitcode.Invalidf("%s: provenance.json: %v", path, err)
		}
		return p, nil
	}
}
