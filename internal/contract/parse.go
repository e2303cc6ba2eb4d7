package contract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stella-ops/stella-export/internal/digest"
)

// Parse reads the contract in data; path names the file in messages and
// is the base for relative paths. It returns Errors listing every mistake
// in the file, in file order, or a valid Contract.
func Parse(path string, data []byte) (*Contract, error) {
	p := &parser{
		file: path,
		pos:  map[string]Pos{},
		keys: map[string]*yaml.Node{},
		vals: map[string]*yaml.Node{},
	}
	root := p.document(data)
	if root == nil {
		return nil, p.sorted()
	}
	c := &Contract{
		Path:        path,
		Digest:      digest.Sum(data).String(),
		Compression: Compression{Codec: "zstd", Level: defaultZstdLevel},
	}
	p.anchors(root, "")
	p.contract(c, root)
	if len(p.errs) > 0 {
		return nil, p.sorted()
	}
	c.pos = p.pos
	return c, nil
}

// A field is one key of a mapping: its name, whether it must be written,
// and how its value is read into the Contract.
type field struct {
	name string
	// missing, when set, makes the field required: the fix given when it
	// is not written.
	missing string
	read    func(p *parser, c *Contract, path string, val *yaml.Node)
}

// kindSpec is what a kind adds to the common fields: its own fields and
// the rules that relate several fields. A new kind (DatasetExport) is a
// new entry in kinds.
type kindSpec struct {
	fields []field
	check  func(p *parser, c *Contract, root *yaml.Node)
}

// commonFields are read for every kind.
var commonFields = []field{
	{"apiVersion", "missing; add apiVersion: " + APIVersion, readAPIVersion},
	{"kind", "missing; add kind: " + KindEvidence, readKind},
	{"export_id", "missing; add export_id: urn:<namespace>:<name>, e.g. " + urnExample, readExportID},
	{"tenant", "missing; add tenant: <name>, e.g. tenant: acme", readTenant},
}

// kinds are the kinds this version reads.
var kinds = map[string]*kindSpec{
	KindEvidence: evidenceKind,
	KindDataset:  datasetKind,
}

// plannedKinds are kinds of later versions: known names, refused with a
// clear message.
var plannedKinds = []string{}

// kindNames lists the supported kinds, for messages.
func kindNames() []string {
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// parser collects the mistakes of one file and the positions of the
// fields written.
type parser struct {
	file string
	errs Errors
	pos  map[string]Pos
	keys map[string]*yaml.Node // key nodes by field path
	vals map[string]*yaml.Node // value nodes by field path
}

func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &FieldError{File: p.file, Field: path, Reason: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

// maxErrors bounds the mistakes listed for one file; the rest are
// counted in a last entry, so that a pasted log or a generated file
// cannot flood a CI log.
const maxErrors = 100

func (p *parser) sorted() Errors {
	sort.SliceStable(p.errs, func(i, j int) bool {
		a, b := p.errs[i], p.errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	if len(p.errs) > maxErrors {
		rest := p.errs[maxErrors]
		more := &FieldError{
			File: p.file, Line: rest.Line, Column: rest.Column,
			Reason: fmt.Sprintf("%d more mistakes from here on are not listed; fix the ones above and check again", len(p.errs)-maxErrors),
		}
		p.errs = append(p.errs[:maxErrors:maxErrors], more)
	}
	return p.errs
}

// maxSize bounds a contract file: contracts are small, and a bound keeps
// a mistaken path (a payload, a device) from being parsed as YAML.
const maxSize = 1 << 20

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document returns the top-level mapping of the single YAML document in
// data, or nil after recording why there is none.
func (p *parser) document(data []byte) (root *yaml.Node) {
	defer func() {
		// yaml.v3 is not known to panic on any input, but a contract
		// checker must never crash in CI with a stack trace.
		if r := recover(); r != nil {
			root = nil
			p.errorf(nil, "", "invalid YAML: the parser failed (%v)", r)
		}
	}()
	if len(data) > maxSize {
		p.errorf(nil, "", "the file is %d bytes; a contract is a small YAML file of at most %d bytes", len(data), maxSize)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(nil, "", "the file has no contract; a contract starts with apiVersion: %s", APIVersion)
			return nil
		}
		p.syntax(err)
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.syntax(err)
		return nil
	default:
		p.errorf(&next, "", "a second YAML document starts here; a contract file holds one: remove this '---' or split the file")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		p.errorf(&doc, "", "the file has no contract; a contract starts with apiVersion: %s", APIVersion)
		return nil
	}
	root = doc.Content[0]
	switch {
	case root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null":
		p.errorf(root, "", "the document is empty; a contract starts with apiVersion: %s", APIVersion)
		return nil
	case root.Kind != yaml.MappingNode:
		p.errorf(root, "", "the document is %s; a contract is a mapping of fields, starting with apiVersion: %s", describe(root), APIVersion)
		return nil
	}
	return root
}

// anchors reports every anchor (&a) below n, aliased or not: a contract
// writes each value where it applies (docs/contract.md). Aliases and merge
// keys are reported where the fields are read.
func (p *parser) anchors(n *yaml.Node, path string) {
	if n.Anchor != "" {
		p.errorf(n, path, "anchors (&%s) are not supported; write the value out", n.Anchor)
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			kpath := path
			if k.Kind == yaml.ScalarNode {
				kpath = join(path, k.Value)
			}
			p.anchors(k, kpath)
			p.anchors(v, kpath)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p.anchors(item, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// syntax records a YAML syntax error at the line the YAML parser gave.
func (p *parser) syntax(err error) {
	msg := err.Error()
	e := &FieldError{File: p.file}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	e.Reason = "invalid YAML: " + msg
	p.errs = append(p.errs, e)
}

// contract reads the top-level mapping.
func (p *parser) contract(c *Contract, root *yaml.Node) {
	spec := kinds[KindEvidence] // the default when kind is missing or unknown
	planned := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "kind" && v.Kind == yaml.ScalarNode {
			if s, ok := kinds[v.Value]; ok {
				spec = s
			} else if contains(plannedKinds, v.Value) {
				planned = true
			}
			break
		}
	}
	known := append(append([]field(nil), commonFields...), spec.fields...)
	if planned {
		// The fields of a later kind are unknown to this version: check
		// the common ones only.
		known = commonFields
	}
	p.mapping(c, "", root, known, !planned)
	if !planned && spec.check != nil {
		spec.check(p, c, root)
	}
}

// mapping reads the fields of mapping node m. Unknown keys are mistakes
// when strict is set.
func (p *parser) mapping(c *Contract, prefix string, m *yaml.Node, fields []field, strict bool) {
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, prefix, "a key is %s; keys are field names", describe(k))
			continue
		}
		name := k.Value
		path := join(prefix, fieldName(name))
		if k.ShortTag() == "!!merge" {
			p.errorf(k, prefix, "merge keys (<<) are not supported; write the fields out")
			continue
		}
		if first, dup := seen[name]; dup {
			if first.Line == k.Line {
				p.errorf(k, path, "written twice on line %d; keep one", k.Line)
			} else {
				p.errorf(k, path, "written twice, at lines %d and %d; keep one", first.Line, k.Line)
			}
			continue
		}
		seen[name] = k
		f := lookup(fields, name)
		if f == nil {
			if strict {
				p.unknownField(k, path, name, fields)
			}
			continue
		}
		p.keys[path] = k
		p.vals[path] = v
		if v.Kind == yaml.ScalarNode {
			p.pos[path] = Pos{v.Line, v.Column}
		} else {
			p.pos[path] = Pos{k.Line, k.Column}
		}
		if v.Kind == yaml.AliasNode {
			p.errorf(v, path, "aliases (*%s) are not supported; write the value out", v.Value)
			continue
		}
		f.read(p, c, path, v)
	}
	for _, f := range fields {
		if f.missing != "" && seen[f.name] == nil {
			p.errorf(m, join(prefix, f.name), "%s", f.missing)
		}
	}
}

func (p *parser) unknownField(k *yaml.Node, path, name string, fields []field) {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	if s := suggest(name, names); s != "" {
		p.errorf(k, path, "unknown field; did you mean %s?", s)
		return
	}
	p.errorf(k, path, "unknown field; valid fields here: %s", strings.Join(names, ", "))
}

func lookup(fields []field, name string) *field {
	for i := range fields {
		if fields[i].name == name {
			return &fields[i]
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

var plainName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// fieldName is a key as it appears in a field path: quoted unless plain,
// so that a path stays on one line and unambiguous.
func fieldName(name string) string {
	if plainName.MatchString(name) {
		return name
	}
	return quote(name)
}

// describe names what a node holds, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.DocumentNode:
		return "a document"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case "!!str":
		return "a string " + quote(n.Value)
	case "!!int":
		return "an integer " + clip(n.Value)
	case "!!float":
		return "a number " + clip(n.Value)
	case "!!bool":
		return "a boolean " + n.Value
	case "!!null":
		return "no value"
	case "!!timestamp":
		return "a timestamp " + clip(n.Value)
	case "!!binary":
		return "binary data"
	}
	return "a value tagged " + clip(n.ShortTag())
}

// clip returns s as it is when it is short and needs no escaping (a
// number, a tag), and quoted otherwise, so that a message stays on one
// line whatever the value holds.
func clip(s string) string {
	q := quote(s)
	if q == `"`+s+`"` {
		return s
	}
	return q
}

// unquoteHint suggests dropping quotes when a string would be of the
// wanted YAML type without them.
func unquoteHint(n *yaml.Node, tag string) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" || n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
		return ""
	}
	var probe yaml.Node
	if err := yaml.Unmarshal([]byte(n.Value), &probe); err == nil && len(probe.Content) == 1 && probe.Content[0].Kind == yaml.ScalarNode && probe.Content[0].ShortTag() == tag {
		return "; write " + n.Value + " without quotes"
	}
	return ""
}

// str reads a string. YAML resolves unquoted 90, true or 2024-01-01 to
// other types: those are refused with the advice to quote them.
func (p *parser) str(path string, v *yaml.Node) (string, bool) {
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
		return v.Value, true
	}
	if v.Kind == yaml.ScalarNode && v.ShortTag() != "!!null" {
		p.errorf(v, path, "want a string, got %s; quote it: %s", describe(v), strconv.Quote(v.Value))
		return "", false
	}
	p.errorf(v, path, "want a string, got %s", describe(v))
	return "", false
}

// nonEmpty reads a string that is not empty or blank.
func (p *parser) nonEmpty(path string, v *yaml.Node, example string) (string, bool) {
	s, ok := p.str(path, v)
	if !ok {
		return "", false
	}
	if strings.TrimSpace(s) == "" {
		p.errorf(v, path, "is empty; write e.g. %s", example)
		return "", false
	}
	return s, true
}

func (p *parser) integer(path string, v *yaml.Node, lo, hi int) (int, bool) {
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" {
		p.errorf(v, path, "want an integer from %d to %d, got %s%s", lo, hi, describe(v), unquoteHint(v, "!!int"))
		return 0, false
	}
	var n int64
	if err := v.Decode(&n); err != nil || n < int64(lo) || n > int64(hi) {
		p.errorf(v, path, "%s is out of range; use an integer from %d to %d", clip(v.Value), lo, hi)
		return 0, false
	}
	return int(n), true
}

// time reads an RFC 3339 time. Unquoted, YAML resolves one to a
// timestamp; quoted, it is a string: both are read from the text as
// written.
func (p *parser) time(path string, v *yaml.Node) (time.Time, bool) {
	if v.Kind != yaml.ScalarNode || (v.ShortTag() != "!!str" && v.ShortTag() != "!!timestamp") {
		p.errorf(v, path, "want an RFC 3339 time such as 2025-01-01T00:00:00Z, got %s", describe(v))
		return time.Time{}, false
	}
	t, reason := parseTime(v.Value)
	if reason != "" {
		p.errorf(v, path, "%s", reason)
		return time.Time{}, false
	}
	return t, true
}

func (p *parser) boolean(path string, v *yaml.Node) (bool, bool) {
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
		p.errorf(v, path, "want true or false, got %s%s", describe(v), unquoteHint(v, "!!bool"))
		return false, false
	}
	var b bool
	if err := v.Decode(&b); err != nil {
		p.errorf(v, path, "want true or false, got %s", describe(v))
		return false, false
	}
	return b, true
}

// list reads a sequence of strings; each item is checked by check, which
// returns "" or the reason it is wrong. Duplicates and an empty list are
// mistakes: an empty selector list would select nothing. same, when not
// nil, maps items to what they stand for, so that two spellings of one
// thing are duplicates too.
func (p *parser) list(path string, v *yaml.Node, check func(string) string, same func(string) string) ([]string, bool) {
	if v.Kind != yaml.SequenceNode {
		p.errorf(v, path, "want a sequence of strings, got %s", describe(v))
		return nil, false
	}
	if len(v.Content) == 0 {
		p.errorf(v, path, "is an empty list, which would select nothing; remove the field to select everything")
		return nil, false
	}
	ok := true
	var out []string
	seen := map[string]*yaml.Node{}
	for i, item := range v.Content {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		p.pos[ipath] = Pos{item.Line, item.Column}
		p.vals[ipath] = item
		if item.Kind == yaml.AliasNode {
			p.errorf(item, ipath, "aliases (*%s) are not supported; write the value out", item.Value)
			ok = false
			continue
		}
		s, sok := p.str(ipath, item)
		if !sok {
			ok = false
			continue
		}
		if reason := check(s); reason != "" {
			p.errorf(item, ipath, "%s", reason)
			ok = false
			continue
		}
		key := s
		if same != nil {
			key = same(s)
		}
		if first := seen[key]; first != nil {
			if first.Value == s {
				p.errorf(item, ipath, "%s is listed twice (also at line %d); remove one", quote(s), first.Line)
			} else {
				p.errorf(item, ipath, "%s selects the same as %s (line %d): both mean %s; remove one", quote(s), quote(first.Value), first.Line, key)
			}
			ok = false
			continue
		}
		seen[key] = item
		out = append(out, s)
	}
	return out, ok
}

// resolve makes a path written in the contract relative to the
// contract's directory; absolute paths are kept. Both are cleaned.
func resolve(contractPath, p string) string {
	p = filepath.FromSlash(p)
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(filepath.Dir(contractPath), p)
}

func readAPIVersion(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.str(path, v)
	if !ok {
		return
	}
	switch {
	case s == APIVersion:
		c.APIVersion = s
	case strings.HasPrefix(s, "stella-export/"):
		p.errorf(v, path, "%s is not supported by this version; write apiVersion: %s", quote(s), APIVersion)
	default:
		p.errorf(v, path, "%s is not a stella-export contract version; write apiVersion: %s", quote(s), APIVersion)
	}
}

func readKind(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.str(path, v)
	if !ok {
		return
	}
	names := kindNames()
	switch {
	case kinds[s] != nil:
		c.Kind = s
	case contains(plannedKinds, s):
		p.errorf(v, path, "%s is not supported by this version yet (planned); use %s", s, strings.Join(names, " or "))
	default:
		if g := suggest(s, append(append([]string(nil), names...), plannedKinds...)); g != "" && kinds[g] != nil {
			p.errorf(v, path, "unknown kind %s; did you mean %s?", quote(s), g)
			return
		}
		p.errorf(v, path, "unknown kind %s; valid kinds: %s", quote(s), strings.Join(names, ", "))
	}
}

func readExportID(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.str(path, v)
	if !ok {
		return
	}
	if reason := checkURN(s); reason != "" {
		p.errorf(v, path, "%s", reason)
		return
	}
	c.ExportID = s
}

func readTenant(p *parser, c *Contract, path string, v *yaml.Node) {
	s, ok := p.str(path, v)
	if !ok {
		return
	}
	if reason := checkTenant(s); reason != "" {
		p.errorf(v, path, "%s", reason)
		return
	}
	c.Tenant = s
}
