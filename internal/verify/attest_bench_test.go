package verify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/provenance"
	"github.com/stella-ops/stella-export/internal/signing"
)

// BenchmarkAttest measures the memory of stella-export sign --attest
// (signing.SignFile) and verify --key --attestation (Verify with the
// attestation) on a bundle whose provenance.json lists 20,000 and 200,000
// input documents. peak-heap-MB is the most live heap seen while one
// operation ran, above what was live before it (sampled every millisecond;
// a measurement, not a test): it should not grow with the number of inputs.
func BenchmarkAttest(b *testing.B) {
	for _, n := range []int{20000, 200000} {
		path, s := attestBundle(b, n)
		b.Run(fmt.Sprintf("sign/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var peak uint64
			for b.Loop() {
				peak = max(peak, peakHeap(func() {
					if _, err := signing.SignFile(context.Background(), signing.FileOptions{Artifact: path, Signer: s, Attest: true, Force: true}); err != nil {
						b.Fatal(err)
					}
				}))
			}
			b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
		})
		b.Run(fmt.Sprintf("verify/%d", n), func(b *testing.B) {
			if _, err := signing.SignFile(context.Background(), signing.FileOptions{Artifact: path, Signer: s, Attest: true, Force: true}); err != nil {
				b.Fatal(err)
			}
			att, err := os.ReadFile(path + ".intoto.jsonl")
			if err != nil {
				b.Fatal(err)
			}
			opt := Options{Signatures: &SignatureOptions{Key: s.Public(),
				Detached: []Detached{{Kind: DetachedAttestation, Path: "b.tgz.intoto.jsonl", Data: att}}}}
			b.ReportAllocs()
			var peak uint64
			for b.Loop() {
				peak = max(peak, peakHeap(func() {
					f, err := os.Open(path)
					if err != nil {
						b.Fatal(err)
					}
					defer f.Close()
					rep, err := Verify(context.Background(), f, opt)
					if err != nil {
						b.Fatal(err)
					}
					if sc := rep.Signatures[len(rep.Signatures)-1]; sc.Kind != DetachedAttestation || sc.Status != "verified" {
						b.Fatalf("attestation not verified: %+v", rep.Signatures)
					}
				}))
			}
			b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
		})
	}
}

// attestBundle writes a bundle holding export.json, a provenance.json of n
// inputs and one data file, and returns its path and a signer.
func attestBundle(b *testing.B, n int) (string, signing.Signer) {
	b.Helper()
	hexOf := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	head := provenance.Head{ExportID: "urn:stella:export:acme:bench", Profile: "json:raw", Tenant: "acme", ExporterVersion: "0.0.0-dev",
		Adapters:  json.RawMessage(`[{"name":"json:raw","version":"1"}]`),
		Contract:  provenance.Descriptor{Name: "contract", Digest: provenance.DigestSet{SHA256: hexOf("contract")}},
		Selectors: json.RawMessage(`{"tenants":["acme"]}`)}
	one := []provenance.Descriptor{{Name: "data/a", Digest: provenance.DigestSet{SHA256: hexOf("a")}}}
	var prov bytes.Buffer
	err := provenance.Write(&prov, head,
		func(yield func(provenance.Descriptor, error) bool) { yield(one[0], nil) },
		func(yield func(provenance.Descriptor, error) bool) {
			for i := range n {
				name := fmt.Sprintf("acme/vex/s%04d/%08d.json", i%1000, i)
				if !yield(provenance.Descriptor{Name: name, Digest: provenance.DigestSet{SHA256: hexOf(name)}}, nil) {
					return
				}
			}
		})
	if err != nil {
		b.Fatal(err)
	}
	manifest := []byte(`{"contract":{"digest":"sha256:` + hexOf("contract") + `","planDigest":"sha256:` + hexOf("plan") + `"},"exportId":"urn:stella:export:acme:bench","profile":"json:raw"}` + "\n")
	docs := func(bundle.Summary) (bundle.Docs, error) {
		return bundle.Docs{Manifest: manifest, Readme: []byte("# r\n")}, nil
	}
	path := filepath.Join(b.TempDir(), "b.tgz")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	srcs := []bundle.Source{memSource("data/a", []byte("a")), memSource("provenance.json", prov.Bytes())}
	if _, err := bundle.Write(context.Background(), f, bundle.List(srcs), docs, bundle.Options{}); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d inputs: provenance.json %d bytes", n, prov.Len())
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := signing.NewSigner(k)
	if err != nil {
		b.Fatal(err)
	}
	return path, signer
}

// peakHeap runs fn and returns the most live heap seen while it ran, above
// what was live before.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	base := liveHeap()
	stop := make(chan struct{})
	done := make(chan uint64)
	go func() {
		var top uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if h := liveHeap(); h > top {
				top = h
			}
			select {
			case <-stop:
				done <- top
				return
			case <-t.C:
			}
		}
	}()
	fn()
	end := liveHeap() // what fn's caller still holds (a report) counts too
	close(stop)
	top := max(<-done, end)
	if top < base {
		return 0
	}
	return top - base
}
