// Package report writes a verification report as one self-contained HTML
// page: a verdict banner, the bundle's facts, every failed check, the
// signatures, the provenance summary, the transparency-log receipt and the
// file tree.
//
// The page is made with html/template, carries its CSS inline and no
// script, links or external assets, so it opens offline and reaches no
// network. It holds no wall-clock time: the same bundle verified with the
// same flags gives the same bytes. Large bundles stay small: the tree is
// grouped by directory, each directory a collapsed <details> element
// listing at most MaxFilesPerDir files (directories holding a failure are
// open); checksums.txt in the bundle lists them all.
package report

import (
	_ "embed"
	"encoding/json"
	"html/template"
	"io"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/provenance"
	"github.com/stella-ops/stella-export/internal/verify"
)

// MaxFilesPerDir is how many files of one directory the page lists.
const MaxFilesPerDir = 200

//go:embed report.html.tmpl
var pageText string

var page = template.Must(template.New("report").Parse(pageText))

// Collector gathers, while a bundle is verified, what the report shows
// beyond verify.Report: each file's size and the provenance summary.
type Collector struct {
	mu      sync.Mutex
	sizes   map[string]int64
	prov    *provenance.Summary
	provErr error
}

// NewCollector returns an empty collector.
func NewCollector() *Collector { return &Collector{sizes: map[string]int64{}} }

// Extract wraps verify.Options.Extract (next may be nil): it records every
// file's size and summarizes provenance.json as it streams past.
func (c *Collector) Extract(next func(string, int64) (io.WriteCloser, error)) func(string, int64) (io.WriteCloser, error) {
	return func(name string, size int64) (io.WriteCloser, error) {
		c.mu.Lock()
		c.sizes[name] = size
		c.mu.Unlock()
		var w io.WriteCloser
		if next != nil {
			var err error
			if w, err = next(name, size); err != nil {
				return nil, err
			}
		}
		if name != layout.Provenance {
			return w, nil
		}
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s, err := provenance.Summarize(pr)
			_, _ = io.Copy(io.Discard, pr)
			c.mu.Lock()
			c.prov, c.provErr = s, err
			c.mu.Unlock()
		}()
		return &teeCloser{w: w, pw: pw, done: done}, nil
	}
}

type teeCloser struct {
	w    io.WriteCloser
	pw   *io.PipeWriter
	done chan struct{}
}

func (t *teeCloser) Write(b []byte) (int, error) {
	if t.w != nil {
		if n, err := t.w.Write(b); err != nil {
			return n, err
		}
	}
	_, _ = t.pw.Write(b) // the summary reports its own errors
	return len(b), nil
}

func (t *teeCloser) Close() error {
	_ = t.pw.Close()
	<-t.done
	if t.w != nil {
		return t.w.Close()
	}
	return nil
}

type fact struct{ Name, Value string }

type file struct {
	Name, Digest string
	Size         int64
	HasSize      bool
	Failed       bool
}

type dir struct {
	Name   string
	Files  []file
	Count  int
	Bytes  int64
	More   int
	Failed bool
}

type data struct {
	OK         bool
	Title      string
	Failures   []verify.Problem
	Facts      []fact
	Signatures []verify.SignatureCheck
	Prov       []fact
	ProvNote   string
	Log        *verify.LogCheck
	Dirs       []dir
	Files      int
	Bytes      int64
	Limit      int
}

// Write renders the report of rep; c may be nil.
func Write(w io.Writer, rep *verify.Report, c *Collector) error {
	if c == nil {
		c = NewCollector()
	}
	d := data{OK: rep.OK, Title: rep.Path, Failures: rep.AllProblems(), Signatures: rep.Signatures,
		Log: rep.Log, Files: rep.Files, Bytes: rep.Bytes, Limit: MaxFilesPerDir}
	if d.Title == "" {
		d.Title = "bundle"
	}
	var m struct {
		Tenant       string `json:"tenant"`
		CreatedAtUTC string `json:"createdAtUtc"`
		ExpiresAtUTC string `json:"expiresAtUtc"`
	}
	if b := rep.Document(layout.Manifest); b != nil {
		_ = json.Unmarshal(b, &m) // verify reports a broken export.json
	}
	for _, f := range []fact{{"bundle", rep.Path}, {"root", rep.Root}, {"sha256", rep.SHA256}, {"export id", rep.ExportID},
		{"tenant", m.Tenant}, {"profile", rep.Profile}, {"created", m.CreatedAtUTC}, {"expires", m.ExpiresAtUTC}} {
		if f.Value != "" {
			d.Facts = append(d.Facts, f)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.prov != nil:
		p := c.prov
		d.Prov = []fact{{"contract", "sha256:" + p.Contract.Digest.SHA256}, {"contract name", p.Contract.Name},
			{"inputs", itoa(p.Inputs)}, {"inputs root", "sha256:" + p.InputsRoot.Hex()}, {"adapters", compact(p.Adapters)},
			{"exporter", p.ExporterVersion}}
	case c.provErr != nil:
		d.ProvNote = "provenance.json could not be summarized: " + c.provErr.Error()
	default:
		d.ProvNote = "the bundle has no provenance.json"
	}
	d.Dirs = tree(rep, c.sizes, d.Failures)
	return page.Execute(w, d)
}

func tree(rep *verify.Report, sizes map[string]int64, problems []verify.Problem) []dir {
	failed := map[string]bool{}
	for _, p := range problems {
		failed[p.Path] = true
	}
	byDir := map[string]*dir{}
	add := func(name, digest string) {
		dn := path.Dir(name)
		dd := byDir[dn]
		if dd == nil {
			dd = &dir{Name: dn}
			byDir[dn] = dd
		}
		size, ok := sizes[name]
		dd.Count++
		dd.Bytes += size
		f := file{Name: path.Base(name), Digest: digest, Size: size, HasSize: ok, Failed: failed[name]}
		dd.Failed = dd.Failed || f.Failed
		if len(dd.Files) < MaxFilesPerDir || f.Failed {
			dd.Files = append(dd.Files, f)
		} else {
			dd.More++
		}
	}
	seen := map[string]bool{}
	if cs := rep.Checksums(); cs != nil {
		for _, e := range cs.Entries {
			add(e.Path, "sha256:"+e.Digest.Hex())
			seen[e.Path] = true
		}
	}
	names := make([]string, 0, len(sizes))
	for n := range sizes {
		if !seen[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		add(n, "")
	}
	out := make([]dir, 0, len(byDir))
	for _, dd := range byDir {
		out = append(out, *dd)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func compact(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return strings.TrimSpace(string(b))
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
