package verify

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/ctxio"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/merkle"
	"github.com/stella-ops/stella-export/internal/provenance"
	"github.com/stella-ops/stella-export/internal/signing"
)

// captureLimit is how large a top-level document may be for verify to keep
// its bytes: signatures are tiny; provenance.json is kept only for an
// Ed25519 key, which verifies its in-bundle signature over the whole
// message (an attestation needs only its summary, read as it streams past).
func captureLimit(name string, opt *SignatureOptions) int64 {
	switch {
	case strings.HasSuffix(name, layout.SigSuffix) && slices.Contains(layout.Signed, strings.TrimSuffix(name, layout.SigSuffix)):
		return 64 << 10
	case name == layout.Provenance && opt != nil && slices.ContainsFunc(opt.all(), isEd25519):
		return provenance.MaxSize
	}
	return -1
}

func isEd25519(k crypto.PublicKey) bool {
	_, ok := k.(ed25519.PublicKey)
	return ok
}

// attests says whether an attestation is checked, which needs the summary
// of the bundle's provenance.json.
func (o *SignatureOptions) attests() bool {
	if o == nil || len(o.all()) == 0 {
		return false
	}
	return slices.ContainsFunc(o.Detached, func(d Detached) bool { return d.Kind == DetachedAttestation })
}

// provenance hashes provenance.json into h and summarizes it on the way
// for the attestation check, keeping its bytes too when captureLimit says
// so. A malformed document is kept as rep.provErr for that check; an
// error reading the archive stops verification.
func (v *verifier) provenance(rep *Report, r io.Reader, h io.Writer, size int64, buf []byte) (int64, error) {
	var keep *bytes.Buffer
	w := h
	if size <= captureLimit(layout.Provenance, v.opt.Signatures) {
		keep = new(bytes.Buffer)
		w = io.MultiWriter(h, keep)
	}
	cr := &ctxio.CountReader{R: io.TeeReader(r, w)}
	s, err := provenance.Summarize(bufio.NewReaderSize(cr, 64<<10))
	var re *provenance.ReadError
	if errors.As(err, &re) {
		return 0, re.Err
	}
	rep.prov, rep.provErr = s, err
	rest, err := io.CopyBuffer(w, r, buf) // what Summarize left unread
	if keep != nil {
		rep.keep(layout.Provenance, keep.Bytes())
	}
	return cr.N + rest, err
}

func (r *Report) keep(name string, b []byte) {
	if r.docs == nil {
		r.docs = map[string][]byte{}
	}
	r.docs[name] = b
}

// Detached is a signature file found next to the artefact or named on the
// command line.
type Detached struct {
	Kind string // DetachedSignature, DetachedBundle or DetachedAttestation
	Path string
	Data []byte
}

// Kinds of detached files.
const (
	DetachedSignature   = "signature"
	DetachedBundle      = "sigstore-bundle"
	DetachedAttestation = "attestation"
)

// SignatureOptions configure the signature checks of Verify.
type SignatureOptions struct {
	// Key is the public key signatures must verify with; nil (and no
	// Keys) means signatures (in-bundle and Detached) are listed but not
	// checked.
	Key crypto.PublicKey
	// Keys are more keys (key rotation): a signature verifies when any of
	// Key and Keys verifies it, and its check names that key.
	Keys []crypto.PublicKey
	// Require fails verification unless a signature over the artefact
	// (detached .sig or Sigstore bundle) or over its export.json (in the
	// bundle) verifies with Key.
	Require  bool
	Detached []Detached
	// OpenArtifact reads the artefact again; only Ed25519 keys need it.
	OpenArtifact signing.Opener
}

// SignatureCheck is one signature and its verdict.
type SignatureCheck struct {
	Kind   string `json:"kind"` // in-bundle, signature, sigstore-bundle, attestation
	Path   string `json:"path"`
	Signs  string `json:"signs"`  // what it covers
	Status string `json:"status"` // verified, failed, unchecked
	Detail string `json:"detail,omitempty"`
}

// checkSignatures adds a SignatureCheck per signature and a Problem per
// failure. Nothing happens without options unless the bundle carries
// signatures, which are then listed as unchecked.
func checkSignatures(rep *Report, opt *SignatureOptions) error {
	if opt == nil || len(opt.all()) == 0 {
		unchecked := func(kind, path, signs string) {
			rep.Signatures = append(rep.Signatures, SignatureCheck{Kind: kind, Path: path, Signs: signs,
				Status: "unchecked", Detail: "no key given"})
		}
		for _, doc := range layout.Signed {
			if _, ok := rep.docs[doc+layout.SigSuffix]; ok {
				unchecked("in-bundle", doc+layout.SigSuffix, doc)
			}
		}
		if opt != nil {
			for _, d := range opt.Detached {
				unchecked(d.Kind, d.Path, "bundle")
			}
		}
		return nil
	}
	artefact, err := digest.ParseHex(rep.SHA256)
	if err != nil {
		return fmt.Errorf("internal error: archive digest %q", rep.SHA256)
	}
	c := &sigChecker{rep: rep, opt: opt, artefact: artefact}
	c.inBundle()
	for _, d := range opt.Detached {
		switch d.Kind {
		case DetachedSignature:
			c.detachedSig(d)
		case DetachedBundle:
			c.sigstoreBundle(d)
		case DetachedAttestation:
			c.attestation(d)
		default:
			return fmt.Errorf("internal error: detached kind %q", d.Kind)
		}
	}
	if opt.Require && !c.covered {
		rep.add("", "signature", "no signature of this bundle verifies with the key (looked for %s, %s next to it and export.json.sig inside it); it is unsigned, or signed by another key", layout.SigSuffix, layout.SigstoreBundleSuffix)
	}
	return nil
}

type sigChecker struct {
	rep      *Report
	opt      *SignatureOptions
	artefact digest.SHA256
	covered  bool // a signature over the artefact or its export.json verified
}

func (c *sigChecker) result(kind, path, signs string, err error, okDetail string) bool {
	sc := SignatureCheck{Kind: kind, Path: path, Signs: signs, Status: "verified", Detail: okDetail}
	if err != nil {
		sc.Status, sc.Detail = "failed", err.Error()
		c.rep.add(path, kind, "%v", err)
	}
	c.rep.Signatures = append(c.rep.Signatures, sc)
	return err == nil
}

// all returns Key and Keys.
func (o *SignatureOptions) all() []crypto.PublicKey {
	var ks []crypto.PublicKey
	if o.Key != nil {
		ks = append(ks, o.Key)
	}
	return append(ks, o.Keys...)
}

// keyText names the keys a signature was checked with, for a failure.
func (c *sigChecker) keyText() string {
	ks := c.opt.all()
	if len(ks) == 1 {
		return "key " + signing.Fingerprint(ks[0])
	}
	fps := make([]string, len(ks))
	for i, k := range ks {
		fps[i] = signing.Fingerprint(k)
	}
	return fmt.Sprintf("any of the %d keys %s", len(ks), strings.Join(fps, ", "))
}

// anyKey runs check with each key in turn and returns the text naming the
// first one that verifies. When none does, the error is the first that is
// not a bad signature (a key of the wrong type, say), else the last.
func (c *sigChecker) anyKey(check func(k crypto.PublicKey) error) (string, error) {
	var first, last error
	for _, k := range c.opt.all() {
		err := check(k)
		if err == nil {
			return "key " + signing.Fingerprint(k), nil
		}
		if first == nil && !errors.Is(err, signing.ErrBadSignature) {
			first = err
		}
		last = err
	}
	if first != nil {
		return "", first
	}
	return "", last
}

func docOpener(b []byte) signing.Opener {
	return func() (io.ReadCloser, error) {
		if b == nil {
			return nil, errors.New("the signed file was too large to keep for an Ed25519 check")
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
}

// inBundle checks export.json.sig and provenance.json.sig.
func (c *sigChecker) inBundle() {
	sigs := 0
	for _, doc := range layout.Signed {
		name := doc + layout.SigSuffix
		raw, ok := c.rep.docs[name]
		if _, present := c.rep.digests[name]; present && !ok {
			sigs++
			c.result("in-bundle", name, doc, errors.New("larger than 64 KiB: not a signature"), "")
			continue
		}
		if !ok {
			if _, hasDoc := c.rep.digests[doc]; hasDoc && sigs > 0 {
				c.result("in-bundle", name, doc, fmt.Errorf("export.json is signed but %s has no signature (%s is missing)", doc, name), "")
			}
			continue
		}
		sigs++
		d, hasDoc := c.rep.digests[doc]
		if !hasDoc {
			c.result("in-bundle", name, doc, fmt.Errorf("signs %s, which the bundle does not carry", doc), "")
			continue
		}
		sig, err := signing.DecodeSig(raw)
		var by string
		if err == nil {
			by, err = c.anyKey(func(k crypto.PublicKey) error { return signing.Verify(k, sig, d, docOpener(c.rep.docs[doc])) })
			if errors.Is(err, signing.ErrBadSignature) {
				err = fmt.Errorf("signature of %s does not verify with %s: %s changed since it was signed, or another key signed it", doc, c.keyText(), doc)
			}
		}
		if c.result("in-bundle", name, doc, err, by) && doc == layout.Manifest {
			c.covered = true
		}
	}
	if sigs == 0 {
		if _, ok := c.rep.digests[layout.Manifest]; ok {
			c.rep.Signatures = append(c.rep.Signatures, SignatureCheck{Kind: "in-bundle", Path: layout.Manifest + layout.SigSuffix, Signs: layout.Manifest, Status: "absent"})
		}
	}
}

func (c *sigChecker) badArtefactSig(what string) error {
	return fmt.Errorf("%s does not verify with %s over this bundle (sha256 %s): another key signed it, or it signs other bytes", what, c.keyText(), c.artefact.Hex())
}

func (c *sigChecker) detachedSig(d Detached) {
	sig, err := signing.DecodeSig(d.Data)
	var by string
	if err == nil {
		by, err = c.anyKey(func(k crypto.PublicKey) error { return signing.Verify(k, sig, c.artefact, c.opt.OpenArtifact) })
		if errors.Is(err, signing.ErrBadSignature) {
			err = c.badArtefactSig("the signature")
		}
	}
	if c.result(DetachedSignature, d.Path, "bundle", err, by) {
		c.covered = true
	}
}

func (c *sigChecker) sigstoreBundle(d Detached) {
	var by string
	err := func() error {
		b, err := signing.ParseBundle(d.Data)
		if err != nil {
			return err
		}
		if b.MessageSignature == nil {
			return errors.New("holds a DSSE envelope (an attestation), not a message signature")
		}
		md, err := b.MessageSignature.Digest()
		if err != nil {
			return err
		}
		if md != c.artefact {
			return fmt.Errorf("messageDigest is sha256 %s but this bundle is sha256 %s: it signs another file", md.Hex(), c.artefact.Hex())
		}
		sig, err := b.MessageSignature.Sig()
		if err != nil {
			return err
		}
		if by, err = c.anyKey(func(k crypto.PublicKey) error { return signing.Verify(k, sig, c.artefact, c.opt.OpenArtifact) }); err != nil {
			if errors.Is(err, signing.ErrBadSignature) {
				return c.badArtefactSig("the message signature")
			}
			return err
		}
		return nil
	}()
	if c.result(DetachedBundle, d.Path, "bundle", err, by) {
		c.covered = true
	}
}

func (c *sigChecker) attestation(d Detached) {
	env, err := signing.ParseAttestation(d.Data)
	if err != nil {
		c.result(DetachedAttestation, d.Path, "bundle", err, "")
		return
	}
	var body []byte
	by, err := c.anyKey(func(k crypto.PublicKey) error {
		b, err := signing.VerifyEnvelope(env, k)
		body = b
		return err
	})
	if err != nil {
		if errors.Is(err, signing.ErrBadSignature) {
			err = fmt.Errorf("the DSSE signature does not verify with %s: the statement changed, or another key signed it", c.keyText())
		}
		c.result(DetachedAttestation, d.Path, "bundle", err, "")
		return
	}
	var want []signing.Dependency
	note := by + "; subject matches"
	switch {
	case c.rep.provErr != nil:
		c.result("attestation-materials", d.Path, layout.Provenance, fmt.Errorf("the bundle's provenance.json cannot be read: %v", c.rep.provErr), "")
		return
	case c.rep.prov != nil:
		var plan *digest.SHA256
		if m, ok := c.rep.docs[layout.Manifest]; ok {
			p, err := signing.PlanDigest(m)
			if err != nil {
				c.result("attestation-materials", d.Path, layout.Manifest, err, "")
				return
			}
			plan = p
		}
		want = signing.Dependencies(c.rep.prov, plan)
		note += "; materials match provenance.json"
		if plan != nil {
			note += " and the plan digest"
		}
	default:
		note += "; the bundle has no provenance.json to compare materials with"
	}
	bad := signing.CheckStatement(body, c.artefact, want)
	if len(bad) == 0 {
		c.result(DetachedAttestation, d.Path, "bundle", nil, note)
		return
	}
	sc := SignatureCheck{Kind: DetachedAttestation, Path: d.Path, Signs: "bundle", Status: "failed", Detail: strings.Join(bad, "; ")}
	c.rep.Signatures = append(c.rep.Signatures, sc)
	for _, b := range bad {
		check, detail, _ := strings.Cut(b, ": ")
		c.rep.add(d.Path, check, "%s", detail)
	}
}

// checkPayloadRoot checks export.json's payloadRoot, when it has one,
// against the payload lines of checksums.txt: every file but the ones
// stella-export generates. This ties a signature of export.json to every
// payload byte.
func checkPayloadRoot(rep *Report, sums *checksums.File, manifest []byte) {
	var m struct {
		PayloadRoot string `json:"payloadRoot"`
	}
	if err := jsonUnmarshal(manifest, &m); err != nil || m.PayloadRoot == "" || sums == nil {
		return
	}
	var b merkle.Builder
	for _, e := range sums.Entries {
		if !layout.Reserved(e.Path) {
			b.Add([]byte(e.Line()))
		}
	}
	if got := b.Root().String(); got != m.PayloadRoot {
		rep.add(layout.Manifest, "payload-root", "payloadRoot is %s but the payload files listed in checksums.txt give %s", m.PayloadRoot, got)
	}
}
