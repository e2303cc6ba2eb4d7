package oci

import (
	"context"
	"errors"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

func TestDefaultTag(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"exp-1", "exp-1"},
		{"urn:stella:export:acme:raw", "urn-stella-export-acme-raw"},
		{"a@b+c", "a-b-c"},
		{".hidden", "_hidden"},
		{"-x", "_x"},
	} {
		got := DefaultTag(c.in)
		if got != c.want {
			t.Errorf("DefaultTag(%q) = %q, want %q", c.in, got, c.want)
		}
		if err := CheckTag(got); err != nil {
			t.Errorf("DefaultTag(%q) = %q is not a valid tag: %v", c.in, got, err)
		}
	}
	long := make([]byte, 200)
	for i := range long {
		long[i] = 'a'
	}
	if got := DefaultTag(string(long)); len(got) != 128 {
		t.Errorf("DefaultTag of 200 characters has %d, want 128", len(got))
	}
	for _, bad := range []string{"", ".x", "-x", "a b", "a:b"} {
		if exitcode.For(CheckTag(bad)) != exitcode.Usage {
			t.Errorf("CheckTag(%q) is not a usage error", bad)
		}
	}
}

func TestTenantComponent(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"acme", "acme"},
		{"Acme:EU", "acme-eu"},
		{"a..b__c", "a-b-c"},
		{"-x-", "x"},
		{"B.1_2@x+y", "b-1-2-x-y"},
	} {
		got, err := TenantComponent(c.in)
		if err != nil || got != c.want {
			t.Errorf("TenantComponent(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := TenantComponent(":@+"); exitcode.For(err) != exitcode.Invalid {
		t.Errorf("TenantComponent(\":@+\") = %v, want an invalid-input error", err)
	}
}

func TestSplitLayoutRef(t *testing.T) {
	d := "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	for _, c := range []struct{ in, dir, ref string }{
		{"lay", "lay", ""},
		{"lay:v1", "lay", "v1"},
		{"/media/usb:1/oci", "/media/usb:1/oci", ""},
		{"/media/usb:1/oci:t", "/media/usb:1/oci", "t"},
		{"lay@" + d, "lay", d},
	} {
		dir, ref := SplitLayoutRef(c.in)
		if dir != c.dir || ref != c.ref {
			t.Errorf("SplitLayoutRef(%q) = %q, %q; want %q, %q", c.in, dir, ref, c.dir, c.ref)
		}
	}
}

// TestPlainHTTP: plain HTTP for loopback registries or with
// --insecure-registry only; anything else gets HTTPS.
func TestPlainHTTP(t *testing.T) {
	for _, c := range []struct {
		ref      string
		insecure bool
		plain    bool
	}{
		{"127.0.0.1:5000/x", false, true},
		{"127.1.2.3:5000/x", false, true},
		{"localhost:5000/x", false, true},
		{"[::1]:5000/x", false, true},
		{"registry.example:5000/x", false, false},
		{"10.0.0.1:5000/x", false, false},
		{"10.0.0.1:5000/x", true, true},
		{"localhost.example/x", false, false},
	} {
		r, err := ParseReference(c.ref)
		if err != nil {
			t.Fatal(err)
		}
		repo, err := NewRepository(r, RegistryOptions{PlainHTTP: c.insecure})
		if err != nil {
			t.Fatal(err)
		}
		if repo.PlainHTTP != c.plain {
			t.Errorf("%s (insecure %v): PlainHTTP = %v, want %v", c.ref, c.insecure, repo.PlainHTTP, c.plain)
		}
	}
}

func TestRegistryCredentials(t *testing.T) {
	r, _ := ParseReference("127.0.0.1:5000/x")
	if _, err := NewRepository(r, RegistryOptions{DockerConfig: []byte(`{"auths":{"127.0.0.1:5000":{"auth":"not base64!"}}}`)}); exitcode.For(err) != exitcode.Invalid {
		t.Errorf("bad auth: %v, want an invalid-input error", err)
	}
	if _, err := NewRepository(r, RegistryOptions{DockerConfig: []byte(`{"auths":{"127.0.0.1:5000":{"auth":"dTpw"}}}`)}); err != nil {
		t.Errorf("good auth: %v", err)
	}
}

// TestResolveRefusesOtherArtifacts: only a manifest of ArtifactType with one
// bundle layer is a bundle.
func TestResolveRefusesOtherArtifacts(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	layer := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", Size: 2}
	if err := s.Push(ctx, layer, strings.NewReader("{}")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tag, artifactType string
		layer             ocispec.Descriptor
	}{
		{"other", "application/vnd.example.sbom", layer},
		{"wronglayer", ArtifactType, layer},
	} {
		m, err := oras.PackManifest(ctx, s, oras.PackManifestVersion1_1, c.artifactType, oras.PackManifestOptions{
			Layers: []ocispec.Descriptor{c.layer}, ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2025-01-01T00:00:00Z"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Tag(ctx, m, c.tag); err != nil {
			t.Fatal(err)
		}
		_, err = Resolve(ctx, s, c.tag)
		var nb *NotBundleError
		if !errors.As(err, &nb) || exitcode.For(err) != exitcode.Invalid {
			t.Errorf("%s: Resolve = %v, want a *NotBundleError (exit 3)", c.tag, err)
		}
	}
	if _, err := Resolve(ctx, s, "missing"); exitcode.For(err) != exitcode.Invalid {
		t.Errorf("missing tag: %v, want exit 3", err)
	}
}
