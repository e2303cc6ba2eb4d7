package trivydb

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// SchemaVersion is the only Trivy DB schema this package writes: trivy-db's
// pkg/db SchemaVersion, which Trivy compares with metadata.json's Version.
const SchemaVersion = 2

// SchemaError says the requested schema version is not SchemaVersion.
type SchemaError struct{ Got int }

func (e *SchemaError) Error() string {
	return fmt.Sprintf("trivy db schema %d is not supported (only %d)", e.Got, SchemaVersion)
}

// Unwrap classifies the error as invalid input (exit 3).
func (e *SchemaError) Unwrap() error { return exitcode.ErrInvalid }

func (e *SchemaError) ErrorCode() string { return exitcode.CodeTrivySchema }

// DataSource is the value of the data-source bucket: who publishes the
// advisories. Name is also the part of every language bucket's name after
// "<ecosystem>::"; ID keys VendorSeverity and CVSS in the vulnerability
// bucket and is what Trivy shows as the severity source.
type DataSource struct {
	ID   string `json:"ID"`
	Name string `json:"Name"`
	URL  string `json:"URL,omitempty"`
}

// DefaultSource is used when Options.Source is empty.
var DefaultSource = DataSource{ID: "stella-export", Name: "stella-export OSV advisories"}

// Metadata holds the times written to metadata.json. They come from the
// export's pinned time, never from the clock.
type Metadata struct {
	UpdatedAt    time.Time
	NextUpdate   time.Time
	DownloadedAt time.Time
}

// Options configures a Builder.
type Options struct {
	// Schema is the DB schema to write; 0 means SchemaVersion. Any other
	// value fails New with *SchemaError.
	Schema   int
	Source   DataSource
	Metadata Metadata
}

// Skip records one advisory, or one affected entry of it, left out of the
// database and why (one of the Reason constants).
type Skip struct {
	Advisory  string `json:"advisory"`
	Source    string `json:"source,omitempty"`
	Ecosystem string `json:"ecosystem,omitempty"`
	Package   string `json:"package,omitempty"`
	Reason    string `json:"reason"`
	Detail    string `json:"detail,omitempty"`
}

// Summary describes a written database.
type Summary struct {
	Schema int `json:"schema"`
	// Advisories counts the records given to Add; Included those that gave
	// at least one package entry; LeftOut those that gave none.
	Advisories int `json:"advisories"`
	Included   int `json:"included"`
	LeftOut    int `json:"left_out"`
	// Vulnerabilities counts the vulnerability ids written.
	Vulnerabilities int `json:"vulnerabilities"`
	// Packages counts package buckets per Trivy ecosystem (npm, pip, go...).
	Packages map[string]int `json:"packages"`
	// Severities counts vulnerability ids per severity name.
	Severities map[string]int `json:"severities"`
	// Reasons counts Skipped entries per reason.
	Reasons map[string]int `json:"reasons"`
	// Skipped lists every left-out advisory or affected entry, sorted.
	Skipped []Skip `json:"skipped"`
}

// rank orders advisories for the merge rule: a later modified time first,
// then the smaller OSV id, source name and record digest.
type rank struct {
	modified time.Time
	id       string
	source   string
	digest   []byte
}

// before reports whether r takes precedence over o.
func (r *rank) before(o *rank) bool {
	if o == nil {
		return true
	}
	if c := r.modified.Compare(o.modified); c != 0 {
		return c > 0
	}
	if c := cmp.Or(strings.Compare(r.id, o.id), strings.Compare(r.source, o.source)); c != 0 {
		return c < 0
	}
	return bytes.Compare(r.digest, o.digest) < 0
}

// field is a metadata value and the rank of the advisory it came from.
type field[T any] struct {
	v    T
	from *rank
}

func (f *field[T]) offer(v T, ok bool, r *rank) {
	if ok && r.before(f.from) {
		f.v, f.from = v, r
	}
}

type vulnAcc struct {
	title, description field[string]
	severity           field[int]
	v3, v40            field[cvss]
	published          field[time.Time]
	modified           field[time.Time]
	references, cwes   map[string]struct{}
}

type pkgAcc struct {
	vulnerable, patched, vendorIDs []string
}

// Builder collects advisories and writes them as a Trivy DB. Add may be
// called in any order: the database bytes depend only on the set of
// advisories (see the package doc for the merge rule).
type Builder struct {
	opts    Options
	vulns   map[string]*vulnAcc
	pkgs    map[string]map[string]map[string]*pkgAcc // prefix → package → vulnerability id
	summary Summary
}

// New checks opts and returns an empty Builder.
func New(opts Options) (*Builder, error) {
	if opts.Schema == 0 {
		opts.Schema = SchemaVersion
	}
	if opts.Schema != SchemaVersion {
		return nil, &SchemaError{Got: opts.Schema}
	}
	if opts.Source == (DataSource{}) {
		opts.Source = DefaultSource
	}
	if opts.Source.ID == "" || opts.Source.Name == "" {
		return nil, exitcode.Invalidf("trivy db: data source needs an id and a name")
	}
	return &Builder{
		opts:  opts,
		vulns: map[string]*vulnAcc{},
		pkgs:  map[string]map[string]map[string]*pkgAcc{},
		summary: Summary{
			Schema: opts.Schema, Packages: map[string]int{}, Severities: map[string]int{}, Reasons: map[string]int{},
		},
	}, nil
}

// ids splits an advisory's identifiers as trivy-db's vulnsrc/osv does: the
// vulnerability ids are its CVE aliases (each one gets the package entries),
// or its own id when it has none; the other identifiers become VendorIDs.
func ids(a *Advisory) (vulnIDs, vendorIDs []string) {
	for _, id := range append(slices.Clone(a.Aliases), a.ID) {
		if strings.HasPrefix(id, "CVE-") {
			vulnIDs = append(vulnIDs, id)
		} else if id != "" {
			vendorIDs = append(vendorIDs, id)
		}
	}
	if len(vulnIDs) == 0 {
		return []string{a.ID}, sortedSet(slices.DeleteFunc(vendorIDs, func(s string) bool { return s == a.ID }))
	}
	return sortedSet(vulnIDs), sortedSet(vendorIDs)
}

func (b *Builder) skip(a *Advisory, eco, pkg, reason, detail string) {
	b.summary.Skipped = append(b.summary.Skipped, Skip{
		Advisory: a.ID, Source: a.Source, Ecosystem: eco, Package: pkg, Reason: reason, Detail: detail,
	})
	b.summary.Reasons[reason]++
}

// Add merges one advisory into the database being built. What cannot be
// used is recorded in the Summary, not returned as an error.
func (b *Builder) Add(a *Advisory) {
	b.summary.Advisories++
	used := false
	defer func() {
		if used {
			b.summary.Included++
		} else {
			b.summary.LeftOut++
		}
	}()
	if a.Withdrawn != nil {
		b.skip(a, "", "", ReasonWithdrawn, a.Withdrawn.UTC().Format(time.RFC3339))
		return
	}
	if len(a.Affected) == 0 {
		b.skip(a, "", "", ReasonNoAffected, "")
		return
	}
	vulnIDs, vendorIDs := ids(a)
	r := &rank{modified: a.Modified, id: a.ID, source: a.Source, digest: a.Digest[:]}
	c := parseCVSS(a.Severity)
	for _, af := range a.Affected {
		ac := parseCVSS(af.Severity)
		if c.V3Vector == "" {
			c.V3Vector, c.V3Score = ac.V3Vector, ac.V3Score
		}
		if c.V40Vector == "" {
			c.V40Vector, c.V40Score = ac.V40Vector, ac.V40Score
		}
	}
	for _, af := range a.Affected {
		eco, ok := lookupEcosystem(af.Package.Ecosystem)
		if !ok || af.Package.Name == "" {
			reason := ReasonUnsupportedEcosystem
			if af.Package.Ecosystem == "" || af.Package.Name == "" {
				reason = ReasonNoAffected
			}
			b.skip(a, af.Package.Ecosystem, af.Package.Name, reason, "")
			continue
		}
		vulnerable, patched, err := constraints(eco, af)
		if err != nil {
			se := err.(*skipError)
			b.skip(a, af.Package.Ecosystem, af.Package.Name, se.reason, se.detail)
			continue
		}
		used = true
		name := eco.normalise(af.Package.Name)
		byPkg := b.pkgs[eco.prefix]
		if byPkg == nil {
			byPkg = map[string]map[string]*pkgAcc{}
			b.pkgs[eco.prefix] = byPkg
		}
		byVuln := byPkg[name]
		if byVuln == nil {
			byVuln = map[string]*pkgAcc{}
			byPkg[name] = byVuln
		}
		for _, id := range vulnIDs {
			p := byVuln[id]
			if p == nil {
				p = &pkgAcc{}
				byVuln[id] = p
			}
			p.vulnerable = sortedSet(append(p.vulnerable, vulnerable...))
			p.patched = sortedSet(append(p.patched, patched...))
			p.vendorIDs = sortedSet(append(p.vendorIDs, vendorIDs...))
		}
	}
	if !used {
		return
	}
	for _, id := range vulnIDs {
		v := b.vulns[id]
		if v == nil {
			v = &vulnAcc{references: map[string]struct{}{}, cwes: map[string]struct{}{}}
			b.vulns[id] = v
		}
		v.title.offer(a.Summary, a.Summary != "", r)
		v.description.offer(a.Details, a.Details != "", r)
		sev := severityOf(a.DatabaseSpecific.Severity, c)
		v.severity.offer(sev, sev != sevUnknown, r)
		v.v3.offer(cvss{V3Vector: c.V3Vector, V3Score: c.V3Score}, c.V3Vector != "", r)
		v.v40.offer(cvss{V40Vector: c.V40Vector, V40Score: c.V40Score}, c.V40Vector != "", r)
		if a.Published != nil {
			v.published.offer(a.Published.UTC(), true, r)
		}
		v.modified.offer(a.Modified.UTC(), !a.Modified.IsZero(), r)
		for _, ref := range a.References {
			if ref.URL != "" {
				v.references[ref.URL] = struct{}{}
			}
		}
		for _, cwe := range a.DatabaseSpecific.CWEIDs {
			if cwe != "" {
				v.cwes[cwe] = struct{}{}
			}
		}
	}
}
