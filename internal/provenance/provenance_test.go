package provenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/merkle"
)

func hex64(c string) DigestSet { return DigestSet{SHA256: strings.Repeat(c, 64)} }

func sample() (Head, []Descriptor, []Descriptor) {
	h := Head{ExportID: "urn:stella:export:acme:x", Profile: "mirror:delta", Tenant: "acme", ExporterVersion: "1.2.3",
		Adapters:  json.RawMessage(`[{"version":"1","name":"mirror:delta"}]`),
		Contract:  Descriptor{Name: "contract", Digest: hex64("a")},
		Selectors: json.RawMessage(`{"tenants":["acme"]}`),
		Base:      &Descriptor{Name: "urn:stella:export:acme:full", Digest: hex64("b")},
	}
	subject := []Descriptor{{Name: "manifests/a.json", Digest: hex64("c")}}
	inputs := []Descriptor{{Name: "acme/vex/v.json", Digest: hex64("d")}, {Name: "acme/advisories/a.json", Digest: hex64("e")}}
	return h, subject, inputs
}

func list(d []Descriptor) List {
	return func(yield func(Descriptor, error) bool) {
		for _, x := range d {
			if !yield(x, nil) {
				return
			}
		}
	}
}

// TestWriteBytes pins the canonical bytes: sorted keys at every level,
// no whitespace, one LF, format filled in, absent policy_snapshot omitted.
func TestWriteBytes(t *testing.T) {
	h, subject, inputs := sample()
	var b bytes.Buffer
	if err := Write(&b, h, list(subject), list(inputs)); err != nil {
		t.Fatal(err)
	}
	a, bb, c, d, e := strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64), strings.Repeat("d", 64), strings.Repeat("e", 64)
	want := `{"adapters":[{"name":"mirror:delta","version":"1"}],` +
		`"base":{"digest":{"sha256":"` + bb + `"},"name":"urn:stella:export:acme:full"},` +
		`"contract":{"digest":{"sha256":"` + a + `"},"name":"contract"},` +
		`"export_id":"urn:stella:export:acme:x","exporter_version":"1.2.3","format":"stella-export/provenance/v1",` +
		`"inputs":[{"digest":{"sha256":"` + d + `"},"name":"acme/vex/v.json"},{"digest":{"sha256":"` + e + `"},"name":"acme/advisories/a.json"}],` +
		`"profile":"mirror:delta","selectors":{"tenants":["acme"]},` +
		`"subject":[{"digest":{"sha256":"` + c + `"},"name":"manifests/a.json"}],"tenant":"acme"}` + "\n"
	if b.String() != want {
		t.Errorf("Write:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestSummarize reads back what Write wrote: the head, the counts and the
// inputs root, which is the RFC 6962 root of the inputs' sha256sum lines in
// order (here recomputed with merkle.Root from the lines themselves).
func TestSummarize(t *testing.T) {
	h, subject, inputs := sample()
	var b bytes.Buffer
	if err := Write(&b, h, list(subject), list(inputs)); err != nil {
		t.Fatal(err)
	}
	s, err := Summarize(&b)
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{strings.Repeat("d", 64) + "  acme/vex/v.json", strings.Repeat("e", 64) + "  acme/advisories/a.json"}
	want := merkle.Root([]digest.SHA256{merkle.LeafHash([]byte(lines[0])), merkle.LeafHash([]byte(lines[1]))})
	if s.InputsRoot != want {
		t.Errorf("InputsRoot = %s, want %s", s.InputsRoot, want)
	}
	if s.Format != Format || s.ExportID != h.ExportID || *s.Base != *h.Base || s.Contract != h.Contract ||
		s.PolicySnapshot != nil || s.Subjects != 1 || s.Inputs != 2 || string(s.Selectors) != `{"tenants":["acme"]}` {
		t.Errorf("Summarize(Write(x)) = %+v", s)
	}
	// The order of the inputs is part of the root.
	b.Reset()
	if err := Write(&b, h, list(subject), list([]Descriptor{inputs[1], inputs[0]})); err != nil {
		t.Fatal(err)
	}
	if r, err := Summarize(&b); err != nil || r.InputsRoot == s.InputsRoot {
		t.Errorf("swapped inputs: root %v, err %v; want another root", r.InputsRoot, err)
	}
	// No inputs: the empty root.
	b.Reset()
	if err := Write(&b, h, list(nil), list(nil)); err != nil {
		t.Fatal(err)
	}
	if r, err := Summarize(&b); err != nil || r.InputsRoot != merkle.EmptyRoot() || r.Inputs != 0 {
		t.Errorf("no inputs: %+v, %v", r, err)
	}
}

func TestSummarizeRefuses(t *testing.T) {
	const ok = `"format":"stella-export/provenance/v1","export_id":"x","contract":{"name":"contract","digest":{"sha256":"` +
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" + `"}}`
	in := func(name, hex string) string {
		return `{` + ok + `,"inputs":[{"name":"` + name + `","digest":{"sha256":"` + hex + `"}}]}`
	}
	hex := strings.Repeat("f", 64)
	for _, tc := range []struct{ doc, msg string }{
		{`{"format":"stella-export/provenance/v2","export_id":"x","inputs":[],"contract":{"name":"contract","digest":{"sha256":"aa"}}}`, `format "stella-export/provenance/v2" is not stella-export/provenance/v1`},
		{`{"export_id":"x","inputs":[],"contract":{"name":"contract","digest":{"sha256":"aa"}}}`, `format "" is not`},
		{`{"format":"stella-export/provenance/v1","inputs":[],"contract":{"name":"contract","digest":{"sha256":"aa"}}}`, "export_id or contract digest missing"},
		{`{"format":"stella-export/provenance/v1","inputs":[],"export_id":"x"}`, "export_id or contract digest missing"},
		{`{"format":"stella-export/provenance/v1","inputs":[],"export_id":"x","contract":{"name":"contract","digest":{"sha256":"aa"}}}`, `contract digest: "aa" is not 64 lowercase hex digits`},
		{`{` + ok + `}`, `no "inputs" array`},
		{`{` + ok + `,"inputs":[],"inputs":[]}`, `key "inputs" appears twice`},
		{`{` + ok + `,"inputs":[],"export_id":"y"}`, `key "export_id" appears twice`},
		{`{` + ok + `,"inputs":{}}`, `inputs: not an array`},
		{`{` + ok + `,"inputs":[]} {}`, "data after the provenance object"},
		{in("../x", hex), "inputs[0]: name: "},
		{in(`a\nb`, hex), "inputs[0]: name: "},
		{in("a/b", strings.ToUpper(hex)), "inputs[0]: digest: sha256 "},
		{in("a/b", "ff"), "inputs[0]: digest: sha256 "},
		{`{` + ok + `,"inputs":[1]}`, "inputs[0]: json: cannot unmarshal"},
		{`{"format":`, "not valid JSON"},
		{`[]`, "not a JSON object"},
		{`{` + ok + `,"selectors":"` + strings.Repeat("s", MaxValue) + `","inputs":[]}`, "a value is larger than 16 MiB"},
	} {
		_, err := Summarize(strings.NewReader(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			doc := tc.doc
			if len(doc) > 200 {
				doc = doc[:200] + "..."
			}
			t.Errorf("Summarize(%s) = %v, want an error containing %q", doc, err, tc.msg)
		}
	}
	// A failing reader is a *ReadError, not a malformed document.
	boom := errors.New("boom")
	_, err := Summarize(io.MultiReader(strings.NewReader(`{`+ok+`,"inputs":[`), iotest.ErrReader(boom)))
	var re *ReadError
	if !errors.As(err, &re) || !errors.Is(err, boom) {
		t.Errorf("Summarize of a failing reader = %v, want a *ReadError wrapping boom", err)
	}
}

// TestDescriptorAppend: a descriptor's canonical JSON is Marshal's.
func TestDescriptorAppend(t *testing.T) {
	for _, d := range []Descriptor{{}, {Name: "a/b \"c\"\xff", Digest: hex64("f")}} {
		want, err := canonjson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.AppendCanonical(nil); string(got) != string(want) {
			t.Errorf("AppendCanonical = %s, Marshal gives %s", got, want)
		}
	}
}

// TestWriteEncryption: the encryption member and signingKey are written in
// canonical order, the files streamed, and Summarize skips a files list
// larger than MaxValue in bounded memory.
func TestWriteEncryption(t *testing.T) {
	h, subject, inputs := sample()
	n := 0
	h.SigningKey = &SigningKey{KeyID: "sha256:" + strings.Repeat("f", 64)}
	h.Encryption = &Encryption{Mode: "envelope", Scope: "data", KeyID: "alias/prod/v1", PlaintextManifest: "manifests/plaintext.json.enc",
		Files: func(yield func(EncryptedFile, error) bool) {
			for i := range n {
				if !yield(EncryptedFile{Name: "data/" + strings.Repeat("x", 100) + string(rune('a'+i%26)) + ".json.enc", WrappedKey: strings.Repeat("A", 80)}, nil) {
					return
				}
			}
		}}
	n = 2
	var b bytes.Buffer
	if err := Write(&b, h, list(subject), list(inputs)); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Encryption map[string]any `json:"encryption"`
		SigningKey map[string]any `json:"signingKey"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if c, err := canonjson.Canonicalize(bytes.TrimSuffix(b.Bytes(), []byte("\n"))); err != nil || !bytes.Equal(append(c, '\n'), b.Bytes()) {
		t.Errorf("not canonical: %v\n%s", err, b.String())
	}
	if doc.Encryption["keyId"] != "alias/prod/v1" || len(doc.Encryption["files"].([]any)) != 2 || doc.SigningKey["keyId"] != h.SigningKey.KeyID {
		t.Errorf("encryption %v signingKey %v", doc.Encryption, doc.SigningKey)
	}
	// 200,000 entries of about 200 bytes: 40 MB, more than MaxValue.
	n = 200000
	b.Reset()
	if err := Write(&b, h, list(subject), list(inputs)); err != nil {
		t.Fatal(err)
	}
	s, err := Summarize(&b)
	if err != nil {
		t.Fatal(err)
	}
	if s.SigningKey == nil || s.SigningKey.KeyID != h.SigningKey.KeyID || s.Inputs != 2 {
		t.Errorf("summary %+v", s)
	}
}
