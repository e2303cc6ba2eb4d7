package signing

import (
	"bufio"
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
	var prov *provenance.Summary
	if o.Attest && o.Provenance != "" {
		p, err := readProvenanceFile(ctx, o.Provenance)
		if err != nil {
			return nil, err
		}
		prov = p
	}
	d, inner, err := digestArtifact(ctx, o.Artifact, o.Attest, o.Attest && prov == nil)
	if err != nil {
		return nil, err
	}
	if o.Attest && prov == nil {
		if inner.prov == nil {
			return nil, exitcode.Invalidf("%s: --attest needs provenance: the artefact is not a bundle with provenance.json; pass --provenance FILE", o.Artifact)
		}
		prov = inner.prov
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
		line, err := Attest(o.Signer, NewStatement(filepath.Base(o.Artifact), d, prov, inner.plan))
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

func readProvenanceFile(ctx context.Context, path string) (*provenance.Summary, error) {
	f, err := safefile.Open(path)
	var nr *safefile.NotRegularError
	switch {
	case errors.As(err, &nr):
		return nil, fmt.Errorf("--provenance %w", err)
	case err != nil:
		return nil, exitcode.WithCode(exitcode.IO, fmt.Errorf("--provenance: %w", err))
	}
	defer f.Close()
	p, err := provenance.Summarize(bufio.NewReaderSize(ctxio.NewReader(ctx, f), 64<<10))
	var re *provenance.ReadError
	switch {
	case errors.As(err, &re):
		return nil, exitcode.Cause(ctx, exitcode.WithCode(exitcode.IO, fmt.Errorf("read %s: %w", path, re.Err)))
	case err != nil:
		return nil, exitcode.Invalidf("%s: %v", path, err)
	}
	return p, nil
}

// inside is what an attestation takes from inside the artefact: the
// summary of its provenance.json and its plan digest (from export.json),
// each nil when the artefact is not a bundle or lacks them.
type inside struct {
	prov *provenance.Summary
	plan *digest.SHA256
}

// digestArtifact hashes the artefact in one streaming pass. With scan it
// also reads the artefact as a bundle on the way, for its plan digest and,
// with wantProv, its provenance.json; it never holds more of either than
// a summary.
func digestArtifact(ctx context.Context, path string, scan, wantProv bool) (digest.SHA256, inside, error) {
	var d digest.SHA256
	var in inside
	f, err := safefile.Open(path)
	var nr *safefile.NotRegularError
	switch {
	case errors.As(err, &nr):
		return d, in, err
	case err != nil:
		return d, in, exitcode.WithCode(exitcode.IO, fmt.Errorf("open artefact: %w", err))
	}
	defer f.Close()
	h := sha256.New()
	src := io.TeeReader(ctxio.NewReader(ctx, f), h)
	if scan {
		if in, err = scanBundle(src, path, wantProv); err != nil {
			return d, in, exitcode.Cause(ctx, err)
		}
	}
	if _, err := io.Copy(io.Discard, src); err != nil {
		return d, in, exitcode.Cause(ctx, exitcode.WithCode(exitcode.IO, fmt.Errorf("read %s: %w", path, err)))
	}
	copy(d[:], h.Sum(nil))
	return d, in, nil
}

// scanBundle reads a bundle up to its top-level export.json and, with
// wantProv, provenance.json. A file that is not a gzip'd tar gives nothing,
// no error; a bundle whose provenance.json or planDigest is malformed is
// an error.
func scanBundle(r io.Reader, path string, wantProv bool) (inside, error) {
	var in inside
	tr, err := tarball.NewReader(r, tarball.DefaultLimits)
	if err != nil {
		return in, nil
	}
	defer tr.Close()
	last := layout.Manifest
	if wantProv {
		last = layout.Provenance
	}
	for {
		e, err := tr.Next()
		if err != nil || e.Name > last {
			return in, nil // end of archive, or not one we read: what was found
		}
		switch {
		case e.Name == layout.Manifest && e.Size <= 1<<20:
			b, err := io.ReadAll(tr)
			if err != nil {
				return in, nil
			}
			if in.plan, err = PlanDigest(b); err != nil {
				return in, exitcode.Invalidf("%s: %v", path, err)
			}
		case e.Name == layout.Provenance && wantProv:
			p, err := provenance.Summarize(bufio.NewReaderSize(tr, 64<<10))
			var re *provenance.ReadError
			switch {
			case errors.As(err, &re):
				return in, exitcode.Invalidf("%s: provenance.json: %v", path, re.Err)
			case err != nil:
				return in, exitcode.Invalidf("%s: provenance.json: %v", path, err)
			}
			in.prov = p
			return in, nil
		}
	}
}
