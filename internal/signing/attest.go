package signing

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

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
	// describes its parameters.
	BuildType = "https://github.com/stella-ops/stella-export/blob/main/docs/signing.md#build-type-v1"
	// BuilderID names the exporter.
	BuilderID = "https://github.com/stella-ops/stella-export"
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
		BuildType            string                  `json:"buildType"`
		ExternalParameters   externalParameters      `json:"externalParameters"`
		InternalParameters   internalParameters      `json:"internalParameters"`
		ResolvedDependencies []provenance.Descriptor `json:"resolvedDependencies"`
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

// NewStatement builds the statement for an artefact (its file name and
// SHA-256) from the provenance of the export it carries.
func NewStatement(name string, d digest.SHA256, p *provenance.Document) *Statement {
	s := &Statement{Type: StatementType, PredicateType: SLSAPredicateType,
		Subject: []provenance.Descriptor{{Name: name, Digest: provenance.DigestSet{SHA256: d.Hex()}}}}
	bd := &s.Predicate.BuildDefinition
	bd.BuildType = BuildType
	bd.ExternalParameters = externalParameters{ExportID: p.ExportID, Profile: p.Profile, Tenant: p.Tenant,
		Contract: p.Contract, Selectors: orNull(p.Selectors), PolicySnapshot: p.PolicySnapshot, Base: p.Base}
	bd.InternalParameters = internalParameters{Adapters: orNull(p.Adapters)}
	bd.ResolvedDependencies = p.Materials()
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
	pae := dsse.PAE(PayloadType, body)
	d := digest.Sum(pae)
	sig, err := s.Sign(d, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(pae)), nil })
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
	pae := dsse.PAE(env.PayloadType, body)
	d := digest.Sum(pae)
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(pae)), nil }
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

// CheckStatement checks a verified statement against the artefact digest
// and, when p is not nil, the provenance of the export: subject, type,
// predicate type and resolved dependencies. It returns one message per
// mismatch, each starting with the check's name.
func CheckStatement(body []byte, d digest.SHA256, p *provenance.Document) []string {
	var st struct {
		Type          string                  `json:"_type"`
		Subject       []provenance.Descriptor `json:"subject"`
		PredicateType string                  `json:"predicateType"`
		Predicate     struct {
			BuildDefinition struct {
				BuildType            string                  `json:"buildType"`
				ResolvedDependencies []provenance.Descriptor `json:"resolvedDependencies"`
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
	want := d.Hex()
	found := false
	for _, s := range st.Subject {
		if strings.EqualFold(s.Digest.SHA256, want) {
			found = true
		}
	}
	if !found {
		var got []string
		for _, s := range st.Subject {
			got = append(got, s.Name+"@sha256:"+s.Digest.SHA256)
		}
		bad = append(bad, fmt.Sprintf("attestation-subject: no subject has the artefact's sha256 %s (subjects: %s)", want, strings.Join(got, ", ")))
	}
	if p != nil {
		if st.Predicate.BuildDefinition.BuildType != BuildType {
			bad = append(bad, fmt.Sprintf("attestation-materials: buildType %q is not stella-export's", st.Predicate.BuildDefinition.BuildType))
		} else if msg := compareMaterials(st.Predicate.BuildDefinition.ResolvedDependencies, p.Materials()); msg != "" {
			bad = append(bad, "attestation-materials: "+msg)
		}
	}
	return bad
}

func materialKey(r provenance.Descriptor) string {
	return r.Name + "\x00" + strings.ToLower(r.Digest.SHA256)
}

func compareMaterials(got, want []provenance.Descriptor) string {
	g := make([]string, len(got))
	for i, r := range got {
		g[i] = materialKey(r)
	}
	w := make([]string, len(want))
	for i, r := range want {
		w[i] = materialKey(r)
	}
	slices.Sort(g)
	slices.Sort(w)
	i, j := 0, 0
	for i < len(g) || j < len(w) {
		switch {
		case j == len(w) || i < len(g) && g[i] < w[j]:
			return fmt.Sprintf("resolvedDependencies lists %s, which provenance.json does not", strings.Replace(g[i], "\x00", " sha256:", 1))
		case i == len(g) || g[i] > w[j]:
			return fmt.Sprintf("provenance.json lists %s, which resolvedDependencies does not", strings.Replace(w[j], "\x00", " sha256:", 1))
		default:
			i++
			j++
		}
	}
	return ""
}
