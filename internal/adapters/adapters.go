// Package adapters turns resolved evidence into export files. Adapters are
// registered at build time in this package's registry (no plugins are
// loaded at run time); a profile names the adapters it runs, in order.
//
// Every adapter writes below the job's staging directory through Stage,
// which records each file's SHA-256 and size for export.json,
// provenance.json and the bundle.
package adapters

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/events"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/manifest"
)

// Adapter writes one kind of output.
type Adapter interface {
	Name() string
	// Version changes whenever the adapter's output for the same input
	// changes; it is recorded in export.json and provenance.json.
	Version() string
	// Outputs says what Run will write for these documents.
	Outputs(in *Input) []Output
	Run(ctx context.Context, job *Job) error
}

// Output is one planned output: a file, or a directory of per-document
// files (Path ending in '/').
type Output struct {
	Path    string `json:"path"`
	Records int    `json:"records"`
}

// Input is what adapters work from: the resolved documents, as a stream
// in plan order.
type Input struct {
	Docs        evidence.Docs
	Snapshot    *evidence.Snapshot
	Compression contract.Compression
	// Base is the base mirror's file list (mirror:delta only).
	Base *BaseMirror
	// TrivySchema is the contract's trivy_schema (the trivy profiles).
	TrivySchema int
	// CreatedAt is the export's pinned creation time, for outputs that
	// record a time (the trivy profiles' metadata.json); never the clock.
	CreatedAt time.Time
	// RetentionDays is the contract's retention_days (0 when not set).
	RetentionDays int
	// Counts are the documents per type when the caller knows them (the
	// resolve that made Docs counted them); nil: Count counts Docs.
	Counts map[evidence.Type]int

	counts map[evidence.Type]int
}

// Count returns the number of documents of type t. The first call counts
// them all in one pass over Docs (so Count, like the rest of Input, is for
// one goroutine). An error reading Docs ends the count early; it is not
// lost: Run and plan.Write read Docs again and return it.
func (in *Input) Count(t evidence.Type) int {
	if in.Counts != nil {
		return in.Counts[t]
	}
	if in.counts == nil {
		in.counts = map[evidence.Type]int{}
		for d, err := range in.Docs.All() {
			if err != nil {
				break
			}
			in.counts[d.Type]++
		}
	}
	return in.counts[t]
}

// Job is one adapter run.
type Job struct {
	*Input
	Source string // evidence directory
	Stage  *Stage
	Events *events.Writer
	// Open opens a planned document and checks, while reading it, that it
	// still has the planned digest. Adapters call it on several goroutines
	// at once.
	Open func(d *evidence.Doc) (*Doc, error)
	// TrivyDB is set by the trivy:db adapter: the summary for export.json.
	TrivyDB *manifest.TrivyDB
	// JavaDB is set by the trivy:java-db adapter.
	JavaDB *manifest.JavaDB
}

var (
	regMu    sync.Mutex
	registry = map[string]Adapter{}
	profiles = map[string][]string{
		contract.ProfileJSONRaw:     {"json:raw"},
		contract.ProfileJSONPolicy:  {"json:raw", "json:policy"},
		contract.ProfileMirrorFull:  {"mirror:full"},
		contract.ProfileMirrorDelta: {"mirror:delta"},
		contract.ProfileTrivyDB:     {"trivy:db"},
		contract.ProfileTrivyJavaDB: {"trivy:java-db"},
	}
	// inputTypes are the document types a profile reads, when not
	// advisories, VEX and SBOMs.
	inputTypes = map[string][]evidence.Type{
		contract.ProfileTrivyDB:     {evidence.Advisory},
		contract.ProfileTrivyJavaDB: {evidence.JavaIndex},
	}
)

// InputTypes returns the document types the profile's adapters read below
// each tenant (evidence.Config.Types); nil means advisories, VEX and SBOMs.
func InputTypes(profile string) []evidence.Type { return inputTypes[profile] }

// Register adds an adapter at init time.
func Register(a Adapter) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[a.Name()]; dup {
		panic("adapters: " + a.Name() + " registered twice")
	}
	registry[a.Name()] = a
}

// ForProfile returns the adapters a profile runs, in order.
func ForProfile(profile string) ([]Adapter, error) {
	names, ok := profiles[profile]
	if !ok {
		return nil, exitcode.Invalidf("profile %q has no adapters in this build (have %v)", profile, Profiles())
	}
	var out []Adapter
	for _, n := range names {
		a, ok := registry[n]
		if !ok {
			return nil, fmt.Errorf("adapter %s is not registered", n)
		}
		out = append(out, a)
	}
	return out, nil
}

// Profiles lists the profiles this build can run.
func Profiles() []string {
	var out []string
	for p := range profiles {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Doc is an opened source document.
type Doc struct {
	io.ReaderAt
	Size int64
	// Bytes holds the whole document when it is small; nil for large ones,
	// which are read through ReaderAt.
	Bytes []byte
	// Canonical says Bytes are already the document's canonical form
	// (canonjson.Raw's output, kept when the plan read the document).
	Canonical bool
	Close     func() error
}

// typeDir names the output of each type.
func typeDir(t evidence.Type) string { return t.Dir() }

func sortedSet(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
