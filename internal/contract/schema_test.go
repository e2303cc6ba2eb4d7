package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

const schemaPath = "../../docs/contract.schema.json"

// compileSchema compiles docs/contract.schema.json. The compiler checks it
// against the draft 2020-12 meta-schema it carries (no network), and
// asserts "format" so that calendar dates are checked as well.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const id = "https://stella-ops.example/schemas/contract-v1.json"
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(id)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaPath, err)
	}
	return sch
}

// yamlJSON turns a YAML contract into the JSON value an editor's YAML
// language server would check: timestamps stay the text written, numbers
// are numbers, aliases are followed.
func yamlJSON(data []byte) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 {
		return nil, errors.New("not one document")
	}
	return nodeJSON(doc.Content[0], 0)
}

func nodeJSON(n *yaml.Node, depth int) (any, error) {
	if depth > 50 {
		return nil, errors.New("too deep")
	}
	switch n.Kind {
	case yaml.AliasNode:
		return nodeJSON(n.Alias, depth+1)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("duplicate key %s", k)
			}
			v, err := nodeJSON(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			v, err := nodeJSON(c, depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	}
	switch n.ShortTag() {
	case "!!str", "!!timestamp":
		return n.Value, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, err
		}
		return json.Number(strconv.FormatInt(i, 10)), nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("number %s", n.Value)
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	case "!!bool":
		return n.Value == "true", nil
	case "!!null":
		return nil, nil
	}
	return nil, fmt.Errorf("tag %s", n.ShortTag())
}

func schemaValidate(t *testing.T, sch *jsonschema.Schema, src string) error {
	t.Helper()
	v, err := yamlJSON([]byte(src))
	if err != nil {
		t.Fatalf("yaml to json: %v\n%s", err, src)
	}
	return sch.Validate(v)
}

func TestSchemaAcceptsValidContracts(t *testing.T) {
	sch := compileSchema(t)
	files, err := filepath.Glob("../../testdata/contracts/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("sample contracts: %v %v", files, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := schemaValidate(t, sch, string(data)); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
	for _, tt := range append(validCases, struct{ name, src string }{"full", full}, struct{ name, src string }{"head", head}) {
		if err := schemaValidate(t, sch, tt.src); err != nil {
			t.Errorf("%s: %v\n%s", tt.name, err, tt.src)
		}
	}
}

// schemaInvalid are contracts that both the parser and the schema refuse.
var schemaInvalid = []struct{ name, src string }{
	{"unknown field", mk("colour: red")},
	{"unknown selector", mk("selectors: {sinse: 2025-01-01T00:00:00Z}")},
	{"missing source", mk("-source")},
	{"apiVersion", mk("apiVersion: stella-export/v2")},
	{"dataset kind", mk("kind: DatasetExport")},
	{"urn scheme", mk("export_id: stella:export:x")},
	{"urn without name", mk("export_id: urn:stella")},
	{"urn:urn", mk("export_id: urn:urn:stella:x")},
	{"urn short namespace", mk("export_id: urn:s:x")},
	{"urn query", mk("export_id: urn:stella:x?+r")},
	{"urn too long", mk("export_id: urn:stella:" + strings.Repeat("x", 190))},
	{"tenant case", mk("tenant: Acme")},
	{"profile", mk("profile: json-raw")},
	{"source empty", mk("source: ''")},
	{"policy on json:raw", mk("policy_snapshot: snap-2025-06")},
	{"policy missing", mk("profile: json:policy")},
	{"policy id", mk("profile: json:policy", "policy_snapshot: ../x")},
	{"base missing", mk("profile: mirror:delta")},
	{"base on mirror:full", mk("profile: mirror:full", "base: a.tgz")},
	{"trivy schema 3", mk("profile: trivy:db", "trivy_schema: 3")},
	{"trivy java schema 2", mk("profile: trivy:java-db", "trivy_schema: 2")},
	{"trivy schema on json:raw", mk("trivy_schema: 2")},
	{"trivy schema string", mk("profile: trivy:db", `trivy_schema: "2"`)},
	{"policy on trivy:db", mk("profile: trivy:db", "policy_snapshot: snap-2025-06")},
	{"codec", mk("compression: {codec: gzip}")},
	{"level", mk("compression: {level: 23}")},
	{"retention string", mk(`retention_days: "90"`)},
	{"retention zero", mk("retention_days: 0")},
	{"retention float", mk("retention_days: 9.5")},
	{"boolean string", mk("allow_cross_tenant: yes")},
	{"output path", mk("output: out/a.tgz")},
	{"output extension", mk("output: a.zip")},
	{"encryption without mode", mk("encryption: {recipients: [keys/acme.recipients]}")},
	{"encryption mode", mk("encryption: {mode: aes, key: alias/a}")},
	{"encryption KMS URI", mk("encryption: {mode: envelope, key: 'awskms://k'}")},
	{"encryption shorthand KMS", mk("encryption: 'gcpkms://k'")},
	{"encryption envelope without key", mk("encryption: {mode: envelope}")},
	{"encryption age without recipients", mk("encryption: {mode: age}")},
	{"encryption key with age", mk("encryption: {mode: age, key: alias/a, recipients: [r]}")},
	{"encryption scope", mk("encryption: {mode: envelope, key: alias/a, scope: all}")},
	{"encryption scope data on trivy", mk("profile: trivy:db", "encryption: {mode: envelope, key: alias/a, scope: data}")},
	{"delivery", mk("delivery: s3")},
	{"month 13", mk("selectors: {since: 2025-13-01T00:00:00Z}")},
	{"february 30", mk("selectors: {since: 2025-02-30T00:00:00Z}")},
	{"date only", mk("selectors: {until: 2025-02-01}")},
	{"fractional seconds", mk("selectors: {until: 2025-02-01T00:00:00.5Z}")},
	{"empty list", mk("selectors: {tenants: []}")},
	{"duplicate tenant", mk("selectors: {tenants: [acme, acme]}")},
	{"purl scheme", mk("selectors: {products: [npm/lodash]}")},
	{"purl type case", mk("selectors: {products: ['pkg:NPM/lodash']}")},
	{"purl space", mk("selectors: {products: ['pkg:npm/a b']}")},
	{"subject blank", mk("selectors: {sbom_subjects: [' a']}")},
	{"ecosystem", mk("selectors: {ecosystems: [cobol]}")},
	{"ecosystem release", mk("selectors: {ecosystems: ['Debian:12']}")},
	{"selectors sequence", mk("selectors: [a]")},
}

// parserOnly are mistakes a JSON Schema cannot express; docs/contract.md
// and the schema's description say so.
var parserOnly = []struct{ name, src string }{
	{"impossible window", mk("selectors: {since: 2025-06-01T00:00:00Z, until: 2025-01-01T00:00:00Z}")},
	{"cross tenant", mk("selectors: {tenants: [acme, globex]}")},
	{"ecosystem spellings", mk("selectors: {ecosystems: [PyPI, pypi]}")},
}

func TestSchemaRefusesInvalidContracts(t *testing.T) {
	sch := compileSchema(t)
	for _, tt := range schemaInvalid {
		if _, err := Parse("c.yaml", []byte(tt.src)); err == nil {
			t.Errorf("%s: the parser accepts it\n%s", tt.name, tt.src)
		}
		if err := schemaValidate(t, sch, tt.src); err == nil {
			t.Errorf("%s: the schema accepts it\n%s", tt.name, tt.src)
		}
	}
	for _, tt := range parserOnly {
		if _, err := Parse("c.yaml", []byte(tt.src)); err == nil {
			t.Errorf("%s: the parser accepts it", tt.name)
		}
		if err := schemaValidate(t, sch, tt.src); err != nil {
			t.Errorf("%s: the schema refuses it now (%v): move it to schemaInvalid and update the docs", tt.name, err)
		}
	}
	// The invalid samples: all refused by the parser; by the schema too,
	// except the ones whose mistakes only the parser can see.
	files, err := filepath.Glob("../../testdata/contracts/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("invalid samples: %v %v", files, err)
	}
	onlyParser := map[string]bool{"cross-tenant.yaml": true, "impossible-window.yaml": true}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(file, data); err == nil {
			t.Errorf("%s: the parser accepts it", file)
		}
		err = schemaValidate(t, sch, string(data))
		if base := filepath.Base(file); onlyParser[base] != (err == nil) {
			t.Errorf("%s: schema says %v", file, err)
		}
	}
}

// TestSchemaEcosystems keeps the schema's ecosystem list in step with
// NormalizeEcosystem: the enum offers the spellings for completion, and
// the pattern accepts them in any ASCII letter case.
func TestSchemaEcosystems(t *testing.T) {
	data, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Defs struct {
			Evidence json.RawMessage `json:"evidence"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	data = doc.Defs.Evidence // the EvidenceExport schema
	var s struct {
		Properties struct {
			Selectors struct {
				Properties struct {
					Ecosystems struct {
						Items struct {
							AnyOf []struct {
								Enum    []string `json:"enum"`
								Pattern string   `json:"pattern"`
							} `json:"anyOf"`
						} `json:"items"`
					} `json:"ecosystems"`
				} `json:"properties"`
			} `json:"selectors"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	any := s.Properties.Selectors.Properties.Ecosystems.Items.AnyOf
	if len(any) != 2 {
		t.Fatalf("ecosystems items: %+v", any)
	}
	if names := ecosystemNames(); !reflect.DeepEqual(any[0].Enum, names) {
		t.Errorf("schema enum\n%q\nwant\n%q", any[0].Enum, names)
	}
	if want := ciPattern(ecosystemNames()); any[1].Pattern != want {
		t.Errorf("schema pattern\n%s\nwant\n%s", any[1].Pattern, want)
	}

	sch := compileSchema(t)
	for _, name := range ecosystemNames() {
		for _, spelling := range []string{name, strings.ToUpper(name), strings.ToLower(name)} {
			src := mk("selectors:\n  ecosystems: [" + strconv.Quote(spelling) + "]")
			if _, err := Parse("c.yaml", []byte(src)); err != nil {
				t.Errorf("parser refuses %q: %v", spelling, err)
			}
			if err := schemaValidate(t, sch, src); err != nil {
				t.Errorf("schema refuses %q: %v", spelling, err)
			}
		}
	}
}

// ciPattern is a regular expression, valid in ECMA-262 and RE2, that
// matches exactly the names, ignoring ASCII letter case.
func ciPattern(names []string) string {
	var alts []string
	for _, n := range names {
		var b strings.Builder
		for _, r := range n {
			switch {
			case r < unicode.MaxASCII && unicode.IsLetter(r):
				b.WriteString("[" + string(unicode.ToLower(r)) + string(unicode.ToUpper(r)) + "]")
			case strings.ContainsRune(`.+*?()[]{}|^$\`, r):
				b.WriteString(`\` + string(r))
			default:
				b.WriteRune(r)
			}
		}
		alts = append(alts, b.String())
	}
	return "^(" + strings.Join(alts, "|") + ")$"
}
