package bundle

import (
	"context"
	"io"
	"slices"
	"time"

	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/readme"
	"github.com/stella-ops/stella-export/internal/tarball"
	"github.com/stella-ops/stella-export/internal/version"
)

// DirConfig describes a bundle of one staged directory.
type DirConfig struct {
	Dir         string
	FollowLinks bool
	Exclude     []string  // files never packaged, e.g. the output being written
	Profile     string    // export.json profile; empty means "directory"
	ExportID    string    // empty means manifest.DerivedExportID(payload root)
	CreatedAt   time.Time // zero means the pinned time
	Options
}

// WriteDir bundles every file below cfg.Dir (at the top of the archive,
// beside the generated files) to w.
func WriteDir(ctx context.Context, w io.Writer, cfg DirConfig) (*Result, error) {
	srcs, err := DirSources(cfg.Dir, cfg.FollowLinks, cfg.Exclude...)
	if err != nil {
		return nil, err
	}
	mt := cfg.ModTime
	if mt.IsZero() {
		mt = tarball.DefaultModTime
	}
	created := cfg.CreatedAt
	if created.IsZero() {
		created = mt
	}
	profile := cfg.Profile
	if profile == "" {
		profile = manifest.ProfileDirectory
	}
	render := func(s Summary) (Docs, error) {
		id := cfg.ExportID
		if id == "" {
			id = manifest.DerivedExportID(s.Root)
		}
		m := manifest.Export{
			Format:          manifest.Format,
			Profile:         profile,
			ExportID:        id,
			CreatedAtUTC:    manifest.Timestamp(created),
			ExporterVersion: version.String(),
			FileCount:       len(s.Files),
			PayloadBytes:    s.Bytes,
			PayloadRoot:     s.Root.String(),
		}
		mb, err := manifest.Bytes(m)
		if err != nil {
			return Docs{}, err
		}
		files := make([]string, len(s.Files))
		for i, f := range s.Files {
			files[i] = f.Path
		}
		d := readme.Directory{
			ExportID: id, Profile: profile, ExporterVersion: m.ExporterVersion,
			FileCount: m.FileCount, PayloadBytes: m.PayloadBytes,
			ModTime: manifest.Timestamp(mt), Files: files,
		}
		if sg := cfg.Options.Signer; sg != nil {
			_, prov := slices.BinarySearch(files, layout.Provenance)
			d.Signing = readme.Signing{SignedBy: sg.Fingerprint(), SignedProv: prov}
		}
		rb, err := readme.RenderDirectory(d)
		return Docs{Manifest: mb, Readme: rb}, err
	}
	return Write(ctx, w, srcs, render, cfg.Options)
}
