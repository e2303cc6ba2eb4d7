package signing

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/provenance"
)

// In-toto and SLSA identifiers.
const (
	PayloadType       = "application/vnd.in-toto+json"
	StatementType     = "https://in-toto.io/Statement/v1"
	SLSAPredicateType = "https://slsa.dev/provenance/v1"
	// BuildType names how stella-export builds an export; docs/signing.md
	// describes its parameters and dependencies.
	BuildType = "https://github.com/stella-ops/stella-export/blob/main/docs/signing.md#build-type-v2"
	// BuildTypeV1 is the build type of attestations that listed every
	// input document as a dependency; they are no longer accepted.
	BuildTypeV1 = "https://github.com/stella-ops/stella-export/blob/main/docs/signing.md#build-type-v1"
	// BuilderID names the exporter.
	BuilderID = "https://github.com/stella-ops/stella-export"
	// MerkleAlgorithm is the digest algorithm key of the inputs dependency:
	// the lower-case hex RFC 6962 root of provenance.Summary.InputsRoot.
	MerkleAlgorithm = "stellaMerkleSha256"
	// MaxAttestation bounds an attestation file read back (16 MiB): a
	// statement names its inputs by one root, so it stays small.
	MaxAttestation = 16 << 20
)

// Statement is an in-toto Statement v1 with a SLSA provenance v1 predicate.
type Statement struct {
	Type          string                  `json:"_type"`
	Subject       []provenance.Descriptor `json:"subject"`
	PredicateType string                  `json:"predicateType"`
	Predicate     SLSAProvenance          `json:"predicate"`
}

// SLSAProvenance is the SLSA provenance v1 predicate.
type SLSAProvenance struct {
	BuildDefinition struct {
		BuildType            string             `json:"buildType"`
		ExternalParameters   externalParameters `json:"externalParameters"`
		InternalParameters   internalParameters `json:"internalParameters"`
		ResolvedDependencies []Dependency       `json:"resolvedDependencies"`
	} `json:"buildDefinition"`
	RunDetails struct {
		Builder struct {
			ID      string            `json:"id"`
			Version map[string]string `json:"version"`
		} `json:"builder"`
		Metadata struct {
			InvocationID string `json:"invocationId"`
		} `json:"metadata"`
	} `json:"runDetails"`
}

// Dependency is an in-toto v1 resource descriptor of resolvedDependencies.
type Dependency struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
	// Annotations carry the number of inputs for the inputs dependency.
	Annotations *Annotations `json:"annotations,omitempty"`
}

// Annotations of the inputs dependency.
type Annotations struct {
	Count int `json:"count"`
}

// digestText is the digest and count of a dependency, for messages:
// "sha256:<hex>", "stellaMerkleSha256:<hex> (count 2)".
func (d Dependency) digestText() string {
	algs := make([]string, 0, len(d.Digest))
	for a := range d.Digest {
		algs = append(algs, a+":"+d.Digest[a])
	}
	slices.Sort(algs)
	s := strings.Join(algs, " ")
	if d.Annotations != nil {
		s += fmt.Sprintf(" (count %d)", d.Annotations.Count)
	}
	return s
}

type externalParameters struct {
	ExportID       string                 `json:"exportId"`
	Profile        string                 `json:"profile"`
	Tenant         string                 `json:"tenant"`
	Contract       provenance.Descriptor  `json:"contract"`
	Selectors      json.RawMessage        `json:"selectors"`
	PolicySnapshot *provenance.Descriptor `json:"policySnapshot,omitempty"`
	Base           *provenance.Descriptor `json:"base,omitempty"`
}

type internalParameters struct {
	Adapters json.RawMessage `json:"adapters"`
}

// Dependencies are the resolved dependencies of an export, in this order:
// its contract, its policy snapshot and base bundle when it has them, its
// plan when plan is not nil, and its input documents as one dependency
// named "inputs" whose digest is the MerkleAlgorithm root of every input
// and whose annotations count them. Their number does not depend on the
// number of inputs.
func Dependencies(p *provenance.Summary, plan *digest.SHA256) []Dependency {
	sha := func(name, hex string) Dependency {
		return Dependency{Name: name, Digest: map[string]string{"sha256": hex}}
	}
	out := []Dependency{sha("contract", p.Contract.Digest.SHA256)}
	if p.PolicySnapshot != nil {
		out = append(out, sha(p.PolicySnapshot.Name, p.PolicySnapshot.Digest.SHA256))
	}
	if p.Base != nil {
		out = append(out, sha("base:"+p.Base.Name, p.Base.Digest.SHA256))
	}
	if plan != nil {
		out = append(out, sha("plan", plan.Hex()))
	}
	return append(out, Dependency{Name: "inputs", Digest: map[string]string{MerkleAlgorithm: p.InputsRoot.Hex()},
		Annotations: &Annotations{Count: p.Inputs}})
}

// PlanDigest returns the planDigest of an export.json (contract.planDigest,
// the SHA-256 of the canonical plan), or nil when it has none, as the
// bundles of package do not.
func PlanDigest(manifest []byte) (*digest.SHA256, error) {
	var m struct {
		Contract struct {
			PlanDigest *string `json:"planDigest"`
		} `json:"contract"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("export.json is not JSON: %v", err)
	}
	if m.Contract.PlanDigest == nil {
		return nil, nil
	}
	d, err := digest.Parse(*m.Contract.PlanDigest)
	if err != nil {
		return nil, fmt.Errorf("export.json: contract.planDigest: %v", err)
	}
	return &d, nil
}

// NewStatement builds the statement for an artefact (its file name and
// SHA-256) from the provenance of the export it carries and, when known,
// the digest of its plan (PlanDigest of its export.json).
func NewStatement(name string, d digest.SHA256, p *provenance.Summary, plan *digest.SHA256) *Statement {
	s := &Statement{Type: StatementType, PredicateType: SLSAPredicateType,
		Subject: []provenance.Descriptor{{Name: name, Digest: provenance.DigestSet{SHA256: d.Hex()}}}}
	bd := &s.Predicate.BuildDefinition
	bd.BuildType = BuildType
	bd.ExternalParameters = externalParameters{ExportID: p.ExportID, Profile: p.Profile, Tenant: p.Tenant,
		Contract: p.Contract, Selectors: orNull(p.Selectors), PolicySnapshot: p.PolicySnapshot, Base: p.Base}
	bd.InternalParameters = internalParameters{Adapters: orNull(p.Adapters)}
	bd.ResolvedDependencies = Dependencies(p, plan)
	rd := &s.Predicate.RunDetails
	rd.Builder.ID = BuilderID
	rd.Builder.Version = map[string]string{"stella-export": p.ExporterVersion}
	rd.Metadata.InvocationID = p.ExportID
	return s
}

func orNull(m json.RawMessage) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage("null")
	}
	return m
}

// Envelope is a DSSE envelope.
type Envelope struct {
	PayloadType string        `json:"payloadType"`
	Payload     string        `json:"payload"` // base64
	Signatures  []EnvelopeSig `json:"signatures"`
}

// EnvelopeSig is one signature of an envelope.
type EnvelopeSig struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"` // base64
}

// Attest signs the statement into a DSSE envelope and returns the
// .intoto.jsonl text: the envelope as one line of canonical JSON and LF.
func Attest(s Signer, st *Statement) ([]byte, error) {
	body, err := canonjson.Marshal(st)
	if err != nil {
		return nil, err
	}
	d, open := paeDigest(PayloadType, body)
	sig, err := s.Sign(d, open)
	if err != nil {
		return nil, err
	}
	env := Envelope{PayloadType: PayloadType, Payload: base64.StdEncoding.EncodeToString(body),
		Signatures: []EnvelopeSig{{KeyID: "", Sig: base64.StdEncoding.EncodeToString(sig)}}}
	return canonjson.MarshalLine(env)
}

// ParseAttestation reads an attestation file: a DSSE envelope as JSON (our
// .intoto.jsonl, the file cosign attest-blob --output-signature writes; the
// first non-empty line counts) or a Sigstore bundle holding one.
func ParseAttestation(data []byte) (*Envelope, error) {
	t := bytes.TrimSpace(data)
	if i := bytes.IndexByte(t, '\n'); i >= 0 && json.Valid(t[:i]) {
		t = t[:i]
	}
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(t, &probe); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if probe.MediaType != "" {
		b, err := ParseBundle(t)
		if err != nil {
			return nil, err
		}
		if b.DSSEEnvelope == nil {
			return nil, errors.New("the Sigstore bundle holds a message signature, not an attestation")
		}
		return b.DSSEEnvelope, nil
	}
	var env Envelope
	if err := json.Unmarshal(t, &env); err != nil {
		return nil, fmt.Errorf("not a DSSE envelope: %v", err)
	}
	if env.PayloadType == "" || env.Payload == "" || len(env.Signatures) == 0 {
		return nil, errors.New("not a DSSE envelope (payloadType, payload and signatures are required)")
	}
	return &env, nil
}

// VerifyEnvelope checks that one of the envelope's signatures verifies with
// pub over the DSSE pre-authentication encoding, and returns the payload.
func VerifyEnvelope(env *Envelope, pub any) ([]byte, error) {
	if env.PayloadType != PayloadType {
		return nil, fmt.Errorf("payloadType %q is not %s", env.PayloadType, PayloadType)
	}
	body, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		if body, err = base64.URLEncoding.DecodeString(env.Payload); err != nil {
			return nil, errors.New("payload is not base64")
		}
	}
	d, open := paeDigest(env.PayloadType, body)
	for _, s := range env.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			continue
		}
		if Verify(pub, sig, d, open) == nil {
			return body, nil
		}
	}
	return nil, ErrBadSignature
}

// paePrefix is the DSSE pre-authentication encoding of a payload of n
// bytes up to the payload: "DSSEv1" SP len(type) SP type SP n SP.
func paePrefix(payloadType string, n int) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d ", len(payloadType), payloadType, n)
}

// paeDigest returns the SHA-256 of the DSSE pre-authentication encoding
// of body, hashed in one pass from its length and its bytes (the encoding
// itself is never built), and an Opener giving the same bytes for keys that
// sign the message (Ed25519).
func paeDigest(payloadType string, body []byte) (digest.SHA256, Opener) {
	prefix := paePrefix(payloadType, len(body))
	open := func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(bytes.NewReader(prefix), bytes.NewReader(body))), nil
	}
	h := sha256.New()
	h.Write(prefix)
	h.Write(body)
	return digest.Of(h), open
}

// CheckStatement checks a verified statement against the artefact digest
// and, when want is not nil, the resolved dependencies of the export
// (Dependencies of its provenance.json and plan digest): subject, type,
// predicate type, build type and resolved dependencies, compared as a set.
// It returns one message per mismatch, each starting with the check's name.
func CheckStatement(body []byte, d digest.SHA256, want []Dependency) []string {
	var st struct {
		Type          string                  `json:"_type"`
		Subject       []provenance.Descriptor `json:"subject"`
		PredicateType string                  `json:"predicateType"`
		Predicate     struct {
			BuildDefinition struct {
				BuildType            string            `json:"buildType"`
				ResolvedDependencies []json.RawMessage `json:"resolvedDependencies"`
			} `json:"buildDefinition"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return []string{"attestation: the statement is not JSON: " + err.Error()}
	}
	var bad []string
	if st.Type != StatementType && st.Type != "https://in-toto.io/Statement/v0.1" {
		bad = append(bad, fmt.Sprintf("attestation: _type %q is not an in-toto Statement", st.Type))
	}
	if st.PredicateType != SLSAPredicateType {
		bad = append(bad, fmt.Sprintf("attestation: predicateType %q is not %s", st.PredicateType, SLSAPredicateType))
	}
	hex := d.Hex()
	found := false
	for _, s := range st.Subject {
		if strings.EqualFold(s.Digest.SHA256, hex) {
			found = true
		}
	}
	if !found {
		var got []string
		for _, s := range st.Subject {
			got = append(got, s.Name+"@sha256:"+s.Digest.SHA256)
		}
		bad = append(bad, fmt.Sprintf("attestation-subject: no subject has the artefact's sha256 %s (subjects: %s)", hex, strings.Join(got, ", ")))
	}
	if want != nil {
		switch bt := st.Predicate.BuildDefinition.BuildType; bt {
		case BuildType:
			if msg := compareDependencies(st.Predicate.BuildDefinition.ResolvedDependencies, want); msg != "" {
				bad = append(bad, "attestation-materials: "+msg)
			}
		case BuildTypeV1:
			bad = append(bad, "attestation-materials: buildType is stella-export's build type v1, which lists every input document and is no longer checked; attest the bundle again")
		default:
			bad = append(bad, fmt.Sprintf("attestation-materials: buildType %q is not stella-export's", bt))
		}
	}
	return bad
}

// compareDependencies compares the statement's resolved dependencies with
// the ones expected, as sets of canonical JSON texts, and describes every
// difference, pairing entries of the same name.
func compareDependencies(got []json.RawMessage, want []Dependency) string {
	type entry struct {
		key  string // canonical JSON
		name string
		text string // what the digest says, for messages
		at   int    // index in its list, to report in that order
	}
	var g, w []entry
	for i, raw := range got {
		c, err := canonjson.Canonicalize(raw)
		if err != nil {
			return fmt.Sprintf("resolvedDependencies[%d] is not valid JSON: %v", i, err)
		}
		e := entry{key: string(c), text: string(c), at: i}
		var dep Dependency
		if json.Unmarshal(raw, &dep) == nil {
			e.name, e.text = dep.Name, dep.digestText()
		}
		g = append(g, e)
	}
	for i, dep := range want {
		c, err := canonjson.Marshal(dep)
		if err != nil {
			return err.Error()
		}
		w = append(w, entry{key: string(c), name: dep.Name, text: dep.digestText(), at: i})
	}
	byKey := func(a, b entry) int { return strings.Compare(a.key, b.key) }
	slices.SortFunc(g, byKey)
	slices.SortFunc(w, byKey)
	var onlyG, onlyW []entry
	i, j := 0, 0
	for i < len(g) || j < len(w) {
		switch {
		case j == len(w) || i < len(g) && g[i].key < w[j].key:
			onlyG = append(onlyG, g[i])
			i++
		case i == len(g) || g[i].key > w[j].key:
			onlyW = append(onlyW, w[j])
			j++
		default:
			i++
			j++
		}
	}
	byAt := func(a, b entry) int { return a.at - b.at }
	slices.SortFunc(onlyG, byAt)
	slices.SortFunc(onlyW, byAt)
	var msgs []string
	for _, e := range onlyG {
		k := slices.IndexFunc(onlyW, func(x entry) bool { return x.name == e.name })
		if k < 0 {
			msgs = append(msgs, fmt.Sprintf("resolvedDependencies lists %s %s, which the bundle does not", e.name, e.text))
			continue
		}
		msgs = append(msgs, fmt.Sprintf("%s: resolvedDependencies has %s, the bundle %s", e.name, e.text, onlyW[k].text))
		onlyW = slices.Delete(onlyW, k, k+1)
	}
	for _, e := range onlyW {
		msgs = append(msgs, fmt.Sprintf("the bundle has %s %s, which resolvedDependencies does not list", e.name, e.text))
	}
	return strings.Join(msgs, "; ")
}
