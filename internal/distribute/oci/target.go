package oci

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"time"

	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// OpenLayout opens (creating it if needed) the OCI image layout at dir for
// writing.
func OpenLayout(ctx context.Context, dir string) (*oci.Store, error) {
	if st, err := os.Lstat(dir); err == nil && !st.IsDir() {
		return nil, exitcode.Invalidf("%s: not a directory", dir)
	}
	s, err := oci.NewWithContext(ctx, dir)
	if err != nil {
		return nil, exitcode.Invalidf("oci layout %s: %v", dir, err)
	}
	return s, nil
}

// ReadLayout opens the OCI image layout at dir read-only. Every file is
// opened without following symbolic links and without blocking: a FIFO,
// device or link in the layout is refused (exit 3).
func ReadLayout(ctx context.Context, dir string) (*oci.ReadOnlyStore, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("oci layout: %w", exitcode.WithCode(exitcode.Invalid, err))
	}
	if !st.IsDir() {
		return nil, exitcode.Invalidf("oci layout %s: not a directory", dir)
	}
	s, err := oci.NewFromFS(ctx, safeFS(dir))
	if err != nil {
		return nil, exitcode.Invalidf("oci layout %s: %v", dir, err)
	}
	return s, nil
}

// safeFS serves a layout's files through safefile.OpenNoFollow.
type safeFS string

func (d safeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := safefile.OpenNoFollow(filepath.Join(string(d), filepath.FromSlash(path.Clean(name))))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// RegistryOptions say how to reach a registry.
type RegistryOptions struct {
	// PlainHTTP allows http:// to a registry that is not on loopback
	// (--insecure-registry). A loopback registry is always reached over
	// plain HTTP.
	PlainHTTP bool
	// DockerConfig is the content of a Docker config file whose "auths"
	// give the credentials (credential helpers are not run); nil: none.
	DockerConfig []byte
	// UserAgent is sent with every request.
	UserAgent string
}

// IsLoopback says whether host (with or without a port) is a loopback
// address or "localhost".
func IsLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ParseReference parses REGISTRY/REPO[:TAG|@sha256:<hex>] (exit 2 when it
// is not one).
func ParseReference(ref string) (registry.Reference, error) {
	r, err := registry.ParseReference(ref)
	if err != nil {
		return registry.Reference{}, exitcode.Usagef("reference %q: %v", clip(ref), err)
	}
	return r, nil
}

// NewRepository returns the repository ref names (its tag or digest is not
// used), reached with opt: connection, TLS handshake and response-header
// timeouts, credentials from opt.DockerConfig.
func NewRepository(ref registry.Reference, opt RegistryOptions) (*remote.Repository, error) {
	repo, err := remote.NewRepository(ref.Registry + "/" + ref.Repository)
	if err != nil {
		return nil, exitcode.Usagef("repository %q: %v", clip(ref.Registry+"/"+ref.Repository), err)
	}
	repo.PlainHTTP = opt.PlainHTTP || IsLoopback(ref.Registry)
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	client := &auth.Client{Client: &http.Client{Transport: tr}, Cache: auth.NewCache()}
	if opt.UserAgent != "" {
		client.SetUserAgent(opt.UserAgent)
	}
	if opt.DockerConfig != nil {
		store, err := credentials.NewMemoryStoreFromDockerConfig(opt.DockerConfig)
		if err != nil {
			return nil, exitcode.Invalidf("registry credentials: %v", err)
		}
		client.Credential = credentials.Credential(store)
	}
	repo.Client = client
	return repo, nil
}

// OnlyTag returns the one bundle tag of the layout at dir (referrers tags
// aside), or a usage error asking for DIR:TAG.
func OnlyTag(ctx context.Context, s *oci.ReadOnlyStore, dir string) (string, error) {
	var tags []string
	err := s.Tags(ctx, "", func(ts []string) error {
		for _, t := range ts {
			if !IsReferrersTag(t) {
				tags = append(tags, t)
			}
		}
		return nil
	})
	if err != nil {
		return "", exitcode.Invalidf("oci layout %s: %v", dir, err)
	}
	if len(tags) != 1 {
		return "", exitcode.Usagef("%s: %d bundle tags in the layout; name one as DIR:TAG", dir, len(tags))
	}
	return tags[0], nil
}
