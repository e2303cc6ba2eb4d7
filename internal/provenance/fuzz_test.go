package provenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzSummarize feeds documents to Summarize. The seeds (run by every `go
// test`) are a real provenance.json and mutations of it; the properties:
// no panic, no *ReadError from a reader that cannot fail, and an accepted
// document gives the same summary twice, has a 64-hex contract digest and
// counts the entries of its "inputs" array as encoding/json does.
func FuzzSummarize(f *testing.F) {
	h, subject, inputs := sample()
	var b bytes.Buffer
	if err := Write(&b, h, list(subject), list(inputs)); err != nil {
		f.Fatal(err)
	}
	real := b.String()
	for _, s := range []string{
		real,
		strings.Replace(real, `"inputs":[`, `"inputs":[],"inputs":[`, 1),
		strings.Replace(real, `acme/vex/v.json`, `../v.json`, 1),
		strings.Replace(real, `"tenant":"acme"}`, `"tenant":"acme"} []`, 1),
		strings.Replace(real, `"inputs":[`, `"inputs":[null,`, 1),
		strings.Replace(real, `"format":"stella-export/provenance/v1"`, `"format":1`, 1),
		strings.Replace(real, `"subject":[`, `"subject":[{"name":1},`, 1),
		"\xef\xbb\xbf" + real,
		`{}`, `[]`, `null`, ``, `{`, `{"inputs":[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := Summarize(bytes.NewReader(doc))
		var re *ReadError
		if errors.As(err, &re) {
			t.Fatalf("ReadError from a bytes.Reader: %v", err)
		}
		if err != nil {
			return
		}
		again, err := Summarize(bytes.NewReader(doc))
		if err != nil || again.InputsRoot != s.InputsRoot || again.Inputs != s.Inputs || again.Subjects != s.Subjects {
			t.Fatalf("second Summarize differs: %+v, %v", again, err)
		}
		if len(s.Contract.Digest.SHA256) != 64 {
			t.Fatalf("accepted contract digest %q", s.Contract.Digest.SHA256)
		}
		var whole struct {
			Inputs []json.RawMessage `json:"inputs"`
		}
		if json.Unmarshal(doc, &whole) == nil && len(whole.Inputs) != s.Inputs {
			t.Fatalf("Summarize counts %d inputs, encoding/json %d", s.Inputs, len(whole.Inputs))
		}
	})
}
