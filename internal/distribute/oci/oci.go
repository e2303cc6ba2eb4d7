// Package oci publishes export bundles as OCI 1.1 artifacts (with
// oras-go) into an OCI image layout directory or a registry, and pulls them
// back.
//
// A bundle becomes one image manifest: artifactType ArtifactType, the empty
// config (application/vnd.oci.empty.v1+json), the bundle as its only layer
// (media type BundleMediaType, titled <exportId>.tgz), and annotations taken
// from the verified bundle: org.opencontainers.image.created (export.json's
// createdAtUtc) and the Annotation* keys below. The detached signature,
// Sigstore bundle and DSSE attestation found beside the bundle become
// referrers: one manifest each, whose subject is the bundle manifest and
// whose artifactType names the kind. Every manifest is a function of the
// bundle's bytes alone, so publishing the same bundle twice gives the same
// digests. docs/distribution.md is the user's description.
//
// The shell equivalent of a registry pull is
//
//	oras pull REGISTRY/REPO@sha256:<manifest> && stella-export verify <exportId>.tgz --root sha256:<root>
package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/signing"
	"github.com/stella-ops/stella-export/internal/tarball"
	"github.com/stella-ops/stella-export/internal/verify"
)

// Media types and artifact types (docs/distribution.md#media-types).
const (
	// ArtifactType is the artifactType of a bundle's manifest.
	ArtifactType = "application/vnd.stella-ops.export.bundle.v1"
	// BundleMediaType is the media type of the bundle layer: the .tgz as is.
	BundleMediaType = "application/vnd.stella-ops.export.bundle.v1.tar+gzip"
	// SignatureType is the artifactType and layer media type of a
	// detached signature (BUNDLE.sig: base64, cosign-compatible).
	SignatureType = "application/vnd.stella-ops.export.signature.v1"
	// SigstoreBundleType is that of a Sigstore bundle (BUNDLE.sigstore.json).
	SigstoreBundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// AttestationType is that of a DSSE attestation (BUNDLE.intoto.jsonl).
	AttestationType = "application/vnd.dsse.envelope.v1+json"
)

// Annotations of a bundle manifest, besides org.opencontainers.image.created.
const (
	AnnotationExportID       = "org.stella-ops.export.id"
	AnnotationProfile        = "org.stella-ops.export.profile"
	AnnotationTenant         = "org.stella-ops.export.tenant"
	AnnotationRoot           = "org.stella-ops.export.root"
	AnnotationManifestDigest = "org.stella-ops.export.manifest-digest"
	AnnotationExpires        = "org.stella-ops.export.expires"
	AnnotationSHA256         = "org.stella-ops.export.sha256"
)

// MaxManifest bounds a manifest read from a layout or a registry.
const MaxManifest = 4 << 20

// maxExportJSON bounds the export.json read from a bundle.
const maxExportJSON = 1 << 20

// Kind is one kind of detached file published as a referrer.
type Kind struct {
	Name   string // verify.DetachedSignature, DetachedBundle, DetachedAttestation
	Type   string // artifactType and layer media type
	Suffix string // file name suffix beside the bundle
	Limit  int64  // largest accepted size
}

// Kinds lists the detached files, in the order they are published.
var Kinds = []Kind{
	{verify.DetachedSignature, SignatureType, layout.SigSuffix, 64 << 10},
	{verify.DetachedBundle, SigstoreBundleType, layout.SigstoreBundleSuffix, 16 << 20},
	{verify.DetachedAttestation, AttestationType, layout.AttestationSuffix, signing.MaxAttestation},
}

func kindOf(artifactType string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Type == artifactType {
			return k, true
		}
	}
	return Kind{}, false
}

// Detached is a detached file beside the bundle.
type Detached struct {
	Kind Kind
	Path string
	Data []byte
}

// Bundle is a verified bundle ready to publish.
type Bundle struct {
	Path           string
	SHA256         string // bare hex of the archive
	Size           int64
	ExportID       string
	Profile        string
	Tenant         string // empty for profiles without one
	Root           string // Merkle root, sha256:<hex>
	CreatedAt      string // export.json's createdAtUtc
	ExpiresAt      string // export.json's expiresAtUtc, or empty
	ManifestDigest string // sha256:<hex> of export.json
	Detached       []Detached
}

// NotVerifiedError refuses to publish a bundle that does not verify (exit 1).
type NotVerifiedError struct {
	Path string
	Err  error
}

func (e *NotVerifiedError) Error() string {
	return fmt.Sprintf("%s: does not verify, not publishing: %v", e.Path, e.Err)
}
func (e *NotVerifiedError) Unwrap() error { return e.Err }

// Inspect verifies the bundle at path (refusing one that fails, exit 1) and
// reads what its manifest's annotations need from export.json, in the same
// single pass. The detached files beside it (path + layout.SigSuffix, ...)
// are read too, each under its Kind's limit; they are published as they
// are (verify --key checks them).
func Inspect(ctx context.Context, path string, limits tarball.Limits) (*Bundle, error) {
	f, err := safefile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open bundle: %w", err)
	}
	defer f.Close()
	var doc *bytes.Buffer
	tooLarge := false
	extract := func(name string, size int64) (io.WriteCloser, error) {
		if name != layout.Manifest {
			return nil, nil
		}
		if size > maxExportJSON {
			tooLarge = true
			return nil, nil
		}
		doc = bytes.NewBuffer(make([]byte, 0, size))
		return nopCloser{doc}, nil
	}
	rep, err := verify.Verify(ctx, f, verify.Options{Limits: limits, Extract: extract})
	if err != nil {
		if exitcode.For(err) == exitcode.Verify {
			return nil, &NotVerifiedError{Path: path, Err: err}
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case tooLarge:
		return nil, exitcode.Invalidf("%s: export.json: larger than 1 MiB", path)
	case doc == nil:
		return nil, exitcode.Invalidf("%s: export.json: missing from the bundle", path)
	}
	var m struct {
		ExportID  string `json:"exportId"`
		Profile   string `json:"profile"`
		Tenant    string `json:"tenant"`
		CreatedAt string `json:"createdAtUtc"`
		ExpiresAt string `json:"expiresAtUtc"`
	}
	if err := json.Unmarshal(doc.Bytes(), &m); err != nil {
		return nil, exitcode.Invalidf("%s: export.json: %v", path, err)
	}
	for _, fld := range []struct{ name, v string }{{"exportId", m.ExportID}, {"profile", m.Profile}, {"createdAtUtc", m.CreatedAt}} {
		if fld.v == "" {
			return nil, exitcode.Invalidf("%s: export.json: %s: missing", path, fld.name)
		}
	}
	for _, fld := range []struct{ name, v string }{{"exportId", m.ExportID}, {"profile", m.Profile}, {"tenant", m.Tenant}, {"createdAtUtc", m.CreatedAt}, {"expiresAtUtc", m.ExpiresAt}} {
		if err := safefile.CheckToken(path+": export.json: "+fld.name, fld.v); err != nil {
			return nil, err
		}
	}
	st, err := f.Stat()
	if err != nil {
		return nil, exitcode.WithCode(exitcode.IO, fmt.Errorf("stat %s: %w", path, err))
	}
	b := &Bundle{
		Path: path, SHA256: rep.SHA256, Size: st.Size(), ExportID: m.ExportID, Profile: m.Profile,
		Tenant: m.Tenant, Root: rep.Root, CreatedAt: m.CreatedAt, ExpiresAt: m.ExpiresAt,
		ManifestDigest: digest.FromBytes(doc.Bytes()).String(),
	}
	for _, k := range Kinds {
		p := path + k.Suffix
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		data, err := safefile.ReadAll(p, k.Limit)
		if err != nil {
			return nil, fmt.Errorf("%s %w", k.Name, err)
		}
		b.Detached = append(b.Detached, Detached{Kind: k, Path: p, Data: data})
	}
	return b, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Annotations are the bundle manifest's annotations.
func (b *Bundle) Annotations() map[string]string {
	a := map[string]string{
		ocispec.AnnotationCreated: b.CreatedAt,
		AnnotationExportID:        b.ExportID,
		AnnotationProfile:         b.Profile,
		AnnotationRoot:            b.Root,
		AnnotationManifestDigest:  b.ManifestDigest,
		AnnotationSHA256:          "sha256:" + b.SHA256,
	}
	if b.Tenant != "" {
		a[AnnotationTenant] = b.Tenant
	}
	if b.ExpiresAt != "" {
		a[AnnotationExpires] = b.ExpiresAt
	}
	return a
}

// Referrer is one published detached file.
type Referrer struct {
	Kind         string `json:"kind"`
	ArtifactType string `json:"artifactType"`
	Digest       string `json:"digest"`
}

// Published is what Publish and Copy pushed.
type Published struct {
	Manifest  ocispec.Descriptor
	Tag       string
	Referrers []Referrer
}

// Publish pushes b into dst: the bundle layer (streamed from b.Path; a file
// changed since Inspect fails its digest check), the empty config, the
// manifest, tagged tag, and a referrer for each detached file.
func Publish(ctx context.Context, dst oras.Target, b *Bundle, tag string) (*Published, error) {
	layer := ocispec.Descriptor{
		MediaType:   BundleMediaType,
		Digest:      digest.NewDigestFromEncoded(digest.SHA256, b.SHA256),
		Size:        b.Size,
		Annotations: map[string]string{ocispec.AnnotationTitle: b.ExportID + ".tgz"},
	}
	if err := pushFile(ctx, dst, layer, b.Path); err != nil {
		return nil, err
	}
	man, err := oras.PackManifest(ctx, dst, oras.PackManifestVersion1_1, ArtifactType, oras.PackManifestOptions{
		Layers: []ocispec.Descriptor{layer}, ManifestAnnotations: b.Annotations(),
	})
	if err != nil {
		return nil, pushError("manifest", err)
	}
	if err := dst.Tag(ctx, man, tag); err != nil {
		return nil, pushError("tag "+tag, err)
	}
	pub := &Published{Manifest: man, Tag: tag}
	for _, d := range b.Detached {
		desc := content.NewDescriptorFromBytes(d.Kind.Type, d.Data)
		desc.Annotations = map[string]string{ocispec.AnnotationTitle: b.ExportID + ".tgz" + d.Kind.Suffix}
		if err := pushBytes(ctx, dst, desc, d.Data); err != nil {
			return nil, err
		}
		subject := ocispec.Descriptor{MediaType: man.MediaType, Digest: man.Digest, Size: man.Size}
		ref, err := oras.PackManifest(ctx, dst, oras.PackManifestVersion1_1, d.Kind.Type, oras.PackManifestOptions{
			Subject: &subject, Layers: []ocispec.Descriptor{desc},
			ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: b.CreatedAt},
		})
		if err != nil {
			return nil, pushError(d.Kind.Name+" referrer", err)
		}
		pub.Referrers = append(pub.Referrers, Referrer{Kind: d.Kind.Name, ArtifactType: d.Kind.Type, Digest: ref.Digest.String()})
	}
	return pub, nil
}

func pushFile(ctx context.Context, dst oras.Target, desc ocispec.Descriptor, path string) error {
	if ok, err := dst.Exists(ctx, desc); err == nil && ok {
		return nil
	}
	f, err := safefile.Open(path)
	if err != nil {
		return fmt.Errorf("open bundle: %w", err)
	}
	defer f.Close()
	if err := dst.Push(ctx, desc, f); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return pushError("bundle layer", err)
	}
	return nil
}

func pushBytes(ctx context.Context, dst oras.Target, desc ocispec.Descriptor, data []byte) error {
	if ok, err := dst.Exists(ctx, desc); err == nil && ok {
		return nil
	}
	if err := dst.Push(ctx, desc, bytes.NewReader(data)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return pushError("blob "+desc.Digest.String(), err)
	}
	return nil
}

// pushError classifies a failed push: a digest mismatch is invalid input
// (the file changed), the rest I/O (exit 4).
func pushError(what string, err error) error {
	if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) {
		return exitcode.Invalidf("push %s: %v", what, err)
	}
	return exitcode.WithCode(exitcode.IO, fmt.Errorf("push %s: %w", what, err))
}

// Copy copies the bundle manifest src resolves ref to, with its blobs and
// its referrers (only those of the Kinds), into dst, tagged tag.
func Copy(ctx context.Context, src oras.ReadOnlyGraphTarget, ref string, dst oras.Target, tag string) (*Published, *Artifact, error) {
	art, err := Resolve(ctx, src, ref)
	if err != nil {
		return nil, nil, err
	}
	refs, err := art.Referrers(ctx, src)
	if err != nil {
		return nil, nil, err
	}
	keep := map[digest.Digest]bool{}
	for _, r := range refs {
		keep[r.Digest] = true
	}
	opts := oras.ExtendedCopyOptions{ExtendedCopyGraphOptions: oras.ExtendedCopyGraphOptions{
		Depth: 1,
		FindPredecessors: func(ctx context.Context, s content.ReadOnlyGraphStorage, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
			if d.Digest != art.Desc.Digest {
				return nil, nil
			}
			return refs, nil
		},
	}}
	man, err := oras.ExtendedCopy(ctx, src, art.Desc.Digest.String(), dst, tag, opts)
	if err != nil {
		return nil, nil, exitcode.WithCode(exitcode.IO, fmt.Errorf("copy %s: %w", ref, err))
	}
	pub := &Published{Manifest: man, Tag: tag}
	for _, r := range refs {
		k, _ := kindOf(r.ArtifactType)
		pub.Referrers = append(pub.Referrers, Referrer{Kind: k.Name, ArtifactType: r.ArtifactType, Digest: r.Digest.String()})
	}
	return pub, art, nil
}

// Artifact is a resolved bundle manifest.
type Artifact struct {
	Desc        ocispec.Descriptor
	Layer       ocispec.Descriptor
	Annotations map[string]string
}

// NotBundleError says a reference is not a stella-export bundle (exit 3).
type NotBundleError struct {
	Ref    string
	Reason string
}

func (e *NotBundleError) Error() string {
	return fmt.Sprintf("%s: not a stella-export bundle: %s", e.Ref, e.Reason)
}
func (e *NotBundleError) Unwrap() error { return exitcode.ErrInvalid }

// Resolve finds ref (a tag or sha256:<hex>) in src and checks that it is a
// bundle manifest: an image manifest of at most MaxManifest bytes, with
// ArtifactType and exactly one layer of BundleMediaType.
func Resolve(ctx context.Context, src oras.ReadOnlyTarget, ref string) (*Artifact, error) {
	desc, err := src.Resolve(ctx, ref)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return nil, exitcode.Invalidf("%s: not found", ref)
		}
		return nil, exitcode.WithCode(exitcode.IO, fmt.Errorf("resolve %s: %w", ref, err))
	}
	m, err := fetchManifest(ctx, src, desc, ref)
	if err != nil {
		return nil, err
	}
	at := m.ArtifactType
	if at == "" {
		at = m.Config.MediaType
	}
	if at != ArtifactType {
		return nil, &NotBundleError{Ref: ref, Reason: fmt.Sprintf("artifactType %q, want %q", clip(at), ArtifactType)}
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != BundleMediaType {
		return nil, &NotBundleError{Ref: ref, Reason: fmt.Sprintf("want one layer of %s", BundleMediaType)}
	}
	if m.Layers[0].Size < 0 {
		return nil, &NotBundleError{Ref: ref, Reason: "negative layer size"}
	}
	plain := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	return &Artifact{Desc: plain, Layer: m.Layers[0], Annotations: m.Annotations}, nil
}

func fetchManifest(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor, ref string) (*ocispec.Manifest, error) {
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		return nil, &NotBundleError{Ref: ref, Reason: fmt.Sprintf("media type %q, want %s", clip(desc.MediaType), ocispec.MediaTypeImageManifest)}
	}
	if desc.Size < 0 || desc.Size > MaxManifest {
		return nil, exitcode.Invalidf("%s: manifest of %d bytes: larger than %d", ref, desc.Size, MaxManifest)
	}
	data, err := content.FetchAll(ctx, src, desc)
	if err != nil {
		return nil, fetchError(ref, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, exitcode.Invalidf("%s: manifest: %v", ref, err)
	}
	return &m, nil
}

func fetchError(what string, err error) error {
	if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) || errors.Is(err, io.ErrUnexpectedEOF) {
		return exitcode.Invalidf("fetch %s: %v", what, err)
	}
	if errors.Is(err, errdef.ErrNotFound) {
		return exitcode.Invalidf("fetch %s: not found", what)
	}
	return exitcode.WithCode(exitcode.IO, fmt.Errorf("fetch %s: %w", what, err))
}

// Referrers lists the referrers of the artifact that are detached files
// of a known Kind, sorted by artifactType then digest.
func (a *Artifact) Referrers(ctx context.Context, src content.ReadOnlyGraphStorage) ([]ocispec.Descriptor, error) {
	all, err := registry.Referrers(ctx, src, a.Desc, "")
	if err != nil {
		return nil, exitcode.WithCode(exitcode.IO, fmt.Errorf("list referrers of %s: %w", a.Desc.Digest, err))
	}
	var out []ocispec.Descriptor
	for _, d := range all {
		if d.MediaType != ocispec.MediaTypeImageManifest {
			continue
		}
		if d.ArtifactType == "" {
			// Tools that predate image-spec 1.1 (skopeo 1.9) drop
			// artifactType when they copy a referrers index: read it from
			// the referrer itself.
			m, err := fetchManifest(ctx, src, d, "referrer "+d.Digest.String())
			if err != nil {
				return nil, err
			}
			if m.Subject == nil || m.Subject.Digest != a.Desc.Digest {
				continue
			}
			d.ArtifactType = m.ArtifactType
		}
		if _, ok := kindOf(d.ArtifactType); ok {
			out = append(out, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType})
		}
	}
	slices.SortFunc(out, func(x, y ocispec.Descriptor) int {
		if c := strings.Compare(x.ArtifactType, y.ArtifactType); c != 0 {
			return c
		}
		return strings.Compare(string(x.Digest), string(y.Digest))
	})
	return out, nil
}

// FetchLayer copies the bundle layer to w, checking its size and digest: a
// mismatch is exit 3 (and what was written must be discarded).
func (a *Artifact) FetchLayer(ctx context.Context, src content.Fetcher, w io.Writer) error {
	rc, err := src.Fetch(ctx, a.Layer)
	if err != nil {
		return fetchError("bundle layer "+a.Layer.Digest.String(), err)
	}
	defer rc.Close()
	vr := content.NewVerifyReader(rc, a.Layer)
	if _, err := io.Copy(w, vr); err != nil {
		return fetchError("bundle layer "+a.Layer.Digest.String(), err)
	}
	if err := vr.Verify(); err != nil {
		return fetchError("bundle layer "+a.Layer.Digest.String(), err)
	}
	return nil
}

// FetchDetached fetches the detached file a referrer carries: its manifest
// must name the artifact as subject and hold one layer of its kind's type,
// of at most the kind's limit; digests are checked.
func (a *Artifact) FetchDetached(ctx context.Context, src content.Fetcher, ref ocispec.Descriptor) (Kind, []byte, error) {
	k, ok := kindOf(ref.ArtifactType)
	if !ok {
		return Kind{}, nil, exitcode.Invalidf("referrer %s: unknown artifactType %q", ref.Digest, clip(ref.ArtifactType))
	}
	m, err := fetchManifest(ctx, src, ref, "referrer "+ref.Digest.String())
	if err != nil {
		return k, nil, err
	}
	if m.Subject == nil || m.Subject.Digest != a.Desc.Digest {
		return k, nil, exitcode.Invalidf("referrer %s: subject is not %s", ref.Digest, a.Desc.Digest)
	}
	if m.ArtifactType != k.Type || len(m.Layers) != 1 || m.Layers[0].MediaType != k.Type {
		return k, nil, exitcode.Invalidf("referrer %s: want artifactType and one layer of %s", ref.Digest, k.Type)
	}
	l := m.Layers[0]
	if l.Size < 0 || l.Size > k.Limit {
		return k, nil, exitcode.Invalidf("referrer %s: %s of %d bytes: larger than %d", ref.Digest, k.Name, l.Size, k.Limit)
	}
	data, err := content.FetchAll(ctx, src, l)
	if err != nil {
		return k, nil, fetchError(k.Name+" "+l.Digest.String(), err)
	}
	return k, data, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// DefaultTag is the tag of an export: its id, with every character a tag
// cannot hold (":", "@", "+") replaced by "-", a leading "." or "-" by "_",
// cut to 128 characters.
func DefaultTag(exportID string) string {
	t := []byte(exportID)
	for i, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			t[i] = '-'
		}
	}
	if len(t) > 0 && (t[0] == '.' || t[0] == '-') {
		t[0] = '_'
	}
	if len(t) > 128 {
		t = t[:128]
	}
	return string(t)
}

// CheckTag refuses what is not a valid tag (exit 2 at the flag).
func CheckTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return exitcode.Usagef("tag %q: want 1 to 128 of A-Z a-z 0-9 _ . -, not starting with . or -", clip(tag))
	}
	return nil
}

// TenantComponent is the repository path component of a tenant: lower
// case, every run of characters other than a-z and 0-9 replaced by one "-",
// no "-" at either end.
func TenantComponent(tenant string) (string, error) {
	var sb strings.Builder
	dash := false
	for _, c := range strings.ToLower(tenant) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			if dash && sb.Len() > 0 {
				sb.WriteByte('-')
			}
			dash = false
			sb.WriteRune(c)
			continue
		}
		dash = true
	}
	if sb.Len() == 0 {
		return "", exitcode.Invalidf("tenant %q: no letter or digit to name a repository with", clip(tenant))
	}
	return sb.String(), nil
}

// SplitLayoutRef splits DIR[:TAG] or DIR@sha256:<hex>; the tag (or digest)
// is empty when none is given. A colon before the last "/" belongs to DIR.
func SplitLayoutRef(s string) (dir, ref string) {
	if i := strings.LastIndex(s, "@"); i > 0 && strings.HasPrefix(s[i+1:], "sha256:") {
		return s[:i], s[i+1:]
	}
	slash := strings.LastIndex(s, "/")
	if i := strings.LastIndex(s, ":"); i > slash && i > 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// SortLayoutIndex rewrites DIR/index.json with its manifests sorted by tag
// then digest (oras-go writes them in map order), so that publishing the
// same bundles gives the same bytes.
func SortLayoutIndex(dir string) error {
	p := filepath.Join(dir, ocispec.ImageIndexFile)
	data, err := safefile.ReadAll(p, MaxManifest)
	if err != nil {
		return err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return exitcode.Invalidf("%s: %v", p, err)
	}
	slices.SortFunc(idx.Manifests, func(x, y ocispec.Descriptor) int {
		if c := strings.Compare(x.Annotations[ocispec.AnnotationRefName], y.Annotations[ocispec.AnnotationRefName]); c != 0 {
			return c
		}
		return strings.Compare(string(x.Digest), string(y.Digest))
	})
	if idx.Versioned == (specs.Versioned{}) {
		idx.SchemaVersion = 2
	}
	out, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return exitcode.WithCode(exitcode.IO, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return exitcode.WithCode(exitcode.IO, err)
	}
	return nil
}

// ReferrersTag is the tag of the referrers index of subject in the OCI
// distribution spec's referrers tag schema: sha256-<hex>.
func ReferrersTag(subject digest.Digest) string {
	return subject.Algorithm().String() + "-" + subject.Encoded()
}

// IsReferrersTag says whether tag is a referrers tag schema tag.
func IsReferrersTag(tag string) bool { return referrersTagRE.MatchString(tag) }

var referrersTagRE = regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)

// TagReferrers writes the referrers index of pub's manifest (an image index
// listing its referrers) into dst, tagged ReferrersTag: the form registries
// without the referrers API keep, so that a plain copy of that tag (skopeo
// copy --all oci:DIR:sha256-<hex> docker://REPO:sha256-<hex>) carries the
// referrers to such a registry, where pull and oras find them.
func TagReferrers(ctx context.Context, dst oras.Target, pub *Published) error {
	if len(pub.Referrers) == 0 {
		return nil
	}
	idx := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{},
	}
	for _, r := range pub.Referrers {
		d, err := dst.Resolve(ctx, r.Digest)
		if err != nil {
			return pushError("referrers index", err)
		}
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: r.ArtifactType})
	}
	data, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, data)
	if err := pushBytes(ctx, dst, desc, data); err != nil {
		return err
	}
	if err := dst.Tag(ctx, desc, ReferrersTag(pub.Manifest.Digest)); err != nil {
		return pushError("referrers tag", err)
	}
	return nil
}
