package verify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/digest"
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
