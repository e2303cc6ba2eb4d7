package commands

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/distribute/oci"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/tarball"
	"github.com/stella-ops/stella-export/internal/verify"
)

type pullOptions struct {
	registryOptions
	layout string
	output string
	force  bool
	keys   []string
	root   string
}

func (o *pullOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.layout, "oci-layout", "", "pull from the OCI image layout DIR[:TAG] or DIR@sha256:<manifest> instead of a registry")
	f.StringVarP(&o.output, "output", "o", "", "where to write the bundle (required); its referrers go beside it as OUTPUT.sig, OUTPUT.sigstore.json, OUTPUT.intoto.jsonl")
	f.BoolVar(&o.force, "force", false, "replace existing output files")
	f.StringArrayVar(&o.keys, "key", nil, "public key (PEM file or env://VAR) to check the pulled signatures with, as verify --key; repeatable")
	f.StringVar(&o.root, "root", "", "expected Merkle root, sha256:<hex> (default: the manifest's "+oci.AnnotationRoot+" annotation)")
	o.registryOptions.addFlags(cmd)
}

func (o *pullOptions) validate(args []string) error {
	if o.output == "" {
		return exitcode.Usagef("-o/--output B.tgz is required")
	}
	switch {
	case o.layout != "" && len(args) != 0:
		return exitcode.Usagef("--oci-layout pulls from the layout; no REF argument")
	case o.layout == "" && len(args) != 1:
		return exitcode.Usagef("want one reference REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:<hex> (or --oci-layout DIR[:TAG]), got %d arguments", len(args))
	case o.layout != "":
		if dir, _ := oci.SplitLayoutRef(o.layout); dir == "" {
			return exitcode.Usagef("--oci-layout: no directory")
		}
		return nil
	}
	if err := o.check(args[0]); err != nil {
		return err
	}
	r, err := oci.ParseReference(args[0])
	if err != nil {
		return err
	}
	if r.Reference == "" {
		return exitcode.Usagef("%s: name a tag (REPO:TAG) or a digest (REPO@sha256:<hex>)", args[0])
	}
	return nil
}

func newPullCmd(e *env) *cobra.Command {
	o := &pullOptions{}
	cmd := &cobra.Command{
		Use:   "pull REGISTRY/REPO:TAG|REGISTRY/REPO@sha256:<hex> -o B.tgz | pull --oci-layout DIR[:TAG] -o B.tgz",
		Short: "Fetch a published bundle and its referrers by tag or digest, then verify it",
		Long: `pull fetches a bundle that publish pushed: the manifest (which must be of
artifactType ` + oci.ArtifactType + `), the bundle layer, whose size and
digest are checked while it is written to -o, and the referrers (detached
signature, Sigstore bundle, attestation), each checked against its digest
and written beside it as B.tgz.sig, B.tgz.sigstore.json and
B.tgz.intoto.jsonl. Then it runs verify on B.tgz: every digest, the Merkle
root against --root or the manifest's root annotation, and with --key the
signatures. If verification fails the pulled files are removed (exit 1).

Registry access needs --allow-network; credentials, plain HTTP and
--insecure-registry as for publish (docs/distribution.md).`,
		Example: `  stella-export pull registry.local:5000/stella/acme@sha256:4e1f... -o export.tgz --key cosign.pub --allow-network
  stella-export pull --oci-layout /media/usb/oci:exp-1 -o export.tgz`,
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.validate(args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			return runPull(cmd.Context(), e, cmd, o, args)
		},
	}
	o.addFlags(cmd)
	return cmd
}

func runPull(ctx context.Context, e *env, cmd *cobra.Command, o *pullOptions, args []string) error {
	var src oras.ReadOnlyGraphTarget
	var name, ref string
	if o.layout != "" {
		dir, r := oci.SplitLayoutRef(o.layout)
		store, err := oci.ReadLayout(ctx, dir)
		if err != nil {
			return err
		}
		if r == "" {
			if r, err = oci.OnlyTag(ctx, store, dir); err != nil {
				return fmt.Errorf("--oci-layout: %w", err)
			}
		}
		src, name, ref = store, dir, r
	} else {
		repo, err := o.repository(e, args[0])
		if err != nil {
			return err
		}
		src, name, ref = repo.Target, repo.name, repo.ref
	}
	art, err := oci.Resolve(ctx, src, ref)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	refs, err := art.Referrers(ctx, src)
	if err != nil {
		return err
	}
	// Everything is fetched and checked before the first output appears.
	files := map[string][]byte{}
	var order []string
	for _, r := range refs {
		k, data, err := art.FetchDetached(ctx, src, r)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		p := o.output + k.Suffix
		if _, dup := files[p]; dup {
			if !e.global.quiet {
				fmt.Fprintf(e.stderr, "stella-export: pull: warning: more than one %s referrer; kept the first, ignored %s\n", k.Name, r.Digest)
			}
			continue
		}
		files[p] = data
		order = append(order, p)
	}
	out, err := atomicfile.Create(o.output, o.force)
	if err != nil {
		return err
	}
	if err := art.FetchLayer(ctx, src, out); err != nil {
		out.Abort()
		return fmt.Errorf("%s: %w", name, err)
	}
	var written []string
	cleanup := func() {
		for _, p := range written {
			os.Remove(p)
		}
	}
	for _, p := range order {
		f, err := atomicfile.Create(p, o.force)
		if err == nil {
			_, err = f.Write(files[p])
			if err != nil {
				f.Abort()
			} else {
				err = f.Commit()
			}
		}
		if err != nil {
			out.Abort()
			cleanup()
			return err
		}
		written = append(written, p)
	}
	if err := out.Commit(); err != nil {
		cleanup()
		return err
	}
	written = append(written, o.output)
	if !e.global.quiet && !e.global.json {
		fmt.Fprintf(e.stderr, "stella-export: pull: %s@%s -> %s (%d referrers)\n", name, art.Desc.Digest, o.output, len(order))
	}
	vo := &verifyOptions{
		root: o.root, expectSHA256: strings.TrimPrefix(art.Layer.Digest.String(), "sha256:"), keys: o.keys,
		maxDepth: verify.DefaultMaxDepth, maxEntries: tarball.DefaultLimits.MaxEntries, maxBytes: tarball.DefaultLimits.MaxBytes,
		maxRatio: tarball.DefaultLimits.MaxRatio, maxNameBytes: tarball.DefaultLimits.MaxNameBytes,
	}
	if vo.root == "" {
		vo.root = art.Annotations[oci.AnnotationRoot]
	}
	if err := runVerify(ctx, e, cmd, vo, o.output); err != nil {
		cleanup()
		return err
	}
	return nil
}
