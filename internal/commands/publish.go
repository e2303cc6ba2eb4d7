package commands

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2"

	"github.com/stella-ops/stella-export/internal/distribute/oci"
	"github.com/stella-ops/stella-export/internal/distribute/record"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/tarball"
	"github.com/stella-ops/stella-export/internal/version"
)

// registryOptions are the flags of the commands that reach a registry.
type registryOptions struct {
	allowNetwork bool
	insecure     bool
	authFile     string
}

func (o *registryOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.allowNetwork, "allow-network", false, "allow registry access; off by default (air gap)")
	f.BoolVar(&o.insecure, "insecure-registry", false, "allow plain HTTP to a registry that is not on loopback")
	f.StringVar(&o.authFile, "registry-auth-file", "", "Docker config file whose \"auths\" hold the registry credentials (default $DOCKER_CONFIG/config.json, else ~/.docker/config.json, when present)")
}

const enableNetworkHint = "registry access is off by default (air gap); enable it with --allow-network (or allow-network: true in the config)"

func (o *registryOptions) check(flag string) error {
	if !o.allowNetwork {
		return withHint(exitcode.Usagef("%s: registry access is disabled", flag), enableNetworkHint)
	}
	return nil
}

// repository opens the registry repository of ref with the options.
func (o *registryOptions) repository(e *env, ref string) (*remoteRepo, error) {
	r, err := oci.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	cfg, err := o.dockerConfig(e)
	if err != nil {
		return nil, err
	}
	repo, err := oci.NewRepository(r, oci.RegistryOptions{PlainHTTP: o.insecure, DockerConfig: cfg, UserAgent: "stella-export/" + version.String()})
	if err != nil {
		return nil, err
	}
	return &remoteRepo{Target: repo, name: r.Registry + "/" + r.Repository, ref: r.Reference}, nil
}

// remoteRepo is a registry repository and the tag or digest the
// reference named (or "").
type remoteRepo struct {
	Target    oras.GraphTarget
	name, ref string
}

// dockerConfig reads --registry-auth-file, or the Docker config file when
// there is one: a regular file of at most 1 MiB.
func (o *registryOptions) dockerConfig(e *env) ([]byte, error) {
	p := o.authFile
	if p == "" {
		dir := e.getenv("DOCKER_CONFIG")
		if dir == "" {
			home := e.getenv("HOME")
			if home == "" {
				return nil, nil
			}
			dir = filepath.Join(home, ".docker")
		}
		p = filepath.Join(dir, "config.json")
		if _, err := os.Stat(p); err != nil {
			return nil, nil
		}
	}
	data, err := safefile.ReadAll(p, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("registry credentials %w", err)
	}
	if w := privateWarning(p); w != "" {
		fmt.Fprintf(e.stderr, "stella-export: warning: %s\n", w)
	}
	return data, nil
}

func privateWarning(p string) string {
	f, err := safefile.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	return safefile.PrivateWarning(f, p)
}

type publishOptions struct {
	registryOptions
	layout     string
	oci        string
	fromLayout string
	tenantRepo bool
}

func (o *publishOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.layout, "oci-layout", "", "publish into the OCI image layout DIR[:TAG] (created if needed; TAG defaults to the export id)")
	f.StringVar(&o.oci, "oci", "", "publish to the registry repository REGISTRY/REPO[:TAG] (needs --allow-network); the tenant is appended to REPO unless --tenant-repo=false")
	f.StringVar(&o.fromLayout, "from-oci-layout", "", "publish the bundle tagged TAG in the OCI layout DIR[:TAG] (with its referrers) to --oci, instead of a BUNDLE.tgz")
	f.BoolVar(&o.tenantRepo, "tenant-repo", true, "one repository per tenant: push to REGISTRY/REPO/<tenant>")
	o.registryOptions.addFlags(cmd)
}

func (o *publishOptions) validate(args []string) error {
	switch {
	case o.fromLayout != "":
		if len(args) != 0 {
			return exitcode.Usagef("--from-oci-layout publishes from the layout; no bundle argument")
		}
		if o.oci == "" || o.layout != "" {
			return exitcode.Usagef("--from-oci-layout goes with --oci REGISTRY/REPO[:TAG] alone")
		}
	case len(args) != 1:
		return exitcode.Usagef("want one bundle (a .tgz path), got %d arguments", len(args))
	case o.layout == "" && o.oci == "":
		return exitcode.Usagef("nothing to publish to: give --oci-layout DIR[:TAG] and/or --oci REGISTRY/REPO[:TAG]")
	}
	if o.layout != "" {
		dir, tag := oci.SplitLayoutRef(o.layout)
		if dir == "" {
			return exitcode.Usagef("--oci-layout: no directory")
		}
		if tag != "" {
			if err := oci.CheckTag(tag); err != nil {
				return fmt.Errorf("--oci-layout: %w", err)
			}
		}
	}
	if o.oci != "" {
		if err := o.check("--oci"); err != nil {
			return err
		}
		r, err := oci.ParseReference(o.oci)
		if err != nil {
			return fmt.Errorf("--oci: %w", err)
		}
		if strings.HasPrefix(r.Reference, "sha256:") {
			return exitcode.Usagef("--oci: publish to a repository or a tag, not a digest")
		}
	}
	return nil
}

func newPublishCmd(e *env) *cobra.Command {
	o := &publishOptions{}
	cmd := &cobra.Command{
		Use:   "publish BUNDLE.tgz --oci-layout DIR[:TAG] | --oci REGISTRY/REPO[:TAG] | publish --from-oci-layout DIR[:TAG] --oci REGISTRY/REPO[:TAG]",
		Short: "Publish a bundle as an OCI artifact into an OCI layout or a registry, digest-pinned",
		Long: `publish verifies BUNDLE.tgz and pushes it as an OCI 1.1 artifact: one
manifest of artifactType ` + oci.ArtifactType + `, the bundle as its only
layer, annotations for the export's createdAtUtc, id, profile, tenant,
Merkle root and export.json digest. BUNDLE.tgz.sig, BUNDLE.tgz.sigstore.json
and BUNDLE.tgz.intoto.jsonl beside it become referrers of that manifest
(docs/distribution.md).

--oci-layout DIR[:TAG] writes an OCI image layout (what crosses the air gap
on removable media); --oci REGISTRY/REPO[:TAG] pushes to a registry, into
REPO/<tenant> unless --tenant-repo=false. --from-oci-layout DIR[:TAG] --oci
REF copies a published bundle and its referrers from a layout to the
registry on the far side. TAG defaults to the export id.

Registry access needs --allow-network. Credentials come from the "auths" of
--registry-auth-file or the Docker config file (credential helpers are not
run). A loopback registry is reached over plain HTTP, any other over HTTPS
unless --insecure-registry.

Each destination prints one line: 'published REF@sha256:<manifest> (tag
TAG)', then 'referrer REF@sha256:<digest> KIND' for each referrer.`,
		Example: `  stella-export publish out/export.tgz --oci-layout /media/usb/oci
  stella-export publish --from-oci-layout /media/usb/oci:exp-1 --oci registry.local:5000/stella --allow-network`,
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.validate(args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			return runPublish(cmd.Context(), e, cmd, o, args)
		},
	}
	o.addFlags(cmd)
	return cmd
}

// publishRecord is the distribution record of one destination (--json).
type publishRecord struct {
	Type      string         `json:"type"`     // "oci-layout" or "oci"
	Location  string         `json:"location"` // REF@sha256:<manifest digest>
	Tag       string         `json:"tag"`
	SHA256    string         `json:"sha256"` // of the bundle, bare hex
	SizeBytes int64          `json:"size_bytes"`
	ExpiresAt string         `json:"expires_at"`
	Manifest  string         `json:"manifest"`
	Referrers []oci.Referrer `json:"referrers"`
}

func runPublish(ctx context.Context, e *env, cmd *cobra.Command, o *publishOptions, args []string) error {
	var recs []publishRecord
	if o.fromLayout != "" {
		rec, err := publishFromLayout(ctx, e, o)
		if err != nil {
			return err
		}
		recs = append(recs, *rec)
	} else {
		b, err := oci.Inspect(ctx, args[0], tarball.DefaultLimits)
		if err != nil {
			return err
		}
		if o.layout != "" {
			dir, tag := oci.SplitLayoutRef(o.layout)
			if tag == "" {
				tag = oci.DefaultTag(b.ExportID)
			}
			store, err := oci.OpenLayout(ctx, dir)
			if err != nil {
				return err
			}
			pub, err := oci.Publish(ctx, store, b, tag)
			if err != nil {
				return fmt.Errorf("--oci-layout %s: %w", dir, err)
			}
			if err := oci.TagReferrers(ctx, store, pub); err != nil {
				return fmt.Errorf("--oci-layout %s: %w", dir, err)
			}
			if err := oci.SortLayoutIndex(dir); err != nil {
				return err
			}
			recs = append(recs, publishedRecord("oci-layout", dir, pub, b.SHA256, b.Size, b.ExpiresAt))
		}
		if o.oci != "" {
			repo, tag, err := o.destination(e, b.Tenant, b.ExportID)
			if err != nil {
				return err
			}
			pub, err := oci.Publish(ctx, repo.Target, b, tag)
			if err != nil {
				return fmt.Errorf("--oci %s: %w", repo.name, err)
			}
			recs = append(recs, publishedRecord("oci", repo.name, pub, b.SHA256, b.Size, b.ExpiresAt))
		}
		// Every publish of the bundle is recorded in distributions.json
		// beside it (docs/distribution.md#distribution-records).
		for _, r := range recs {
			rec := record.Record{ExportID: b.ExportID, Type: r.Type, Location: r.Location, SHA256: r.SHA256, SizeBytes: r.SizeBytes}
			if r.ExpiresAt != "" {
				exp := r.ExpiresAt
				rec.ExpiresAt = &exp
			}
			if _, err := record.Append(ctx, filepath.Dir(args[0]), rec); err != nil {
				return fmt.Errorf("record the publish of %s: %w", args[0], err)
			}
		}
	}
	res := struct {
		Distributions []publishRecord `json:"distributions"`
	}{recs}
	return printResult(e, cmd, res, func(w io.Writer) {
		for _, r := range recs {
			fmt.Fprintf(w, "published %s (tag %s)\n", r.Location, r.Tag)
			name, _, _ := strings.Cut(r.Location, "@")
			for _, ref := range r.Referrers {
				fmt.Fprintf(w, "referrer %s@%s %s\n", name, ref.Digest, ref.Kind)
			}
		}
	})
}

// destination is the registry repository and tag --oci names for an
// export of tenant: REPO/<tenant> unless --tenant-repo=false.
func (o *publishOptions) destination(e *env, tenant, exportID string) (*remoteRepo, string, error) {
	r, err := oci.ParseReference(o.oci)
	if err != nil {
		return nil, "", err
	}
	name := r.Registry + "/" + r.Repository
	if o.tenantRepo {
		if tenant == "" {
			return nil, "", withHint(exitcode.Invalidf("--oci: the export has no tenant to name its repository"), "publish into the repository as given with --tenant-repo=false")
		}
		c, err := oci.TenantComponent(tenant)
		if err != nil {
			return nil, "", err
		}
		name += "/" + c
	}
	tag := r.Reference
	if tag == "" && exportID != "" {
		tag = oci.DefaultTag(exportID)
	}
	repo, err := o.repository(e, name)
	if err != nil {
		return nil, "", err
	}
	return repo, tag, nil
}

func publishFromLayout(ctx context.Context, e *env, o *publishOptions) (*publishRecord, error) {
	dir, ref := oci.SplitLayoutRef(o.fromLayout)
	src, err := oci.ReadLayout(ctx, dir)
	if err != nil {
		return nil, err
	}
	if ref == "" {
		if ref, err = oci.OnlyTag(ctx, src, dir); err != nil {
			return nil, fmt.Errorf("--from-oci-layout: %w", err)
		}
	}
	art, err := oci.Resolve(ctx, src, ref)
	if err != nil {
		return nil, fmt.Errorf("--from-oci-layout %s: %w", dir, err)
	}
	a := art.Annotations
	// The tag: --oci's, else the layout's, else the export id.
	repo, tag, err := o.destination(e, a[oci.AnnotationTenant], "")
	if err != nil {
		return nil, err
	}
	switch {
	case tag != "":
	case !strings.HasPrefix(ref, "sha256:"):
		tag = ref
	default:
		tag = oci.DefaultTag(a[oci.AnnotationExportID])
	}
	if err := oci.CheckTag(tag); err != nil {
		return nil, err
	}
	pub, _, err := oci.Copy(ctx, src, art.Desc.Digest.String(), repo.Target, tag)
	if err != nil {
		return nil, fmt.Errorf("--oci %s: %w", repo.name, err)
	}
	rec := publishedRecord("oci", repo.name, pub, strings.TrimPrefix(art.Layer.Digest.String(), "sha256:"), art.Layer.Size, a[oci.AnnotationExpires])
	return &rec, nil
}

func publishedRecord(typ, name string, pub *oci.Published, sha string, size int64, expires string) publishRecord {
	refs := pub.Referrers
	if refs == nil {
		refs = []oci.Referrer{}
	}
	return publishRecord{
		Type: typ, Location: name + "@" + pub.Manifest.Digest.String(), Tag: pub.Tag,
		SHA256: sha, SizeBytes: size, ExpiresAt: expires, Manifest: pub.Manifest.Digest.String(), Referrers: refs,
	}
}
