package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/provenance"
	"github.com/stella-ops/stella-export/internal/signing"
)

func testSigner(t *testing.T) signing.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signedBundle(t *testing.T, s signing.Signer, files map[string]string) []byte {
	t.Helper()
	var srcs []bundle.Source
	for name, data := range files {
		srcs = append(srcs, memSource(name, []byte(data)))
	}
	var buf bytes.Buffer
	if _, err := bundle.Write(context.Background(), &buf, bundle.List(srcs), docs, bundle.Options{Signer: signing.DocSigner{Signer: s}}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func statuses(r *Report) string {
	var b []string
	for _, s := range r.Signatures {
		b = append(b, s.Path+"="+s.Status)
	}
	return strings.Join(b, " ")
}

func TestInBundleSignatures(t *testing.T) {
	s := testSigner(t)
	raw := signedBundle(t, s, map[string]string{"provenance.json": "{}\n", "data/a": "a"})
	again := signedBundle(t, s, map[string]string{"provenance.json": "{}\n", "data/a": "a"})
	if !bytes.Equal(raw, again) {
		t.Fatal("signed bundle bytes differ between two writes")
	}

	rep, err := run(t, raw, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(rep); got != "export.json.sig=unchecked provenance.json.sig=unchecked" {
		t.Fatalf("without a key: %s", got)
	}
	rep, err = run(t, raw, Options{Signatures: &SignatureOptions{Key: s.Public(), Require: true}})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(rep); got != "export.json.sig=verified provenance.json.sig=verified" {
		t.Fatalf("with the key: %s", got)
	}
	other := testSigner(t)
	rep, err = run(t, raw, Options{Signatures: &SignatureOptions{Key: other.Public()}})
	if err == nil || !strings.Contains(statuses(rep), "export.json.sig=failed") {
		t.Fatalf("another key: %v %s", err, statuses(rep))
	}

	// No signature at all, --require-signature.
	plain := makeBundle(t, map[string]string{"data/a": "a"})
	rep, err = run(t, plain, Options{Signatures: &SignatureOptions{Key: s.Public(), Require: true}})
	if err == nil || !strings.Contains(err.Error(), "no signature of this bundle verifies") {
		t.Fatalf("unsigned with Require: %v", err)
	}
	if got := statuses(rep); got != "export.json.sig=absent" {
		t.Fatalf("unsigned with Require: signatures %s, want export.json.sig=absent", got)
	}
	if got := strings.Join(checks(rep), ","); got != " signature" {
		t.Fatalf("unsigned with Require: problems %q, want one bundle-level signature problem", got)
	}

	// A detached signature of the archive counts for Require.
	d := digest.Sum(plain)
	sig, _ := s.Sign(d, nil)
	rep, err = run(t, plain, Options{Signatures: &SignatureOptions{Key: s.Public(), Require: true,
		Detached: []Detached{{Kind: DetachedSignature, Path: "p.sig", Data: signing.EncodeSig(sig)}}}})
	if err != nil {
		t.Fatalf("detached signature: %v", err)
	}
	if got := statuses(rep); got != "export.json.sig=absent p.sig=verified" {
		t.Fatalf("detached: %s", got)
	}
}

func TestOversizedInBundleSignature(t *testing.T) {
	s := testSigner(t)
	huge := strings.Repeat("A", 70<<10)
	ents := base()
	ents = append(ents[:4], append([]entry{file("export.json.sig", huge)}, ents[4:]...)...)
	raw := handmade(t, ents, nil, nil)
	rep, err := run(t, raw, Options{Signatures: &SignatureOptions{Key: s.Public()}})
	if err == nil || strings.Join(checks(rep), ",") != "export.json.sig in-bundle" || !strings.Contains(err.Error(), "larger than 64 KiB") {
		t.Fatalf("oversized signature: %v %v", err, checks(rep))
	}
}

// provBundle writes a bundle holding export.json (manifest), provenance.json
// (prov) and one data file.
func provBundle(t *testing.T, manifest, prov []byte, opt bundle.Options) []byte {
	t.Helper()
	docs := func(bundle.Summary) (bundle.Docs, error) {
		return bundle.Docs{Manifest: manifest, Readme: []byte("# r\n")}, nil
	}
	var buf bytes.Buffer
	srcs := []bundle.Source{memSource("data/a", []byte("a")), memSource(layout.Provenance, prov)}
	if _, err := bundle.Write(context.Background(), &buf, bundle.List(srcs), docs, opt); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func provJSON(t *testing.T, inputs ...string) []byte {
	t.Helper()
	head := provenance.Head{ExportID: "urn:stella:export:acme:t", Profile: "json:raw", Tenant: "acme", ExporterVersion: "0.0.0-dev",
		Contract: provenance.Descriptor{Name: "contract", Digest: provenance.DigestSet{SHA256: digest.Sum([]byte("contract")).Hex()}}}
	var b bytes.Buffer
	err := provenance.Write(&b, head, func(func(provenance.Descriptor, error) bool) {},
		func(yield func(provenance.Descriptor, error) bool) {
			for _, in := range inputs {
				if !yield(provenance.Descriptor{Name: in, Digest: provenance.DigestSet{SHA256: digest.Sum([]byte(in)).Hex()}}, nil) {
					return
				}
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestAttestationMaterials checks an attestation against the bundle's
// provenance.json, read as it streams past, and export.json's planDigest:
// the statement must name the same inputs root and count and plan, and a
// provenance.json that cannot be read is a failure, not a pass.
func TestAttestationMaterials(t *testing.T) {
	s := testSigner(t)
	plan := digest.Sum([]byte("plan"))
	manifest := []byte(`{"contract":{"digest":"sha256:` + digest.Sum([]byte("contract")).Hex() + `","planDigest":"` + plan.String() + `"},"exportId":"e1","profile":"json:raw"}` + "\n")
	prov := provJSON(t, "acme/vex/a.json", "acme/vex/b.json", "acme/vex/c.json")
	raw := provBundle(t, manifest, prov, bundle.Options{})
	artefact := digest.Sum(raw)
	attest := func(prov []byte, plan *digest.SHA256) []byte {
		p, err := provenance.Summarize(bytes.NewReader(prov))
		if err != nil {
			t.Fatal(err)
		}
		line, err := signing.Attest(s, signing.NewStatement("b.tgz", artefact, p, plan))
		if err != nil {
			t.Fatal(err)
		}
		return line
	}
	check := func(raw, att []byte) (*Report, string) {
		rep, _ := run(t, raw, Options{Signatures: &SignatureOptions{Key: s.Public(),
			Detached: []Detached{{Kind: DetachedAttestation, Path: "b.tgz.intoto.jsonl", Data: att}}}})
		sc := rep.Signatures[len(rep.Signatures)-1]
		return rep, sc.Status + ": " + sc.Detail
	}
	if _, got := check(raw, attest(prov, &plan)); !strings.HasPrefix(got, "verified: ") || !strings.HasSuffix(got, "; materials match provenance.json and the plan digest") {
		t.Errorf("matching attestation: %s", got)
	}
	for name, tc := range map[string]struct {
		att  []byte
		want string
	}{
		"other input": {attest(provJSON(t, "acme/vex/a.json", "acme/vex/b.json", "acme/vex/d.json"), &plan), "attestation-materials: inputs: resolvedDependencies has stellaMerkleSha256:"},
		"input order": {attest(provJSON(t, "acme/vex/a.json", "acme/vex/c.json", "acme/vex/b.json"), &plan), "attestation-materials: inputs: "},
		"no plan":     {attest(prov, nil), "attestation-materials: the bundle has plan sha256:" + plan.Hex() + ", which resolvedDependencies does not list"},
	} {
		rep, got := check(raw, tc.att)
		if !strings.HasPrefix(got, "failed: "+tc.want) || rep.OK {
			t.Errorf("%s: %s, want failed: %s", name, got, tc.want)
		}
	}
	// A provenance.json that is not one (here: an input with a path that
	// escapes) fails the check.
	bad := bytes.Replace(prov, []byte("acme/vex/b.json"), []byte("../vex/b.json"), 1)
	braw := provBundle(t, manifest, bad, bundle.Options{})
	artefact = digest.Sum(braw)
	rep, got := check(braw, attest(prov, &plan))
	if !strings.Contains(got, "the bundle's provenance.json cannot be read: inputs[1]: name: ") || rep.OK {
		t.Errorf("malformed provenance.json: %s", got)
	}
}

// TestAttestationEd25519 checks that with an Ed25519 key, which verifies
// provenance.json.sig over the whole file, provenance.json is both kept
// and summarized in the one pass.
func TestAttestationEd25519(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := signing.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	manifest := []byte(`{"exportId":"e1","profile":"json:raw"}` + "\n")
	prov := provJSON(t, "acme/vex/a.json")
	raw := provBundle(t, manifest, prov, bundle.Options{Signer: signing.DocSigner{Signer: s}})
	p, _ := provenance.Summarize(bytes.NewReader(prov))
	line, err := signing.Attest(s, signing.NewStatement("b.tgz", digest.Sum(raw), p, nil))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := run(t, raw, Options{Signatures: &SignatureOptions{Key: s.Public(), Require: true,
		Detached: []Detached{{Kind: DetachedAttestation, Path: "b.tgz.intoto.jsonl", Data: line}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(rep); got != "export.json.sig=verified provenance.json.sig=verified b.tgz.intoto.jsonl=verified" {
		t.Errorf("statuses: %s", got)
	}
}

// TestSeveralKeys: with several keys (key rotation), a signature verifies
// when any of them verifies it, and the check names that key; with none
// of them it fails naming every key.
func TestSeveralKeys(t *testing.T) {
	s, old, other := testSigner(t), testSigner(t), testSigner(t)
	raw := signedBundle(t, s, map[string]string{"provenance.json": "{}\n", "data/a": "a"})
	rep, err := run(t, raw, Options{Signatures: &SignatureOptions{Keys: []crypto.PublicKey{old.Public(), s.Public()}, Require: true}})
	if err != nil {
		t.Fatal(err)
	}
	want := "key " + signing.Fingerprint(s.Public())
	for _, sc := range rep.Signatures {
		if sc.Status != "verified" || sc.Detail != want {
			t.Errorf("%s: %s %q, want verified by %q", sc.Path, sc.Status, sc.Detail, want)
		}
	}
	rep, err = run(t, raw, Options{Signatures: &SignatureOptions{Keys: []crypto.PublicKey{old.Public(), other.Public()}, Require: true}})
	if err == nil || !strings.Contains(statuses(rep), "export.json.sig=failed") {
		t.Fatalf("neither key: %v %s", err, statuses(rep))
	}
	if !strings.Contains(err.Error(), "any of the 2 keys "+signing.Fingerprint(old.Public())+", "+signing.Fingerprint(other.Public())) {
		t.Errorf("error does not name both keys: %v", err)
	}
}
