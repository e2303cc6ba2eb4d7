package provenance

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/canonjson"
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

func TestRoundTrip(t *testing.T) {
	h, subject, inputs := sample()
	var b bytes.Buffer
	if err := Write(&b, h, list(subject), list(inputs)); err != nil {
		t.Fatal(err)
	}
	d, err := Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	if d.Format != Format || d.ExportID != h.ExportID || *d.Base != *h.Base || d.Contract != h.Contract ||
		!reflect.DeepEqual(d.Subject, subject) || !reflect.DeepEqual(d.Inputs, inputs) || d.PolicySnapshot != nil {
		t.Errorf("Read(Write(x)) = %+v", d)
	}
	want := []Descriptor{{Name: "contract", Digest: hex64("a")}, {Name: "base:urn:stella:export:acme:full", Digest: hex64("b")}, inputs[0], inputs[1]}
	if got := d.Materials(); !reflect.DeepEqual(got, want) {
		t.Errorf("Materials() = %v, want %v", got, want)
	}
}

func TestReadRefuses(t *testing.T) {
	for _, tc := range []struct{ doc, msg string }{
		{`{"format":"stella-export/provenance/v2","export_id":"x","contract":{"name":"contract","digest":{"sha256":"aa"}}}`, `format "stella-export/provenance/v2" is not stella-export/provenance/v1`},
		{`{"export_id":"x","contract":{"name":"contract","digest":{"sha256":"aa"}}}`, `format "" is not`},
		{`{"format":"stella-export/provenance/v1","contract":{"name":"contract","digest":{"sha256":"aa"}}}`, "export_id or contract digest missing"},
		{`{"format":"stella-export/provenance/v1","export_id":"x"}`, "export_id or contract digest missing"},
		{`{"format":`, "not valid JSON"},
		{`[]`, "not valid JSON"},
	} {
		_, err := Read(strings.NewReader(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Read(%s) = %v, want an error containing %q", tc.doc, err, tc.msg)
		}
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
