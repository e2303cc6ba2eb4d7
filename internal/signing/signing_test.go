package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/merkle"
	"github.com/stella-ops/stella-export/internal/provenance"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func opener(b []byte) Opener {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// TestECDSADeterministic pins what in-bundle signatures rely on: the same
// key and digest give the same signature, and it verifies.
func TestECDSADeterministic(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.Sum([]byte("hello"))
	a, err := s.Sign(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, _ := s.Sign(d, nil)
		if !bytes.Equal(a, b) {
			t.Fatal("ECDSA signatures differ between calls: nonces are not deterministic")
		}
	}
	if err := Verify(s.Public(), a, d, nil); err != nil {
		t.Fatal(err)
	}
	other := digest.Sum([]byte("hellO"))
	if err := Verify(s.Public(), a, other, nil); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("signature of another message verified: %v", err)
	}
	if !ecdsa.VerifyASN1(&priv.PublicKey, d[:], a) {
		t.Fatal("standard library does not accept the signature")
	}
}

func TestGenerateAndLoad(t *testing.T) {
	pf := Passwords(env(map[string]string{"STELLA_EXPORT_PASSWORD": "s3cret"}), nil)
	privPEM, pubPEM, fp, err := GenerateKeyPair(pf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(privPEM, []byte("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")) {
		t.Fatalf("private key PEM type: %s", privPEM[:40])
	}
	keyPath := writeFile(t, "k.key", privPEM)
	pubPath := writeFile(t, "k.pub", pubPEM)
	s, err := LoadSigner(keyPath, pf, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := Fingerprint(pub); got != fp || Fingerprint(s.Public()) != fp {
		t.Fatalf("fingerprint %s, the generated pair says %s", got, fp)
	}
	d := digest.Sum([]byte("x"))
	sig, _ := s.Sign(d, nil)
	if err := Verify(pub, sig, d, nil); err != nil {
		t.Fatal(err)
	}

	// The older cosign PEM type holds the same bytes.
	old := bytes.ReplaceAll(privPEM, []byte("SIGSTORE"), []byte("COSIGN"))
	if _, err := LoadSigner(writeFile(t, "old.key", old), pf, nil); err != nil {
		t.Fatalf("ENCRYPTED COSIGN PRIVATE KEY: %v", err)
	}
	// COSIGN_PASSWORD is the fallback.
	if _, err := LoadSigner(keyPath, Passwords(env(map[string]string{"COSIGN_PASSWORD": "s3cret"}), nil), nil); err != nil {
		t.Fatalf("COSIGN_PASSWORD: %v", err)
	}
	// env://VAR holds the PEM itself.
	t.Setenv("STELLA_TEST_KEY", string(privPEM))
	if _, err := LoadSigner("env://STELLA_TEST_KEY", pf, nil); err != nil {
		t.Fatalf("env://: %v", err)
	}

	cases := []struct {
		name, ref string
		pf        PassFunc
		code      int
		want      string
	}{
		{"wrong password", keyPath, Passwords(env(map[string]string{"STELLA_EXPORT_PASSWORD": "nope"}), nil), exitcode.IO, "wrong password"},
		{"no password", keyPath, Passwords(env(nil), nil), exitcode.IO, "STELLA_EXPORT_PASSWORD"},
		{"public key", pubPath, pf, exitcode.Invalid, "public key"},
		{"missing file", filepath.Join(t.TempDir(), "nope.key"), pf, exitcode.IO, "nope.key"},
		{"not PEM", writeFile(t, "junk.key", []byte("hello")), pf, exitcode.Invalid, "not a PEM"},
		{"kms", "awskms:///alias/x", pf, exitcode.Invalid, "not supported"},
		{"env without a name", "env://", pf, exitcode.Invalid, "name the variable"},
		{"empty reference", "", pf, exitcode.Invalid, "empty key reference"},
		{"unset env", "env://STELLA_TEST_UNSET", pf, exitcode.IO, "not set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadSigner(c.ref, c.pf, nil)
			if err == nil || exitcode.For(err) != c.code || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v (exit %d), want exit %d containing %q", err, exitcode.For(err), c.code, c.want)
			}
			// The message names the key, not a flag; commands name the flag.
			var ke *KeyError
			if !errors.As(err, &ke) || ke.Ref != c.ref || strings.Contains(err.Error(), "--") {
				t.Errorf("got %v, want a *KeyError for %q naming no flag", err, c.ref)
			}
			badRef := c.name == "kms" || c.name == "env without a name" || c.name == "empty reference"
			if errors.Is(err, ErrKeyRef) != badRef {
				t.Errorf("errors.Is(ErrKeyRef) = %v, want %v", !badRef, badRef)
			}
		})
	}
	if _, err := LoadPublicKey(keyPath); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Fatalf("LoadPublicKey(private): %v", err)
	}
}

func TestPKCS8Keys(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	msg := []byte("message")
	d := digest.Sum(msg)
	for _, priv := range []any{ec, ed} {
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		p := writeFile(t, "k.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		s, err := LoadSigner(p, Passwords(env(nil), nil), nil) // plain keys need no password
		if err != nil {
			t.Fatal(err)
		}
		sig, err := s.Sign(d, opener(msg))
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(s.Public(), sig, d, opener(msg)); err != nil {
			t.Fatalf("%s: %v", s.Algorithm(), err)
		}
		if _, ok := priv.(ed25519.PrivateKey); ok {
			// Ed25519 reads the message; bytes that no longer match the digest are refused.
			if err := Verify(s.Public(), sig, d, opener([]byte("other"))); err == nil {
				t.Fatalf("%s: verified against changed message bytes", s.Algorithm())
			}
		}
		o := digest.Sum([]byte("other"))
		if err := Verify(s.Public(), sig, o, opener([]byte("other"))); err == nil {
			t.Fatalf("%s: verified another message", s.Algorithm())
		}
	}
}

func TestBundleRoundTrip(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, _ := NewSigner(priv)
	d := digest.Sum([]byte("artefact"))
	sig, _ := s.Sign(d, nil)
	b, err := NewBundle(s.Public(), d, sig)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := NewBundle(s.Public(), d, sig)
	if !bytes.Equal(b, again) {
		t.Fatal("bundle bytes differ")
	}
	pb, err := ParseBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	gd, err := pb.MessageSignature.Digest()
	if err != nil || gd != d {
		t.Fatalf("digest %x, %v", gd, err)
	}
	gs, _ := pb.MessageSignature.Sig()
	if err := Verify(s.Public(), gs, gd, nil); err != nil {
		t.Fatal(err)
	}
	hint, _ := KeyID(s.Public())
	if pb.Hint() != hint {
		t.Fatalf("hint %q, want %q", pb.Hint(), hint)
	}
	for _, bad := range []string{
		`{}`,
		`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"messageSignature":{}}`,
		`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"certificate":{"rawBytes":"AA=="}},"messageSignature":{}}`,
		`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":""}}}`,
		`not json`,
	} {
		if _, err := ParseBundle([]byte(bad)); err == nil {
			t.Errorf("ParseBundle(%s) accepted", bad)
		}
	}
}

func testProvenance(inputs ...provenance.Descriptor) *provenance.Summary {
	if inputs == nil {
		inputs = []provenance.Descriptor{
			{Name: "acme/advisories/a.json", Digest: provenance.DigestSet{SHA256: strings.Repeat("b", 64)}},
			{Name: "acme/vex/v.json", Digest: provenance.DigestSet{SHA256: strings.Repeat("c", 64)}},
		}
	}
	var b merkle.Builder
	for _, in := range inputs {
		b.Add(provenance.InputLeaf(nil, in))
	}
	return &provenance.Summary{Head: provenance.Head{Format: provenance.Format, ExportID: "urn:stella:export:x", Profile: "json:raw", Tenant: "acme",
		ExporterVersion: "1.0.0", Adapters: json.RawMessage(`[{"name":"json:raw","version":"1"}]`),
		Contract:  provenance.Descriptor{Name: "contract", Digest: provenance.DigestSet{SHA256: strings.Repeat("a", 64)}},
		Selectors: json.RawMessage(`{"tenant":"acme"}`)},
		Inputs: len(inputs), InputsRoot: b.Root()}
}

func TestAttestation(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, _ := NewSigner(priv)
	d := digest.Sum([]byte("bundle bytes"))
	p := testProvenance()
	plan := digest.Sum([]byte("plan"))
	line, err := Attest(s, NewStatement("b.tgz", d, p, &plan))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Attest(s, NewStatement("b.tgz", d, p, &plan))
	if !bytes.Equal(line, again) {
		t.Fatal("attestation bytes differ between runs")
	}
	if bytes.Count(line, []byte("\n")) != 1 {
		t.Fatal("an .intoto.jsonl line must end in exactly one LF")
	}
	env, err := ParseAttestation(line)
	if err != nil {
		t.Fatal(err)
	}
	body, err := VerifyEnvelope(env, s.Public())
	if err != nil {
		t.Fatal(err)
	}
	want := Dependencies(p, &plan)
	if bad := CheckStatement(body, d, want); len(bad) != 0 {
		t.Fatalf("fresh attestation: %v", bad)
	}
	// Another artefact.
	other := digest.Sum([]byte("other"))
	if bad := CheckStatement(body, other, want); len(bad) != 1 || !strings.HasPrefix(bad[0], "attestation-subject") {
		t.Fatalf("other artefact: %v", bad)
	}
	// Materials that differ from the bundle's: another input digest, one
	// input fewer, no plan, another plan.
	changed := testProvenance(provenance.Descriptor{Name: "acme/advisories/a.json", Digest: provenance.DigestSet{SHA256: strings.Repeat("b", 64)}},
		provenance.Descriptor{Name: "acme/vex/v.json", Digest: provenance.DigestSet{SHA256: strings.Repeat("d", 64)}})
	fewer := testProvenance(provenance.Descriptor{Name: "acme/advisories/a.json", Digest: provenance.DigestSet{SHA256: strings.Repeat("b", 64)}})
	otherPlan := digest.Sum([]byte("other plan"))
	for name, tc := range map[string]struct {
		want []Dependency
		msg  string
	}{
		"input digest": {Dependencies(changed, &plan), "attestation-materials: inputs: resolvedDependencies has stellaMerkleSha256:" + p.InputsRoot.Hex() + " (count 2), the bundle stellaMerkleSha256:" + changed.InputsRoot.Hex() + " (count 2)"},
		"fewer inputs": {Dependencies(fewer, &plan), "attestation-materials: inputs: resolvedDependencies has stellaMerkleSha256:" + p.InputsRoot.Hex() + " (count 2), the bundle stellaMerkleSha256:" + fewer.InputsRoot.Hex() + " (count 1)"},
		"no plan":      {Dependencies(p, nil), "attestation-materials: resolvedDependencies lists plan sha256:" + plan.Hex() + ", which the bundle does not"},
		"another plan": {Dependencies(p, &otherPlan), "attestation-materials: plan: resolvedDependencies has sha256:" + plan.Hex() + ", the bundle sha256:" + otherPlan.Hex()},
		"extra":        {append(Dependencies(p, &plan), Dependency{Name: "x", Digest: map[string]string{"sha256": "00"}}), "attestation-materials: the bundle has x sha256:00, which resolvedDependencies does not list"},
	} {
		if bad := CheckStatement(body, d, tc.want); len(bad) != 1 || !strings.HasPrefix(bad[0], tc.msg) {
			t.Errorf("%s: %v, want one message starting %q", name, bad, tc.msg)
		}
	}
	// A tampered payload no longer verifies.
	var e2 Envelope
	_ = json.Unmarshal(bytes.TrimSpace(line), &e2)
	raw, _ := base64.StdEncoding.DecodeString(e2.Payload)
	e2.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(raw, []byte("acme"), []byte("evil"), 1))
	if _, err := VerifyEnvelope(&e2, s.Public()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered payload: %v", err)
	}
	// Another key.
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := VerifyEnvelope(env, &k2.PublicKey); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("other key: %v", err)
	}
}

// TestStatementSize is the point of build type v2: a statement names its
// inputs by one Merkle root, so 100,000 inputs make it no longer than two
// (but for the digits of the count).
func TestStatementSize(t *testing.T) {
	size := func(n int) int {
		in := make([]provenance.Descriptor, n)
		for i := range in {
			in[i] = provenance.Descriptor{Name: fmt.Sprintf("acme/vex/%08d.json", i), Digest: provenance.DigestSet{SHA256: strings.Repeat("b", 64)}}
		}
		b, err := canonjson.Marshal(NewStatement("b.tgz", digest.Sum(nil), testProvenance(in...), nil))
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	if small, large := size(2), size(100000); large-small != len("100000")-len("2") {
		t.Errorf("statement of 2 inputs is %d bytes, of 100,000 inputs %d", small, large)
	}
}

// TestStatementShape pins the resolved dependencies of a statement: one
// entry each for contract, policy snapshot, base and plan, and one for
// every input together.
func TestStatementShape(t *testing.T) {
	p := testProvenance()
	p.PolicySnapshot = &provenance.Descriptor{Name: "policy/s1/snapshot.json", Digest: provenance.DigestSet{SHA256: strings.Repeat("e", 64)}}
	p.Base = &provenance.Descriptor{Name: "urn:stella:export:base", Digest: provenance.DigestSet{SHA256: strings.Repeat("f", 64)}}
	plan := digest.Sum([]byte("plan"))
	b, err := canonjson.Marshal(NewStatement("b.tgz", digest.Sum(nil), p, &plan).Predicate.BuildDefinition.ResolvedDependencies)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"digest":{"sha256":"` + strings.Repeat("a", 64) + `"},"name":"contract"},` +
		`{"digest":{"sha256":"` + strings.Repeat("e", 64) + `"},"name":"policy/s1/snapshot.json"},` +
		`{"digest":{"sha256":"` + strings.Repeat("f", 64) + `"},"name":"base:urn:stella:export:base"},` +
		`{"digest":{"sha256":"` + plan.Hex() + `"},"name":"plan"},` +
		`{"annotations":{"count":2},"digest":{"stellaMerkleSha256":"` + p.InputsRoot.Hex() + `"},"name":"inputs"}]`
	if string(b) != want {
		t.Errorf("resolvedDependencies:\n%s\nwant\n%s", b, want)
	}
}

// TestBuildTypeV1 checks that a statement of the old build type, which
// listed every input, is refused with a way forward, not compared.
func TestBuildTypeV1(t *testing.T) {
	d := digest.Sum([]byte("bundle"))
	st := NewStatement("b.tgz", d, testProvenance(), nil)
	st.Predicate.BuildDefinition.BuildType = BuildTypeV1
	body, _ := canonjson.Marshal(st)
	bad := CheckStatement(body, d, Dependencies(testProvenance(), nil))
	if len(bad) != 1 || !strings.Contains(bad[0], "build type v1") || !strings.Contains(bad[0], "attest the bundle again") {
		t.Errorf("v1 statement: %v", bad)
	}
}

// TestPAE checks the streamed pre-authentication encoding against
// securesystemslib's DSSE implementation, and that an Ed25519 key, which
// signs the encoding itself, signs and verifies through it.
func TestPAE(t *testing.T) {
	for _, body := range [][]byte{nil, []byte("{}"), bytes.Repeat([]byte("é"), 1000)} {
		d, open := paeDigest(PayloadType, body)
		ref := dsse.PAE(PayloadType, body)
		if d != digest.Sum(ref) {
			t.Errorf("paeDigest(%d bytes) differs from dsse.PAE", len(body))
		}
		rc, _ := open()
		got, _ := io.ReadAll(rc)
		if !bytes.Equal(got, ref) {
			t.Errorf("opener(%d bytes) gives %q, want %q", len(body), got, ref)
		}
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	line, err := Attest(s, NewStatement("b.tgz", digest.Sum(nil), testProvenance(), nil))
	if err != nil {
		t.Fatal(err)
	}
	env, _ := ParseAttestation(line)
	if _, err := VerifyEnvelope(env, s.Public()); err != nil {
		t.Fatalf("Ed25519 attestation: %v", err)
	}
}

func TestPlanDigest(t *testing.T) {
	plan := digest.Sum([]byte("plan"))
	if d, err := PlanDigest([]byte(`{"contract":{"digest":"x","planDigest":"` + plan.String() + `"}}`)); err != nil || d == nil || *d != plan {
		t.Errorf("PlanDigest = %v, %v", d, err)
	}
	if d, err := PlanDigest([]byte(`{"exportId":"e1"}`)); err != nil || d != nil {
		t.Errorf("no planDigest: %v, %v", d, err)
	}
	if _, err := PlanDigest([]byte(`{"contract":{"planDigest":"sha256:AB"}}`)); err == nil || !strings.Contains(err.Error(), "contract.planDigest") {
		t.Errorf("bad planDigest: %v", err)
	}
}

func TestDecodeSig(t *testing.T) {
	if _, err := DecodeSig([]byte("  \n")); err == nil {
		t.Fatal("empty accepted")
	}
	if _, err := DecodeSig([]byte("%%%")); err == nil {
		t.Fatal("non-base64 accepted")
	}
	b, err := DecodeSig([]byte("AQID\n"))
	if err != nil || !bytes.Equal(b, []byte{1, 2, 3}) {
		t.Fatalf("%v %v", b, err)
	}
}

// TestWrap: a sigstore signer (what a KMS key is) signs through the Signer
// interface, and its signatures verify like ours.
func TestWrap(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	w := Wrap(sv, "ecdsa-p256-sha256")
	if w.Deterministic() {
		t.Fatal("a wrapped signer must not claim determinism")
	}
	d := digest.Sum([]byte("kms"))
	sig, err := w.Sign(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(w.Public(), sig, d, nil); err != nil {
		t.Fatal(err)
	}
	if err := Verify(w.Public(), sig, digest.Sum([]byte("other")), nil); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("other message: %v", err)
	}
}

// DocSigner is what bundle.Write signs with.
var _ bundle.Signer = DocSigner{}

// TestDocSigner: SigFile gives the text of a .sig file that verifies, for
// ECDSA (digest only) and Ed25519 (the message itself), and Fingerprint
// names the key as reports do.
func TestDocSigner(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	msg := []byte(`{"x":1}` + "\n")
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(msg)), nil }
	for _, priv := range []crypto.PrivateKey{ec, ed} {
		s, err := NewSigner(priv)
		if err != nil {
			t.Fatal(err)
		}
		ds := DocSigner{Signer: s}
		d := sha256.Sum256(msg)
		text, err := ds.SigFile(d, open)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := DecodeSig(text)
		if err != nil {
			t.Fatalf("%s: SigFile gave %q: %v", s.Algorithm(), text, err)
		}
		if err := Verify(s.Public(), sig, d, open); err != nil {
			t.Errorf("%s: the .sig does not verify: %v", s.Algorithm(), err)
		}
		if got, want := ds.Fingerprint(), Fingerprint(s.Public()); got != want || !strings.HasPrefix(got, "sha256:") {
			t.Errorf("%s: Fingerprint() = %q, want %q", s.Algorithm(), got, want)
		}
		if !ds.Deterministic() {
			t.Errorf("%s: not deterministic", s.Algorithm())
		}
	}
}
