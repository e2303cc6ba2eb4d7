package evidence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/digest"
)

// meta is what extraction finds in one document.
type meta struct {
	format  string
	id      string
	subject string
	// subjects are the identifiers sbom_subjects selectors compare with
	// (SBOMs only): subject purl, component name, document name.
	subjects []string
	time     time.Time
	tenant   string // a tenant the document names itself (findings, snapshots)
	snapshot string // a snapshot id the document names (findings)
	about    map[string]struct{}
	ecos     map[string]struct{}
	// purls sees every purl, about or component, for product selectors.
	purls func(string)
	errs  []string
}

func newMeta(purls func(string)) *meta {
	return &meta{about: map[string]struct{}{}, ecos: map[string]struct{}{}, purls: purls}
}

func (m *meta) fail(format string, args ...any) {
	m.errs = append(m.errs, fmt.Sprintf(format, args...))
}

func (m *meta) purl(p string, about bool) {
	if p == "" {
		return
	}
	if t := PurlType(p); t != "" {
		m.ecos[t] = struct{}{}
	}
	if about && len(m.about) < 10000 {
		m.about[Product(p)] = struct{}{}
	}
	if m.purls != nil {
		m.purls(p)
	}
}

func (m *meta) setTime(field string, v any) {
	s, ok := v.(string)
	if !ok {
		m.fail("%s: want an RFC 3339 string", field)
		return
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		m.fail("%s: %q is not an RFC 3339 time", field, s)
		return
	}
	m.time = t.UTC()
}

// str is a string token's value, "" for a token of another kind.
func str(v jsontext.Token) string {
	if v.Kind() != '"' {
		return ""
	}
	return v.String()
}

// value copies a scalar token out of the tokenizer's buffer as string,
// json.Number, bool or nil (what encoding/json's Decoder.Token gives), for
// fields checked once the document has been read.
func value(v jsontext.Token) any {
	switch v.Kind() {
	case '"':
		return v.String()
	case '0':
		return json.Number(v.String())
	case 't', 'f':
		return v.Bool()
	}
	return nil
}

// extract reads one document of type t and checks the fields the exporter
// relies on.
func extract(r io.Reader, t Type, purls func(string)) (*meta, error) {
	m := newMeta(purls)
	var v visitor
	switch t {
	case Advisory:
		v = &osvVisitor{m: m}
	case VEX:
		v = &vexVisitor{m: m}
	case SBOM:
		v = &sbomVisitor{m: m, spdxPurl: map[string]string{}}
	case Finding:
		v = &findingVisitor{m: m}
	}
	if err := walk(r, v); err != nil {
		return nil, err
	}
	v.(interface{ finish() }).finish()
	return m, nil
}

// --- OSV ---

type osvVisitor struct {
	m                   *meta
	modified, published any
	schema              string
	eco, name, purl     string
}

func (o *osvVisitor) scalar(path []byte, v jsontext.Token) {
	switch string(path) {
	case "id":
		o.m.id = str(v)
	case "modified":
		o.modified = value(v)
	case "published":
		o.published = value(v)
	case "schema_version":
		o.schema = str(v)
	case "affected[].package.ecosystem":
		o.eco = str(v)
	case "affected[].package.name":
		o.name = str(v)
	case "affected[].package.purl":
		o.purl = str(v)
	}
}

func (o *osvVisitor) endObject(path []byte) {
	if string(path) != "affected[]" {
		return
	}
	ptype, _ := contract.NormalizeEcosystem(o.eco)
	if ptype != "" {
		o.m.ecos[ptype] = struct{}{}
	}
	p := o.purl
	if p == "" {
		p = osvPurl(ptype, o.name)
	}
	o.m.purl(p, true)
	o.eco, o.name, o.purl = "", "", ""
}

func (o *osvVisitor) finish() {
	m := o.m
	m.format = "osv"
	if m.id == "" {
		m.fail("id: missing (OSV requires a string id)")
	}
	if o.schema != "" && !strings.HasPrefix(o.schema, "1.") {
		m.fail("schema_version: %q is not OSV 1.x", o.schema)
	}
	switch {
	case o.modified != nil:
		m.setTime("modified", o.modified)
	default:
		m.fail("modified: missing (OSV requires it)")
	}
	m.subject = minKey(m.about)
}

// --- OpenVEX ---

type vexVisitor struct {
	m                  *meta
	context            string
	timestamp, updated any
	statements         int
}

func (x *vexVisitor) scalar(path []byte, v jsontext.Token) {
	switch string(path) {
	case "@context":
		x.context = str(v)
	case "@id":
		x.m.id = str(v)
	case "timestamp":
		x.timestamp = value(v)
	case "last_updated":
		x.updated = value(v)
	case "statements[].products[].@id", "statements[].products[]", "statements[].products[].identifiers.purl":
		x.m.purl(str(v), true)
	case "statements[].products[].subcomponents[].@id", "statements[].products[].subcomponents[]",
		"statements[].products[].subcomponents[].identifiers.purl":
		x.m.purl(str(v), false)
	}
}

func (x *vexVisitor) endObject(path []byte) {
	if string(path) == "statements[]" {
		x.statements++
	}
}

func (x *vexVisitor) finish() {
	m := x.m
	m.format = "openvex"
	if !strings.HasPrefix(x.context, "https://openvex.dev/ns") {
		m.fail("@context: %q is not an OpenVEX context (https://openvex.dev/ns/...)", x.context)
	}
	if m.id == "" {
		m.fail("@id: missing (OpenVEX requires it)")
	}
	switch {
	case x.updated != nil:
		m.setTime("last_updated", x.updated)
	case x.timestamp != nil:
		m.setTime("timestamp", x.timestamp)
	default:
		m.fail("timestamp: missing (OpenVEX requires it)")
	}
	m.subject = minKey(m.about)
}

// --- CycloneDX and SPDX ---

type sbomVisitor struct {
	m                          *meta
	bomFormat, spec, spdx      string
	serial, namespace, docName string
	ts                         any
	compPurl, compName, compV  string
	compRef                    string
	describes                  []string
	pkgID, pkgPurl             string
	spdxPurl                   map[string]string
}

var spdxIDs = 100000

func (s *sbomVisitor) scalar(path []byte, v jsontext.Token) {
	switch string(path) {
	case "bomFormat":
		s.bomFormat = str(v)
	case "specVersion":
		s.spec = fmt.Sprint(value(v))
	case "serialNumber":
		s.serial = str(v)
	case "metadata.timestamp":
		s.ts = value(v)
	case "metadata.component.purl":
		s.compPurl = str(v)
	case "metadata.component.name":
		s.compName = str(v)
	case "metadata.component.version":
		s.compV = str(v)
	case "metadata.component.bom-ref":
		s.compRef = str(v)
	case "spdxVersion":
		s.spdx = str(v)
	case "documentNamespace":
		s.namespace = str(v)
	case "name":
		s.docName = str(v)
	case "creationInfo.created":
		s.ts = value(v)
	case "documentDescribes[]":
		if len(s.describes) < 64 {
			s.describes = append(s.describes, str(v))
		}
	case "packages[].SPDXID":
		s.pkgID = str(v)
	case "packages[].externalRefs[].referenceLocator":
		if p := str(v); strings.HasPrefix(p, "pkg:") && s.pkgPurl == "" {
			s.pkgPurl = p
		}
	default:
		if bytes.HasPrefix(path, []byte("components[]")) && bytes.HasSuffix(path, []byte(".purl")) {
			s.m.purl(str(v), false)
		}
	}
}

func (s *sbomVisitor) endObject(path []byte) {
	if string(path) != "packages[]" {
		return
	}
	if s.pkgPurl != "" {
		s.m.purl(s.pkgPurl, false)
		if len(s.spdxPurl) < spdxIDs {
			s.spdxPurl[s.pkgID] = s.pkgPurl
		}
	}
	s.pkgID, s.pkgPurl = "", ""
}

var cdxSpecs = []string{"1.5", "1.6"}

func (s *sbomVisitor) finish() {
	m := s.m
	switch {
	case s.bomFormat == "CycloneDX":
		m.format = "cyclonedx"
		if !slices.Contains(cdxSpecs, s.spec) {
			m.fail("specVersion: CycloneDX %q is not supported (want 1.5 or 1.6)", s.spec)
		}
		m.id = s.serial
		if m.id == "" {
			m.fail("serialNumber: missing (the document id of a CycloneDX SBOM)")
		}
		if s.ts == nil {
			m.fail("metadata.timestamp: missing")
		} else {
			m.setTime("metadata.timestamp", s.ts)
		}
		switch {
		case s.compPurl != "":
			m.subject = s.compPurl
		case s.compName != "" && s.compV != "":
			m.subject = s.compName + "@" + s.compV
		default:
			m.subject = s.compName
		}
		m.subjects = nonEmpty(s.compPurl, s.compName, s.compRef)
		if s.compPurl != "" {
			m.purl(s.compPurl, true)
		}
	case s.spdx != "":
		m.format = "spdx"
		if s.spdx != "SPDX-2.3" {
			m.fail("spdxVersion: %q is not supported (want SPDX-2.3)", s.spdx)
		}
		m.id = s.namespace
		if m.id == "" {
			m.fail("documentNamespace: missing (the document id of an SPDX SBOM)")
		}
		if s.ts == nil {
			m.fail("creationInfo.created: missing")
		} else {
			m.setTime("creationInfo.created", s.ts)
		}
		var subj string
		for _, d := range s.describes {
			if p := s.spdxPurl[d]; p != "" {
				subj = p
				break
			}
		}
		if subj != "" {
			m.purl(subj, true)
			m.subject = subj
		} else {
			m.subject = s.docName
		}
		m.subjects = nonEmpty(subj, s.docName)
	default:
		m.fail("neither a CycloneDX (bomFormat) nor an SPDX (spdxVersion) JSON document")
	}
}

// --- policy findings ---

type findingVisitor struct {
	m                 *meta
	purl, adv, status string
	evaluated         any
}

var findingStatus = []string{"affected", "fixed", "not_affected", "under_investigation"}

func (f *findingVisitor) scalar(path []byte, v jsontext.Token) {
	switch string(path) {
	case "id":
		f.m.id = str(v)
	case "tenant":
		f.m.tenant = str(v)
	case "snapshot_id":
		f.m.snapshot = str(v)
	case "purl":
		f.purl = str(v)
	case "advisory_id":
		f.adv = str(v)
	case "status":
		f.status = str(v)
	case "evaluated_at":
		f.evaluated = value(v)
	}
}

func (f *findingVisitor) endObject([]byte) {}

func (f *findingVisitor) finish() {
	m := f.m
	m.format = "finding"
	if m.id == "" {
		m.fail("id: missing")
	}
	if PurlType(f.purl) == "" {
		m.fail("purl: %q is not a package URL", f.purl)
	} else {
		m.purl(f.purl, true)
		m.subject = f.purl
	}
	if f.adv == "" {
		m.fail("advisory_id: missing")
	}
	if !slices.Contains(findingStatus, f.status) {
		m.fail("status: %q is not one of %s", f.status, strings.Join(findingStatus, ", "))
	}
	if f.evaluated != nil {
		m.setTime("evaluated_at", f.evaluated)
	}
}

// --- helpers ---

func minKey(m map[string]struct{}) string {
	first := true
	var min string
	for k := range m {
		if first || k < min {
			min, first = k, false
		}
	}
	return min
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Snapshot is a policy snapshot's metadata.
type Snapshot struct {
	ID            string
	Tenant        string
	PolicyVersion string
	InputsHash    string
	// DecisionTrace is the fingerprint of the snapshot's decision_trace:
	// "sha256:" of its canonical JSON form.
	DecisionTrace string
	CreatedAt     time.Time
	Path          string // relative to the source
	SHA256        string
	Size          int64
}

var sha256Re = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func parseSnapshot(b []byte) (*Snapshot, []string) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, []string{"invalid JSON: " + err.Error()}
	}
	var errs []string
	get := func(k string) string {
		var s string
		if v, ok := raw[k]; !ok {
			errs = append(errs, k+": missing")
		} else if json.Unmarshal(v, &s) != nil || s == "" {
			errs = append(errs, k+": want a non-empty string")
		}
		return s
	}
	s := &Snapshot{ID: get("snapshot_id"), Tenant: get("tenant"), PolicyVersion: get("policy_version"), InputsHash: get("inputs_hash")}
	if s.InputsHash != "" && !sha256Re.MatchString(s.InputsHash) {
		errs = append(errs, fmt.Sprintf("inputs_hash: %q is not sha256:<64 lowercase hex>", s.InputsHash))
	}
	if v, ok := raw["created_at"]; ok {
		var ts string
		t, err := time.Time{}, json.Unmarshal(v, &ts)
		if err == nil {
			t, err = time.Parse(time.RFC3339Nano, ts)
		}
		if err != nil {
			errs = append(errs, "created_at: not an RFC 3339 time")
		}
		s.CreatedAt = t.UTC()
	}
	dt, ok := raw["decision_trace"]
	if !ok {
		errs = append(errs, "decision_trace: missing")
	} else if c, err := rawCanon(dt); err != nil {
		errs = append(errs, "decision_trace: "+err.Error())
	} else {
		s.DecisionTrace = digest.Sum(c).String()
	}
	return s, errs
}
