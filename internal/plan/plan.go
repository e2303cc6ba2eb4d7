// Package plan resolves a contract against its evidence source into an
// immutable plan: the contract's digest and settings, every selected input
// with its path, SHA-256, size and ordering keys, what each adapter will
// write, and totals. A plan is canonical JSON (docs/format.md#canonical-json); the same
// contract and evidence give the same bytes on any machine and from any
// working directory.
package plan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/safepath"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// Format is the plan's format identifier.
const Format = "stella-export/plan/v1"

// Plan is the resolved, ordered work of one export.
type Plan struct {
	Format   string   `json:"format"`
	Contract Contract `json:"contract"`
	// CreatedAt is the export's createdAtUtc, fixed when planning
	// (CreatedAt below) so that running the plan later gives the same
	// bytes: RFC 3339 UTC in whole seconds.
	CreatedAt string             `json:"createdAt"`
	Policy    *Policy            `json:"policy,omitempty"`
	Base      *Base              `json:"base,omitempty"`
	Adapters  []Adapter          `json:"adapters"`
	Excluded  map[string]int     `json:"excluded"`
	Invalid   []evidence.Invalid `json:"invalid"`
	Ignored   []string           `json:"ignored"`
	Totals    Totals             `json:"totals"`
	// Inputs are the selected documents in plan order, as a stream that
	// spills to disk beyond the memory budget (evidence.SortedDocs): the
	// plan file's "inputs" array is written from them and read into them
	// (see Input), one at a time. Close releases them.
	Inputs evidence.Docs `json:"-"`

	// counts are the inputs per type when Build counted them while
	// resolving; nil for a plan read from a file (its totals are not
	// trusted: adapters count the inputs themselves).
	counts map[evidence.Type]int
}

// Counts returns the number of inputs per type when the plan was built in
// this process, nil otherwise (see adapters.Input.Counts).
func (p *Plan) Counts() map[evidence.Type]int { return p.counts }

// Close releases the plan's inputs (their spill files). It is safe to call
// more than once.
func (p *Plan) Close() error {
	if c, ok := p.Inputs.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
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
	TrivySchema      int         `json:"trivySchema,omitempty"`
	Compression      Compression `json:"compression"`
	RetentionDays    int         `json:"retentionDays,omitempty"`
	Output           string      `json:"output,omitempty"`
	AllowCrossTenant bool        `json:"allowCrossTenant"`
	SkipInvalid      bool        `json:"skipInvalid"`
	Encryption       *Encryption `json:"encryption,omitempty"`
}

// Encryption is the contract's encryption settings as the plan records
// them: the mode, the scope, the key alias or the recipients as written
// (recipient strings and recipients files relative to the contract),
// never a key.
type Encryption struct {
	Mode       string   `json:"mode"`
	Scope      string   `json:"scope"`
	Key        string   `json:"key,omitempty"`
	Recipients []string `json:"recipients,omitempty"`
}

// encryption is c's encryption as the plan records it, nil for none.
func encryption(c *contract.Contract) *Encryption {
	e := c.Encryption
	if e == nil {
		return nil
	}
	return &Encryption{Mode: e.Mode, Scope: e.Scope, Key: e.Key, Recipients: e.Recipients}
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

// Input is one selected document as the plan file records it.
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
	// Spill is where the documents spill beyond the memory budget, and the
	// budget (evidence.DefaultMemoryBudget when zero).
	Spill evidence.Spill
	// KeepCanonical keeps each small document's canonical form for the
	// run that follows in the same process (evidence.Config.KeepCanonical).
	KeepCanonical bool
	// CreatedAt is the export time the user gave (--created-at, else
	// SOURCE_DATE_EPOCH); zero lets the plan choose (see CreatedAt).
	CreatedAt time.Time
}

// CreatedAt is an export's createdAtUtc when the user gave none: the
// contract's selectors.until (the end of the window the evidence was
// selected from), else the latest time among the selected documents (the
// evidence's own "as of"), else tarball.DefaultModTime for documents that
// carry no time. It never reads the clock, so planning the same contract
// and evidence twice gives the same time (docs/format.md#export-time).
func CreatedAt(ctx context.Context, until time.Time, docs evidence.Docs) (time.Time, error) {
	if !until.IsZero() {
		return until.UTC(), nil
	}
	var latest time.Time
	for d, err := range docs.All() {
		if err != nil {
			return time.Time{}, err
		}
		if d.Time.After(latest) {
			latest = d.Time
		}
	}
	if err := ctx.Err(); err != nil {
		return time.Time{}, context.Cause(ctx)
	}
	if latest.IsZero() {
		return tarball.DefaultModTime, nil
	}
	return latest.UTC(), nil
}

// Created returns the plan's createdAt as a time.
func (p *Plan) Created() (time.Time, error) {
	t, err := time.Parse(time.RFC3339, p.CreatedAt)
	if err != nil || stamp(t) != p.CreatedAt {
		return time.Time{}, exitcode.Invalidf("createdAt: %q is not an RFC 3339 UTC time in whole seconds", clipTime(p.CreatedAt))
	}
	return t, nil
}

// Build resolves c against its source. The plan's inputs and the result's
// documents are the same stream: close one of them (Plan.Close).
// ErrUnconfirmedCrossTenant: the contract allows a cross-tenant export,
// but the caller did not confirm it (Options.AllowCrossTenant; exit 3).
var ErrUnconfirmedCrossTenant = exitcode.Tag(exitcode.CodeCrossTenantDenied, exitcode.Invalidf("the cross-tenant export is not confirmed"))

func Build(ctx context.Context, c *contract.Contract, opt Options) (_ *Plan, _ *evidence.Result, _ *adapters.BaseMirror, err error) {
	ads, err := adapters.ForProfile(c.Profile)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, t := range c.Selectors.Tenants {
		if t != c.Tenant {
			if !c.AllowCrossTenant {
				return nil, nil, nil, exitcode.Tag(exitcode.CodeCrossTenantDenied, exitcode.Invalidf("%s: selectors.tenants: %q is another tenant than %q; cross-tenant exports need allow_cross_tenant: true", c.Where("selectors.tenants"), t, c.Tenant))
			}
			if !opt.AllowCrossTenant {
				return nil, nil, nil, fmt.Errorf("%s: selectors.tenants: %q is another tenant than %q: %w", c.Where("selectors.tenants"), t, c.Tenant, ErrUnconfirmedCrossTenant)
			}
		}
	}
	res, err := evidence.Resolve(ctx, evidence.Config{
		Source: c.SourceDir, Tenant: c.Tenant, Selectors: c.Selectors, PolicySnapshot: c.PolicySnapshot,
		AllowCrossTenant: c.AllowCrossTenant && opt.AllowCrossTenant, SkipInvalid: opt.SkipInvalid, Workers: opt.Workers,
		Types: adapters.InputTypes(c.Profile), Spill: opt.Spill, KeepCanonical: opt.KeepCanonical,
	})
	if err != nil {
		field := "source"
		if se := (*evidence.SnapshotError)(nil); errors.As(err, &se) {
			field = "policy_snapshot"
		}
		return nil, nil, nil, fmt.Errorf("%s: %w", c.Where(field), err)
	}
	defer func() {
		if err != nil {
			res.Close()
		}
	}()
	var base *adapters.BaseMirror
	if c.Profile == contract.ProfileMirrorDelta {
		base, err = LoadBase(ctx, c.BasePath)
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
			TrivySchema:   c.TrivySchema,
			Compression:   Compression{Codec: c.Compression.Codec, Level: c.Compression.Level},
			RetentionDays: c.RetentionDays, Output: c.Output,
			AllowCrossTenant: c.AllowCrossTenant && opt.AllowCrossTenant, SkipInvalid: opt.SkipInvalid,
			Encryption: encryption(c),
		},
		Excluded: res.Excluded, Invalid: res.Invalid, Ignored: res.Ignored,
		Totals: Totals{Documents: res.Docs.Len(), Bytes: res.Bytes, ByType: map[string]int{}},
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
	created := opt.CreatedAt
	switch {
	case !created.IsZero():
	case c.Selectors.Until.IsZero() && res.LatestKnown:
		// Resolving saw every selected document's time go by.
		created = res.Latest.UTC()
		if created.IsZero() {
			created = tarball.DefaultModTime
		}
	default:
		if created, err = CreatedAt(ctx, c.Selectors.Until, res.Docs); err != nil {
			return nil, nil, nil, err
		}
	}
	p.CreatedAt = stamp(created)
	for _, t := range evidence.Types {
		if t == evidence.JavaIndex && !slices.Contains(adapters.InputTypes(c.Profile), t) {
			continue // counted only where read, so other plans keep their bytes
		}
		p.Totals.ByType[string(t)] = res.ByType[t]
	}
	in := &adapters.Input{Docs: res.Docs, Snapshot: res.Snapshot, Compression: c.Compression, Base: base,
		TrivySchema: c.TrivySchema, RetentionDays: c.RetentionDays, Counts: res.ByType}
	p.Inputs = res.Docs
	p.counts = res.ByType
	for _, a := range ads {
		p.Adapters = append(p.Adapters, Adapter{Name: a.Name(), Version: a.Version(), Outputs: a.Outputs(in)})
	}
	return p, res, base, nil
}

// clipTime shortens a hostile value for an error message.
func clipTime(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
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
	n, i := p.Inputs.Len(), 0
	seq := func(yield func(any, error) bool) {
		for d, err := range p.Inputs.All() {
			if err != nil {
				yield(nil, err)
				return
			}
			if i++; !yield(fromDoc(d), nil) {
				return
			}
		}
		if i != n {
			yield(nil, fmt.Errorf("%d inputs, want %d", i, n))
		}
	}
	return canonjson.WriteObject(w, p, map[string]canonjson.Array{"inputs": {Seq: seq}})
}

// AppendCanonical appends in's canonical JSON, what canonjson.Marshal
// gives, without reflection: plan.Write's hot path.
func (in Input) AppendCanonical(b []byte) []byte {
	list := func(b []byte, ss []string) []byte {
		if ss == nil {
			return append(b, "null"...)
		}
		b = append(b, '[')
		for i, s := range ss {
			if i > 0 {
				b = append(b, ',')
			}
			b = canonjson.AppendString(b, s)
		}
		return append(b, ']')
	}
	b = append(b, `{"ecosystems":`...)
	b = list(b, in.Ecosystems)
	b = append(b, `,"format":`...)
	b = canonjson.AppendString(b, in.Format)
	b = append(b, `,"id":`...)
	b = canonjson.AppendString(b, in.ID)
	b = append(b, `,"path":`...)
	b = canonjson.AppendString(b, in.Path)
	b = append(b, `,"products":`...)
	b = list(b, in.Products)
	b = append(b, `,"sha256":`...)
	b = canonjson.AppendString(b, in.SHA256)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, in.Size, 10)
	b = append(b, `,"subject":`...)
	b = canonjson.AppendString(b, in.Subject)
	b = append(b, `,"tenant":`...)
	b = canonjson.AppendString(b, in.Tenant)
	if in.Time != "" {
		b = append(b, `,"time":`...)
		b = canonjson.AppendString(b, in.Time)
	}
	b = append(b, `,"type":`...)
	b = canonjson.AppendString(b, in.Type)
	return append(b, '}')
}

// Read reads a plan file. The inputs array is decoded one element at a
// time into a stream that spills as sp says, so reading a plan costs
// neither its file size nor memory growing with its documents; close the
// plan to remove what it spilled. Every input is checked (known type, safe
// relative path, digest form, time, and strictly after the one before in
// plan order, which also refuses duplicates), since a plan file is as
// untrusted as any other input; a FIFO or device is refused without
// blocking. Check then checks it against its contract.
func Read(ctx context.Context, path string, sp evidence.Spill) (*Plan, error) {
	f, err := safefile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	defer f.Close()
	p, err := decode(ctx, failReader{bufio.NewReaderSize(f, 1<<20)}, sp)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		var re readError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("read plan %s: %w", path, re.error)
		}
		var se spillError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("read plan %s: %w", path, se.error)
		}
		return nil, exitcode.Invalidf("%s: not a plan: %v", path, err)
	}
	if p.Format != Format {
		p.Close()
		return nil, exitcode.Invalidf("%s: format %q, want %s", path, p.Format, Format)
	}
	if _, err := p.Created(); err != nil {
		p.Close()
		return nil, fmt.Errorf("%s: %w; plan again", path, err)
	}
	return p, nil
}

// readError marks a failure to read, as opposed to a malformed plan.
type readError struct{ error }

type failReader struct{ r io.Reader }

func (f failReader) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if err != nil && err != io.EOF {
		err = readError{err}
	}
	return n, err
}

// spillError is a failure to spill the inputs, as opposed to a malformed
// plan.
type spillError struct{ error }

func decode(ctx context.Context, r io.Reader, sp evidence.Spill) (_ *Plan, err error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := canonjson.ExpectDelim(dec, '{'); err != nil {
		return nil, err
	}
	head := map[string]json.RawMessage{}
	inputs := evidence.NewDocSorter(ctx, sp)
	defer inputs.Close()
	var prev, rec []byte
	seenInputs := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		if _, dup := head[key]; dup || (key == "inputs" && seenInputs) {
			return nil, fmt.Errorf("key %q appears twice", key)
		}
		if key != "inputs" {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, err
			}
			head[key] = raw
			continue
		}
		seenInputs = true
		if err := canonjson.ExpectDelim(dec, '['); err != nil {
			return nil, fmt.Errorf("inputs: %w", err)
		}
		for i := 0; dec.More(); i++ {
			if i%4096 == 0 && ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			var in Input
			if err := dec.Decode(&in); err != nil {
				return nil, fmt.Errorf("inputs[%d]: %w", i, err)
			}
			d, err := toDoc(&in)
			if err != nil {
				return nil, fmt.Errorf("inputs[%d]: %w", i, err)
			}
			if rec, err = evidence.AppendRecord(rec[:0], d); err != nil {
				return nil, fmt.Errorf("inputs[%d]: %w", i, err)
			}
			if i > 0 {
				switch c := evidence.CompareRecords(prev, rec); {
				case c == 0:
					return nil, fmt.Errorf("inputs[%d]: the same document as inputs[%d] (%s)", i, i-1, d.Path)
				case c > 0:
					return nil, fmt.Errorf("inputs[%d]: %s is not after inputs[%d] in plan order (type, tenant, subject, id, path)", i, d.Path, i-1)
				}
			}
			prev, rec = rec, prev
			if err := inputs.Add(d); err != nil {
				return nil, spillError{err}
			}
		}
		if err := canonjson.ExpectDelim(dec, ']'); err != nil {
			return nil, fmt.Errorf("inputs: %w", err)
		}
	}
	if err := canonjson.ExpectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the plan object")
		}
		return nil, err
	}
	if !seenInputs {
		return nil, errors.New(`no "inputs"`)
	}
	hb, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	hd := json.NewDecoder(bytes.NewReader(hb))
	hd.DisallowUnknownFields()
	var p Plan
	if err := hd.Decode(&p); err != nil {
		return nil, err
	}
	docs, err := inputs.Sort(ctx)
	if err != nil {
		return nil, spillError{err}
	}
	p.Inputs = docs
	return &p, nil
}

// toDoc checks one plan input and returns it as a document.
func toDoc(in *Input) (*evidence.Doc, error) {
	t := evidence.Type(in.Type)
	if !slices.Contains(evidence.Types, t) {
		return nil, fmt.Errorf("type: unknown document type %q", in.Type)
	}
	if err := safepath.Check(in.Path, false); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	if !validDigest(in.SHA256) {
		return nil, fmt.Errorf("sha256: %q is not sha256:<64 lowercase hex>", in.SHA256)
	}
	if in.Size < 0 {
		return nil, fmt.Errorf("size: %d is negative", in.Size)
	}
	if in.Tenant == "" {
		return nil, errors.New("tenant: empty")
	}
	d := &evidence.Doc{Type: t, Tenant: in.Tenant, Subject: in.Subject, ID: in.ID, Path: in.Path,
		SHA256: in.SHA256, Size: in.Size, Format: in.Format,
		Ecosystems: in.Ecosystems, Products: in.Products}
	if in.Time != "" {
		tm, err := time.Parse(time.RFC3339, in.Time)
		if err != nil || stamp(tm) != in.Time {
			return nil, fmt.Errorf("time: %q is not an RFC 3339 UTC time in whole seconds", in.Time)
		}
		d.Time = tm
	}
	return d, nil
}

func validDigest(s string) bool {
	_, err := digest.Parse(s)
	return err == nil
}
