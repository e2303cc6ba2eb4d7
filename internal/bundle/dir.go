package bundle

import (
	"context"
	"io"
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
	tree, err := DirSources(cfg.Dir, cfg.FollowLinks, cfg.Exclude...)
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
			FileCount:       s.Files,
			PayloadBytes:    s.Bytes,
			PayloadRoot:     s.Root.String(),
		}
		mb, err := manifest.Bytes(m)
		if err != nil {
			return Docs{}, err
		}
		// README.md names the first files; a signed one says whether a
		// top-level provenance.json is signed too.
		var files []string
		prov := false
		for e, err := range s.Entries() {
			if err != nil {
				return Docs{}, err
			}
			if len(files) < readme.MaxListed {
				files = append(files, e.Path)
			}
			prov = prov || e.Path == layout.Provenance
			if len(files) == readme.MaxListed && (cfg.Options.Signer == nil || e.Path >= layout.Provenance) {
				break
			}
		}
		d := readme.Directory{
			ExportID: id, Profile: profile, ExporterVersion: m.ExporterVersion,
			FileCount: m.FileCount, PayloadBytes: m.PayloadBytes,
			ModTime: manifest.Timestamp(mt), Files: files,
		}
		if sg := cfg.Options.Signer; sg != nil {
			d.Signing = readme.Signing{SignedBy: sg.Fingerprint(), SignedProv: prov}
		}
		rb, err := readme.RenderDirectory(d)
		return Docs{Manifest: mb, Readme: rb}, err
	}
	return Write(ctx, w, tree, render, cfg.Options)
}
