package bundle

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/layout"
)

// fakeSigner signs by naming the digest and the document it was given, so
// a test can see exactly what Write asked for.
type fakeSigner struct{ deterministic bool }

func (f fakeSigner) SigFile(d digest.SHA256, open func() (io.ReadCloser, error)) ([]byte, error) {
	rc, err := open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	msg, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "sig %s of %d bytes", d.Hex(), len(msg)), nil
}
func (f fakeSigner) Deterministic() bool { return f.deterministic }
func (f fakeSigner) Fingerprint() string { return "sha256:" + strings.Repeat("f", 64) }

// TestSignerInterface signs with a Signer that is not package signing: the
// .sig files hold what SigFile returned for each document's digest and
// bytes, and a signer that is not deterministic is refused.
func TestSignerInterface(t *testing.T) {
	prov := `{"format":"stella-export/provenance/v1"}` + "\n"
	srcs := List{memSource("data/a.txt", []byte("a\n")), memSource(layout.Provenance, []byte(prov))}
	manifest := []byte(`{"x":1}` + "\n")
	render := func(Summary) (Docs, error) { return Docs{Manifest: manifest, Readme: []byte("r\n")}, nil }
	var buf bytes.Buffer
	if _, err := Write(context.Background(), &buf, srcs, render, Options{Signer: fakeSigner{deterministic: true}}); err != nil {
		t.Fatal(err)
	}
	ents := entries(t, buf.Bytes())
	want := map[string]string{
		layout.Manifest + layout.SigSuffix:   fmt.Sprintf("sig %s of %d bytes", digest.Sum(manifest).Hex(), len(manifest)),
		layout.Provenance + layout.SigSuffix: fmt.Sprintf("sig %s of %d bytes", digest.Sum([]byte(prov)).Hex(), len(prov)),
	}
	for name, w := range want {
		if got := string(ents[name]); got != w {
			t.Errorf("%s = %q, want %q", name, got, w)
		}
	}

	_, err := Write(context.Background(), io.Discard, srcs, render, Options{Signer: fakeSigner{}})
	if err == nil || !strings.Contains(err.Error(), "deterministic") {
		t.Errorf("a non-deterministic signer: err = %v", err)
	}
}
