package trivydb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stella-ops/stella-export/internal/atomicfile"
)

// Layout of the written files below the root given to Write: Trivy's
// --cache-dir layout.
const (
	DBFile       = "db/trivy.db"
	MetadataFile = "db/metadata.json"
)

const (
	dataSourceBucket    = "data-source"
	vulnerabilityBucket = "vulnerability"

	// pageSize is fixed so the file does not depend on the machine's page
	// size (bbolt's default).
	pageSize = 4096
	// smallBucket bounds a package bucket that bbolt certainly stores
	// inline in its parent: bbolt inlines a bucket whose leaf is at most
	// pageSize/4 bytes (16-byte page header plus 16 bytes and the key and
	// value per entry); half that leaves a margin.
	smallBucket = pageSize / 8
)

// advisoryValue is the JSON value of vulnerability id in a package bucket
// (trivy-db pkg/types Advisory, the fields Trivy's language detectors read).
type advisoryValue struct {
	PatchedVersions    []string `json:",omitempty"`
	VendorIDs          []string `json:",omitempty"`
	VulnerableVersions []string `json:",omitempty"`
}

// vulnerabilityValue is the JSON value in the vulnerability bucket
// (trivy-db pkg/types Vulnerability).
type vulnerabilityValue struct {
	Title            string          `json:",omitempty"`
	Description      string          `json:",omitempty"`
	Severity         string          `json:",omitempty"`
	CweIDs           []string        `json:",omitempty"`
	VendorSeverity   map[string]int  `json:",omitempty"`
	CVSS             map[string]cvss `json:",omitempty"`
	References       []string        `json:",omitempty"`
	PublishedDate    *time.Time      `json:",omitempty"`
	LastModifiedDate *time.Time      `json:",omitempty"`
}

// marshal is json.Marshal without HTML escaping, so constraints read as
// written ("<1.2.3", not "\u003c1.2.3"); Trivy decodes both alike.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// metadataValue is metadata.json as trivy-db's pkg/metadata reads it.
type metadataValue struct {
	Version      int
	NextUpdate   time.Time
	UpdatedAt    time.Time
	DownloadedAt time.Time
}

// Summary returns the summary of what has been added so far; Write returns
// the same value.
func (b *Builder) Summary() Summary {
	s := b.summary
	s.Packages = maps.Clone(s.Packages)
	s.Severities = maps.Clone(s.Severities)
	s.Reasons = maps.Clone(s.Reasons)
	s.Vulnerabilities = len(b.vulns)
	for prefix, byPkg := range b.pkgs {
		s.Packages[prefix] = len(byPkg)
	}
	for _, v := range b.vulns {
		s.Severities[severityNames[v.severity.v]]++
	}
	s.Skipped = slices.Clone(s.Skipped)
	slices.SortFunc(s.Skipped, func(x, y Skip) int {
		for _, c := range [][2]string{{x.Advisory, y.Advisory}, {x.Source, y.Source}, {x.Ecosystem, y.Ecosystem},
			{x.Package, y.Package}, {x.Reason, y.Reason}, {x.Detail, y.Detail}} {
			if c[0] != c[1] {
				if c[0] < c[1] {
					return -1
				}
				return 1
			}
		}
		return 0
	})
	return s
}

// Write writes root/db/trivy.db and root/db/metadata.json (the layout of
// Trivy's --cache-dir). Neither file may exist yet. On error or cancellation
// nothing is left behind.
func (b *Builder) Write(ctx context.Context, root string) (Summary, error) {
	dir := filepath.Join(root, filepath.FromSlash("db"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("write trivy db: %w", err)
	}
	meta, err := json.Marshal(metadataValue{
		Version:      b.opts.Schema,
		NextUpdate:   b.opts.Metadata.NextUpdate.UTC(),
		UpdatedAt:    b.opts.Metadata.UpdatedAt.UTC(),
		DownloadedAt: b.opts.Metadata.DownloadedAt.UTC(),
	})
	if err != nil {
		return Summary{}, fmt.Errorf("write trivy db metadata: %w", err)
	}
	dbPath := filepath.Join(root, filepath.FromSlash(DBFile))
	f, err := atomicfile.Create(dbPath, false)
	if err != nil {
		return Summary{}, err
	}
	defer f.Abort()
	if err := b.writeBolt(ctx, f.TempName()); err != nil {
		return Summary{}, fmt.Errorf("write %s: %w", dbPath, err)
	}
	if err := f.Commit(); err != nil {
		return Summary{}, err
	}
	metaPath := filepath.Join(root, filepath.FromSlash(MetadataFile))
	if err := atomicfile.WriteFile(metaPath, append(meta, '\n'), 0o644, false); err != nil {
		os.Remove(dbPath)
		return Summary{}, err
	}
	return b.Summary(), nil
}

// writeBolt fills the empty file at path.
//
// bbolt allocates pages while it commits, and it visits the sub-buckets
// opened in a transaction in Go map order, so two sub-buckets of one parent
// that need pages of their own would land at pages that differ from run to
// run. Each transaction here therefore opens one top-level bucket, and in a
// language bucket at most one package bucket too large to be stored inline;
// within a transaction keys go in sorted order. bbolt's own bookkeeping
// (transaction ids, freelist, page reuse) then follows from the data alone.
func (b *Builder) writeBolt(ctx context.Context, path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: pageSize, NoSync: true, FreelistType: bolt.FreelistArrayType})
	if err != nil {
		return err
	}
	if err := b.fill(ctx, db); err != nil {
		db.Close()
		return err
	}
	return db.Close()
}

func (b *Builder) fill(ctx context.Context, db *bolt.DB) error {
	src, err := marshal(b.opts.Source)
	if err != nil {
		return err
	}
	prefixes := slices.Sorted(maps.Keys(b.pkgs))
	err = db.Update(func(tx *bolt.Tx) error {
		bkt, err := tx.CreateBucket([]byte(dataSourceBucket))
		if err != nil {
			return err
		}
		for _, p := range prefixes {
			if err := bkt.Put([]byte(p+"::"+b.opts.Source.Name), src); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := b.fillVulnerabilities(ctx, db); err != nil {
		return err
	}
	for _, p := range prefixes {
		if err := b.fillEcosystem(ctx, db, p+"::"+b.opts.Source.Name, b.pkgs[p]); err != nil {
			return err
		}
	}
	return nil
}

func (b *Builder) fillVulnerabilities(ctx context.Context, db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
		bkt, err := tx.CreateBucket([]byte(vulnerabilityBucket))
		if err != nil {
			return err
		}
		bkt.FillPercent = 1 // keys arrive in order: pack the pages
		for i, id := range slices.Sorted(maps.Keys(b.vulns)) {
			if i%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			val, err := marshal(b.vulnerability(b.vulns[id]))
			if err != nil {
				return err
			}
			if err := bkt.Put([]byte(id), val); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *Builder) vulnerability(v *vulnAcc) vulnerabilityValue {
	out := vulnerabilityValue{
		Title:       v.title.v,
		Description: v.description.v,
		Severity:    severityNames[v.severity.v],
		CweIDs:      slices.Sorted(maps.Keys(v.cwes)),
		References:  slices.Sorted(maps.Keys(v.references)),
	}
	id := b.opts.Source.ID
	if v.severity.v != sevUnknown {
		out.VendorSeverity = map[string]int{id: v.severity.v}
	}
	if c := (cvss{V3Vector: v.v3.v.V3Vector, V3Score: v.v3.v.V3Score, V40Vector: v.v40.v.V40Vector, V40Score: v.v40.v.V40Score}); c != (cvss{}) {
		out.CVSS = map[string]cvss{id: c}
	}
	if v.published.from != nil {
		t := v.published.v
		out.PublishedDate = &t
	}
	if v.modified.from != nil {
		t := v.modified.v
		out.LastModifiedDate = &t
	}
	return out
}

// fillEcosystem writes one language bucket, in as many transactions as it
// has package buckets too large to be inlined (see writeBolt).
func (b *Builder) fillEcosystem(ctx context.Context, db *bolt.DB, name string, byPkg map[string]map[string]*pkgAcc) error {
	type entry struct{ key, val []byte }
	type pkg struct {
		name    string
		entries []entry
		size    int
	}
	names := slices.Sorted(maps.Keys(byPkg))
	for start := 0; start < len(names); {
		if err := ctx.Err(); err != nil {
			return err
		}
		var batch []pkg
		large := false
		for ; start < len(names); start++ {
			p := pkg{name: names[start], size: 16}
			for _, id := range slices.Sorted(maps.Keys(byPkg[p.name])) {
				a := byPkg[p.name][id]
				val, err := marshal(advisoryValue{PatchedVersions: a.patched, VendorIDs: a.vendorIDs, VulnerableVersions: a.vulnerable})
				if err != nil {
					return err
				}
				p.entries = append(p.entries, entry{[]byte(id), val})
				p.size += 16 + len(id) + len(val)
			}
			if p.size > smallBucket {
				if large {
					break
				}
				large = true
			}
			batch = append(batch, p)
			if len(batch) == 4096 {
				start++
				break
			}
		}
		err := db.Update(func(tx *bolt.Tx) error {
			eco, err := tx.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			eco.FillPercent = 1
			for _, p := range batch {
				bkt, err := eco.CreateBucket([]byte(p.name))
				if err != nil {
					return fmt.Errorf("bucket %s %q: %w", name, p.name, err)
				}
				bkt.FillPercent = 1
				for _, e := range p.entries {
					if err := bkt.Put(e.key, e.val); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
