package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/stella-ops/stella-export/internal/ctxio"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/tarball"
	"github.com/stella-ops/stella-export/internal/verify"
)

// ExpiryError refuses BuildOptions.ExpiresAt when it is not after the
// payload's created_at (exit 3).
type ExpiryError struct {
	ExpiresAt, CreatedAt string
}

func (e *ExpiryError) Error() string {
	return fmt.Sprintf("expires_at %s is not after created_at %s", e.ExpiresAt, e.CreatedAt)
}

func (e *ExpiryError) Unwrap() error { return exitcode.ErrInvalid }

// BuildOptions are the caller's part of a payload.
type BuildOptions struct {
	// ArtifactURI is where receivers download the export; "{exportId}" and
	// "{bundleId}" in it are replaced. Empty means DefaultArtifactURI.
	ArtifactURI string
	// CreatedAt overrides createdAtUtc of export.json when not zero.
	CreatedAt time.Time
	// ExpiresAt is written as expires_at when not zero; zero means the
	// bundle's expiresAtUtc (package --portable --retention-days), if any.
	ExpiresAt time.Time
	// Limits bound what is read from the (untrusted) bundle.
	Limits tarball.Limits
}

// ProfileError refuses a bundle that is not announced: a directory bundle
// of `package` (or, to FromBundle, anything but a portable export).
type ProfileError struct {
	Name    string
	Profile string
}

func (e *ProfileError) Error() string {
	return fmt.Sprintf("%s: export.json: profile %q: not announced; %s announces run bundles and %s portable evidence exports (%s)",
		e.Name, e.Profile, ReadyType, EventType, manifest.ProfilePortable)
}

func (e *ProfileError) Unwrap() error { return exitcode.ErrInvalid }

// FromBundle verifies the export bundle read from r (named name in
// messages) and builds its payload. A bundle that does not verify is refused
// with the *verify.FailedError (exit 1); one that is not an airgap-evidence
// export, or whose export.json lacks a field, with an invalid-input error
// (exit 3). The bundle is read and parsed once: export.json and the inner
// bundle's size come from the verifying pass (verify.Options.Extract) and
// are used only once it has succeeded.
func FromBundle(ctx context.Context, r io.Reader, name string, opt BuildOptions) (*Payload, *verify.Report, error) {
	rep, sc, size, err := verifyBundle(ctx, r, name, opt)
	if err != nil {
		return nil, rep, err
	}
	if rep.Profile != manifest.ProfilePortable {
		return nil, rep, &ProfileError{Name: name, Profile: rep.Profile}
	}
	p, err := portablePayload(name, rep, sc, size, opt)
	return p, rep, err
}

// verifyBundle verifies the bundle read from r and returns what the
// payloads are built from: the report, export.json (and the inner
// portable bundle's size) and the size of the bundle.
func verifyBundle(ctx context.Context, r io.Reader, name string, opt BuildOptions) (*verify.Report, *scanResult, int64, error) {
	count := &ctxio.CountReader{R: r}
	sc := &scanResult{innerSize: -1}
	rep, err := verify.Verify(ctx, count, verify.Options{Limits: opt.Limits, Extract: sc.extract})
	if err == nil {
		// Whatever verification left unread still counts for the size.
		_, err = io.Copy(io.Discard, count)
	}
	if err != nil {
		return rep, nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	if err := sc.check(); err != nil {
		return rep, nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	return rep, sc, count.N, nil
}

// portablePayload builds the export.airgap.ready.v1 payload of a verified
// portable export.
func portablePayload(name string, rep *verify.Report, sc *scanResult, size int64, opt BuildOptions) (*Payload, error) {
	var err error
	var m manifest.Portable
	if err := json.Unmarshal(sc.manifest.Bytes(), &m); err != nil {
		return nil, exitcode.Invalidf("%s: export.json: %v", name, err)
	}
	for _, f := range []struct{ field, v string }{
		{"bundleId", m.BundleID}, {"exportId", m.ExportID}, {"tenant", m.Tenant},
	} {
		if f.v == "" {
			return nil, exitcode.Invalidf("%s: export.json: %s: missing", name, f.field)
		}
		if err := safefile.CheckToken(name+": export.json: "+f.field, f.v); err != nil {
			return nil, err
		}
		if err := manifest.CheckID(f.field, f.v); err != nil {
			return nil, exitcode.Invalidf("%s: export.json: %v", name, err)
		}
	}
	if m.SourceURI == "" {
		return nil, exitcode.Invalidf("%s: export.json: sourceUri: missing", name)
	}
	if err := safefile.CheckToken(name+": export.json: sourceUri", m.SourceURI); err != nil {
		return nil, err
	}
	if m.PortableVersion != manifest.PortableVersion {
		return nil, exitcode.Invalidf("%s: export.json: portableVersion: %q is not supported (want %q)", name, clipString(m.PortableVersion, 80), manifest.PortableVersion)
	}
	if sc.innerSize < 0 {
		return nil, exitcode.Invalidf("%s: %s: missing from the bundle", name, layout.PortableInner)
	}
	if m.PortableSizeBytes != sc.innerSize {
		return nil, exitcode.Invalidf("%s: export.json: portableSizeBytes: %d, but %s is %d bytes", name, m.PortableSizeBytes, layout.PortableInner, sc.innerSize)
	}
	created := opt.CreatedAt
	if created.IsZero() {
		created, err = time.Parse(time.RFC3339, m.CreatedAtUTC)
		if err != nil {
			return nil, exitcode.Invalidf("%s: export.json: createdAtUtc: %q is not an RFC 3339 time", name, clipString(m.CreatedAtUTC, 80))
		}
	}
	p := &Payload{
		Type: EventType, ExportID: m.ExportID, BundleID: m.BundleID, TenantID: m.Tenant,
		ProfileID: manifest.ProfilePortable, PortableVersion: m.PortableVersion,
		RootHash: rep.Root, ArtifactSHA256: rep.SHA256,
		ArtifactURI: ArtifactURI(opt.ArtifactURI, m.ExportID, m.BundleID),
		CreatedAt:   manifest.Timestamp(created),
		Metadata: Metadata{SourceURI: m.SourceURI, PortableSizeBytes: sc.innerSize,
			ExportSizeBytes: size},
	}
	if opt.ExpiresAt.IsZero() && m.ExpiresAtUTC != "" {
		t, err := time.Parse(time.RFC3339, m.ExpiresAtUTC)
		if err != nil || manifest.Timestamp(t) != m.ExpiresAtUTC {
			return nil, exitcode.Invalidf("%s: export.json: expiresAtUtc: %q is not an RFC 3339 UTC time in whole seconds", name, clipString(m.ExpiresAtUTC, 80))
		}
		opt.ExpiresAt = t
	}
	if !opt.ExpiresAt.IsZero() {
		if !opt.ExpiresAt.After(created) {
			return nil, &ExpiryError{ExpiresAt: manifest.Timestamp(opt.ExpiresAt), CreatedAt: p.CreatedAt}
		}
		p.ExpiresAt = manifest.Timestamp(opt.ExpiresAt)
	}
	return p, nil
}

// ArtifactURI fills "{exportId}" and "{bundleId}" in tmpl (DefaultArtifactURI
// when empty) with the path-escaped ids.
func ArtifactURI(tmpl, exportID, bundleID string) string {
	if tmpl == "" {
		tmpl = DefaultArtifactURI
	}
	return strings.NewReplacer("{exportId}", url.PathEscape(exportID), "{bundleId}", url.PathEscape(bundleID)).Replace(tmpl)
}

// maxManifest bounds the export.json FromBundle reads.
const maxManifest = 1 << 20

// scanResult is what FromBundle takes from the verifying pass: the
// top-level export.json and the size of the inner portable bundle.
type scanResult struct {
	manifest  *bytes.Buffer
	tooLarge  bool  // export.json is larger than maxManifest
	innerSize int64 // -1 when the bundle has no portable-bundle-v1.tgz
}

// extract is the verify.Options.Extract of FromBundle. A too large
// export.json is not read, and refused once verification has succeeded.
func (s *scanResult) extract(name string, size int64) (io.WriteCloser, error) {
	switch name {
	case layout.Manifest:
		if size > maxManifest {
			s.tooLarge = true
			return nil, nil
		}
		s.manifest = bytes.NewBuffer(make([]byte, 0, size))
		return nopCloser{s.manifest}, nil
	case layout.PortableInner:
		s.innerSize = size
	}
	return nil, nil
}

func (s *scanResult) check() error {
	switch {
	case s.tooLarge:
		return exitcode.Invalidf("export.json: larger than 1 MiB")
	case s.manifest == nil:
		return exitcode.Invalidf("export.json: missing from the bundle")
	}
	return nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
