// Package plan resolves a contract against its evidence source into an
// immutable plan: the contract's digest and settings, every selected input
// with its path, SHA-256, size and ordering keys, what each adapter will
// write, and totals. A plan is canonical JSON (SPEC.md section 6); the same
// contract and evidence give the same bytes on any machine and from any
// working directory.
package plan

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/manifest"
)

// Format is the plan's format identifier.
const Format = "stella-export/plan/v1"

// Plan is the resolved, ordered work of one export.
type Plan struct {
	Format   string             `json:"format"`
	Contract Contract           `json:"contract"`
	Policy   *Policy            `json:"policy,omitempty"`
	Base     *Base              `json:"base,omitempty"`
	Adapters []Adapter          `json:"adapters"`
	Excluded map[string]int     `json:"excluded"`
	Invalid  []evidence.Invalid `json:"invalid"`
	Ignored  []string           `json:"ignored"`
	Totals   Totals             `json:"totals"`
	Inputs   []Input            `json:"inputs"`
}

// Contract is the contract as the plan fixed it.
type Contract struct {
	// Path is the contract file relative to the plan file's directory
	// (or to the working directory for a plan on stdout).
	Path             string      `json:"path"`
	Digest           string      `json:"digest"`
	ExportID         string      `json:"exportId"`
	Tenant           string      `json:"tenant"`
	Profile          string      `json:"profile"`
	Source           string      `json:"source"` // as written, relative to the contract
	Selectors        Selectors   `json:"selectors"`
	PolicySnapshot   string      `json:"policySnapshot,omitempty"`
	BaseBundle       string      `json:"base,omitempty"` // as written
	Compression      Compression `json:"compression"`
	RetentionDays    int         `json:"retentionDays,omitempty"`
	Output           string      `json:"output,omitempty"`
	AllowCrossTenant bool        `json:"allowCrossTenant"`
	SkipInvalid      bool        `json:"skipInvalid"`
}

// Selectors in canonical form (the same shape export.json records).
type Selectors = manifest.RunSelectors

// Compression of JSON lines outputs.
type Compression = manifest.Compression

// Policy is the policy snapshot's metadata.
type Policy struct {
	SnapshotID    string `json:"snapshotId"`
	PolicyVersion string `json:"policyVersion"`
	InputsHash    string `json:"inputsHash"`
	DecisionTrace string `json:"decisionTrace"`
	CreatedAt     string `json:"createdAt,omitempty"`
	Path          string `json:"path"`
	SHA256        string `json:"sha256"`
	Size          int64  `json:"size"`
}

// Base is the base mirror of a delta.
type Base struct {
	adapters.BaseRef
	Files int `json:"files"`
}

// Adapter is what one adapter will write.
type Adapter struct {
	Name    string            `json:"name"`
	Version string            `json:"version"`
	Outputs []adapters.Output `json:"outputs"`
}

// Totals summarise the inputs.
type Totals struct {
	Documents int            `json:"documents"`
	Bytes     int64          `json:"bytes"`
	ByType    map[string]int `json:"byType"`
}

// Input is one selected document.
type Input struct {
	Type       string   `json:"type"`
	Tenant     string   `json:"tenant"`
	Subject    string   `json:"subject"`
	ID         string   `json:"id"`
	Path       string   `json:"path"`
	SHA256     string   `json:"sha256"`
	Size       int64    `json:"size"`
	Time       string   `json:"time,omitempty"`
	Format     string   `json:"format"`
	Ecosystems []string `json:"ecosystems"`
	Products   []string `json:"products"`
}

// Options of Build beyond the contract.
type Options struct {
	// PlanDir is the directory the plan will be written to, so the plan can
	// name the contract relative to itself; empty means the working
	// directory.
	PlanDir string
	// AllowCrossTenant is the command-line consent; it takes effect only
	// when the contract also allows it.
	AllowCrossTenant bool
	SkipInvalid      bool
	Workers          int
}

// Build resolves c against its source.
func Build(ctx context.Context, c *contract.Contract, opt Options) (*Plan, *evidence.Result, *adapters.BaseMirror, error) {
	ads, err := adapters.ForProfile(c.Profile)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, t := range c.Selectors.Tenants {
		if t != c.Tenant {
			if !c.AllowCrossTenant {
				return nil, nil, nil, exitcode.Invalidf("%s: selectors.tenants: %q is another tenant than %q; cross-tenant exports need allow_cross_tenant: true", c.Where("selectors.tenants"), t, c.Tenant)
			}
			if !opt.AllowCrossTenant {
				return nil, nil, nil, exitcode.Invalidf("%s: selectors.tenants: %q is another tenant than %q; pass --allow-cross-tenant to confirm the cross-tenant export", c.Where("selectors.tenants"), t, c.Tenant)
			}
		}
	}
	res, err := evidence.Resolve(ctx, evidence.Config{
		Source: c.SourceDir, Tenant: c.Tenant, Selectors: c.Selectors, PolicySnapshot: c.PolicySnapshot,
		AllowCrossTenant: c.AllowCrossTenant && opt.AllowCrossTenant, SkipInvalid: opt.SkipInvalid, Workers: opt.Workers,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", c.Where("source"), err)
	}
	var base *adapters.BaseMirror
	if c.Profile == contract.ProfileMirrorDelta {
		base, err = adapters.LoadBase(ctx, c.BasePath)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: base: %w", c.Where("base"), err)
		}
	}
	rel := c.Path
	if abs, err := filepath.Abs(c.Path); err == nil {
		dir := opt.PlanDir
		if dir == "" {
			dir = "."
		}
		if d, err := filepath.Abs(dir); err == nil {
			if r, err := filepath.Rel(d, abs); err == nil {
				rel = r
			}
		}
	}
	p := &Plan{
		Format: Format,
		Contract: Contract{
			Path: filepath.ToSlash(rel), Digest: c.Digest, ExportID: c.ExportID, Tenant: c.Tenant, Profile: c.Profile,
			Source: c.Source, Selectors: selectors(c), PolicySnapshot: c.PolicySnapshot, BaseBundle: c.Base,
			Compression:   Compression{Codec: c.Compression.Codec, Level: c.Compression.Level},
			RetentionDays: c.RetentionDays, Output: c.Output,
			AllowCrossTenant: c.AllowCrossTenant && opt.AllowCrossTenant, SkipInvalid: opt.SkipInvalid,
		},
		Excluded: res.Excluded, Invalid: res.Invalid, Ignored: res.Ignored,
		Totals: Totals{Documents: len(res.Docs), Bytes: res.Bytes, ByType: map[string]int{}},
	}
	if p.Invalid == nil {
		p.Invalid = []evidence.Invalid{}
	}
	if p.Ignored == nil {
		p.Ignored = []string{}
	}
	if s := res.Snapshot; s != nil {
		p.Policy = &Policy{SnapshotID: s.ID, PolicyVersion: s.PolicyVersion, InputsHash: s.InputsHash,
			DecisionTrace: s.DecisionTrace, Path: s.Path, SHA256: s.SHA256, Size: s.Size}
		if !s.CreatedAt.IsZero() {
			p.Policy.CreatedAt = stamp(s.CreatedAt)
		}
	}
	if base != nil {
		p.Base = &Base{BaseRef: base.BaseRef, Files: len(base.Files)}
	}
	for _, t := range evidence.Types {
		p.Totals.ByType[string(t)] = 0
	}
	in := &adapters.Input{Docs: res.Docs, Snapshot: res.Snapshot, Compression: c.Compression, Base: base}
	for _, d := range res.Docs {
		p.Totals.ByType[string(d.Type)]++
		p.Inputs = append(p.Inputs, fromDoc(d))
	}
	if p.Inputs == nil {
		p.Inputs = []Input{}
	}
	for _, a := range ads {
		p.Adapters = append(p.Adapters, Adapter{Name: a.Name(), Version: a.Version(), Outputs: a.Outputs(in)})
	}
	return p, res, base, nil
}

func stamp(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func selectors(c *contract.Contract) Selectors {
	s := c.Selectors
	out := Selectors{Tenants: orEmpty(s.Tenants), Products: orEmpty(s.Products), SBOMSubjects: orEmpty(s.SBOMSubjects), Ecosystems: orEmpty(s.Ecosystems)}
	if len(out.Tenants) == 0 {
		out.Tenants = []string{c.Tenant}
	}
	if !s.Since.IsZero() {
		out.Since = s.Since.UTC().Format(time.RFC3339Nano)
	}
	if !s.Until.IsZero() {
		out.Until = s.Until.UTC().Format(time.RFC3339Nano)
	}
	return out
}

func fromDoc(d *evidence.Doc) Input {
	in := Input{Type: string(d.Type), Tenant: d.Tenant, Subject: d.Subject, ID: d.ID, Path: d.Path, SHA256: d.SHA256,
		Size: d.Size, Format: d.Format, Ecosystems: orEmpty(d.Ecosystems), Products: orEmpty(d.Products)}
	if !d.Time.IsZero() {
		in.Time = stamp(d.Time)
	}
	return in
}

// Docs returns the plan's inputs as documents, in plan order.
func (p *Plan) Docs() []*evidence.Doc {
	out := make([]*evidence.Doc, len(p.Inputs))
	for i, in := range p.Inputs {
		d := &evidence.Doc{Type: evidence.Type(in.Type), Tenant: in.Tenant, Subject: in.Subject, ID: in.ID, Path: in.Path,
			SHA256: in.SHA256, Size: in.Size, Format: in.Format, Ecosystems: in.Ecosystems, Products: in.Products}
		if in.Time != "" {
			d.Time, _ = time.Parse(time.RFC3339, in.Time)
		}
		out[i] = d
	}
	return out
}

// Snapshot returns the plan's policy snapshot as evidence metadata.
func (p *Plan) Snapshot() *evidence.Snapshot {
	if p.Policy == nil {
		return nil
	}
	return &evidence.Snapshot{ID: p.Policy.SnapshotID, PolicyVersion: p.Policy.PolicyVersion, InputsHash: p.Policy.InputsHash,
		DecisionTrace: p.Policy.DecisionTrace, Path: p.Policy.Path, SHA256: p.Policy.SHA256, Size: p.Policy.Size, Tenant: p.Contract.Tenant}
}

// Write writes p as canonical JSON and one LF, streaming the inputs one by
// one so that a plan of a million documents is never one buffer.
func Write(w io.Writer, p *Plan) error {
	head := *p
	head.Inputs = nil
	return canonjson.WriteObject(w, headOnly{&head}, map[string]canonjson.Array{
		"inputs": {Len: len(p.Inputs), Item: func(i int) any { return p.Inputs[i] }},
	})
}

// headOnly marshals a plan without its inputs key.
type headOnly struct{ p *Plan }

func (h headOnly) MarshalJSON() ([]byte, error) {
	type plain Plan
	b, err := json.Marshal((*plain)(h.p))
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	delete(m, "inputs")
	return json.Marshal(m)
}

// Read reads a plan file.
func Read(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	dec.DisallowUnknownFields()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, exitcode.Invalidf("%s: not a plan: %v", path, err)
	}
	if p.Format != Format {
		return nil, exitcode.Invalidf("%s: format %q, want %s", path, p.Format, Format)
	}
	return &p, nil
}
