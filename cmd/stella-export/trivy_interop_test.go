package main

import (
	"archive/zip"
	"crypto/sha1"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The Trivy interop tests build databases with `stella-export run` from
// evidence Trivy has never seen and scan with the real Trivy, offline
// (trivy_test.go's harness). The advisories are the real Go and crates.io
// records of testdata/evidence (see its NOTICE.md) and, for the ecosystems
// the repository holds no real records of, advisories written here with
// invented ids (STELLA-TEST-*) and ranges on real package names.

// testAdvisories are the written advisories: npm, PyPI, RubyGems,
// Packagist, NuGet and Maven, with ECOSYSTEM and SEMVER ranges,
// last_affected, an explicit versions list, two ranges for one package and
// a withdrawn advisory.
var testAdvisories = map[string]string{
	"npm.json": `{"schema_version":"1.6.0","id":"STELLA-TEST-NPM-1","modified":"2025-01-01T00:00:00Z","aliases":["CVE-2099-0001"],
 "summary":"lodash test advisory","database_specific":{"severity":"HIGH"},
 "affected":[{"package":{"ecosystem":"npm","name":"lodash"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"4.17.21"}]}]}]}`,
	"pypi.json": `{"schema_version":"1.6.0","id":"STELLA-TEST-PYPI-1","modified":"2025-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"PyPI","name":"Django"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"3.2"},{"fixed":"3.2.5"}]},
   {"type":"ECOSYSTEM","events":[{"introduced":"4.0"},{"fixed":"4.0.2"}]}]},
  {"package":{"ecosystem":"PyPI","name":"typing_extensions"},"versions":["4.5.0"]}]}`,
	"rubygems.json": `{"schema_version":"1.6.0","id":"STELLA-TEST-GEM-1","modified":"2025-01-01T00:00:00Z","aliases":["CVE-2099-0002"],
 "affected":[{"package":{"ecosystem":"RubyGems","name":"rack"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"2.0.0"},{"last_affected":"2.2.3"}]}]}]}`,
	"packagist.json": `{"schema_version":"1.6.0","id":"STELLA-TEST-COMPOSER-1","modified":"2025-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"Packagist","name":"symfony/http-kernel"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"5.0.0"},{"fixed":"5.4.20"}]}]}]}`,
	"nuget.json": `{"schema_version":"1.6.0","id":"STELLA-TEST-NUGET-1","modified":"2025-01-01T00:00:00Z","aliases":["CVE-2099-0003"],
 "affected":[{"package":{"ecosystem":"NuGet","name":"Newtonsoft.Json"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"13.0.1"}]}]}]}`,
	"maven.json": `{"schema_version":"1.6.0","id":"STELLA-TEST-MAVEN-1","modified":"2025-01-01T00:00:00Z","aliases":["CVE-2099-0004"],
 "affected":[{"package":{"ecosystem":"Maven","name":"com.fasterxml.jackson.core:jackson-databind"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"2.0.0"},{"fixed":"2.9.10.8"}]}]}]}`,
	"withdrawn.json": `{"schema_version":"1.6.0","id":"STELLA-TEST-NPM-2","modified":"2025-01-01T00:00:00Z","withdrawn":"2025-01-02T00:00:00Z",
 "affected":[{"package":{"ecosystem":"npm","name":"express"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`,
}

// testProject is a directory of lock files with vulnerable, fixed and
// out-of-range versions of the advisories' packages.
var testProject = map[string]string{
	"npm-old/package-lock.json": `{"name":"a","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{
 "":{"name":"a","version":"1.0.0","dependencies":{"lodash":"4.17.20","express":"4.18.2"}},
 "node_modules/lodash":{"version":"4.17.20"},"node_modules/express":{"version":"4.18.2"}}}`,
	"npm-new/package-lock.json": `{"name":"b","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{
 "":{"name":"b","version":"1.0.0","dependencies":{"lodash":"4.17.21"}},"node_modules/lodash":{"version":"4.17.21"}}}`,
	"py/requirements.txt":           "Django==3.2.4\ntyping_extensions==4.5.0\n",
	"py-new/requirements.txt":       "Django==4.0.2\ntyping-extensions==4.6.0\n",
	"py-old/requirements.txt":       "Django==3.1.14\n",
	"ruby/Gemfile.lock":             "GEM\n  remote: https://rubygems.org/\n  specs:\n    rack (2.2.3)\n\nPLATFORMS\n  ruby\n\nDEPENDENCIES\n  rack\n\nBUNDLED WITH\n   2.4.10\n",
	"ruby-new/Gemfile.lock":         "GEM\n  remote: https://rubygems.org/\n  specs:\n    rack (2.2.4)\n\nPLATFORMS\n  ruby\n\nDEPENDENCIES\n  rack\n\nBUNDLED WITH\n   2.4.10\n",
	"php/composer.lock":             `{"packages":[{"name":"symfony/http-kernel","version":"v5.4.19"},{"name":"monolog/monolog","version":"2.9.1"}],"packages-dev":[]}`,
	"php-new/composer.lock":         `{"packages":[{"name":"symfony/http-kernel","version":"v5.4.20"}],"packages-dev":[]}`,
	"dotnet/packages.lock.json":     `{"version":1,"dependencies":{"net8.0":{"Newtonsoft.Json":{"type":"Direct","requested":"[12.0.3, )","resolved":"12.0.3","contentHash":"x"}}}}`,
	"dotnet-new/packages.lock.json": `{"version":1,"dependencies":{"net8.0":{"Newtonsoft.Json":{"type":"Direct","requested":"[13.0.1, )","resolved":"13.0.1","contentHash":"x"}}}}`,
	"java/pom.xml": `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
 <groupId>com.example</groupId><artifactId>app</artifactId><version>1.0.0</version>
 <dependencies>
  <dependency><groupId>com.fasterxml.jackson.core</groupId><artifactId>jackson-databind</artifactId><version>2.9.10</version></dependency>
 </dependencies></project>`,
	"java-new/pom.xml": `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
 <groupId>com.example</groupId><artifactId>app2</artifactId><version>1.0.0</version>
 <dependencies>
  <dependency><groupId>com.fasterxml.jackson.core</groupId><artifactId>jackson-databind</artifactId><version>2.9.10.8</version></dependency>
 </dependencies></project>`,
	"go/go.mod":     "module example.com/app\n\ngo 1.20\n\nrequire (\n\tgithub.com/labstack/echo/v4 v4.8.0\n\tgolang.org/x/crypto v0.17.0\n\tgolang.org/x/net v0.12.0\n)\n",
	"go-new/go.mod": "module example.com/app2\n\ngo 1.20\n\nrequire github.com/labstack/echo/v4 v4.9.0\n",
	"rust/Cargo.lock": "version = 3\n\n" +
		"[[package]]\nname = \"h2\"\nversion = \"0.3.20\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n" +
		"[[package]]\nname = \"regex\"\nversion = \"1.5.5\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n" +
		"[[package]]\nname = \"rsa\"\nversion = \"0.9.6\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n" +
		"[[package]]\nname = \"tokio\"\nversion = \"0.1.13\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n" +
		"[[package]]\nname = \"tokio\"\nversion = \"1.13.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
}

// wantFindings is exactly what Trivy must report on testProject: the
// vulnerable versions, none of the fixed, out-of-range or withdrawn ones.
var wantFindings = []trivyFinding{
	{"Django", "3.2.4", "STELLA-TEST-PYPI-1"},
	{"Newtonsoft.Json", "12.0.3", "CVE-2099-0003"},
	{"com.fasterxml.jackson.core:jackson-databind", "2.9.10", "CVE-2099-0004"},
	{"github.com/labstack/echo/v4", "v4.8.0", "CVE-2022-40083"},
	{"golang.org/x/net", "v0.12.0", "CVE-2023-3978"}, // not CVE-2022-27664: fixed in a 2022 pseudo-version
	{"h2", "0.3.20", "RUSTSEC-2024-0003"},
	{"lodash", "4.17.20", "CVE-2099-0001"},
	{"rack", "2.2.3", "CVE-2099-0002"},
	{"rsa", "0.9.6", "CVE-2023-49092"},
	{"symfony/http-kernel", "v5.4.19", "STELLA-TEST-COMPOSER-1"},
	{"tokio", "1.13.0", "CVE-2021-45710"},
	{"typing_extensions", "4.5.0", "STELLA-TEST-PYPI-1"},
}

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, body := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// copyTree copies the regular files below src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		writeTree(t, dst, map[string]string{filepath.ToSlash(rel): string(b)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTrivyDBInterop: a trivy:db built by `stella-export run` from OSV
// advisories makes the real Trivy report exactly the vulnerable packages of
// a directory of lock files, offline, through the unpacked bundle; the
// bundle verifies and two runs give the same bytes.
func TestTrivyDBInterop(t *testing.T) {
	trivy := trivyBinary(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	copyTree(t, "../../testdata/evidence/acme/advisories", filepath.Join(dir, "ev", "acme", "advisories"))
	for name, body := range testAdvisories {
		writeTree(t, filepath.Join(dir, "ev", "acme", "advisories", "written"), map[string]string{name: body})
	}
	writeTree(t, dir, map[string]string{"c.yaml": "apiVersion: stella-export/v1\nkind: EvidenceExport\n" +
		"export_id: urn:stella:export:acme:trivy\ntenant: acme\nprofile: trivy:db\nsource: ev\n"})
	writeTree(t, filepath.Join(dir, "project"), testProject)
	r := &runner{t: t, dir: dir}
	r.must(bin, "run", "c.yaml", "-o", "out", "--package", "b.tgz")
	r.must(bin, "run", "c.yaml", "-o", "out2", "--package", "b2.tgz")
	r.must(bin, "verify", "b.tgz")
	b1, _ := os.ReadFile(filepath.Join(dir, "b.tgz"))
	b2, _ := os.ReadFile(filepath.Join(dir, "b2.tgz"))
	if string(b1) != string(b2) {
		t.Fatal("two runs gave different bundles")
	}
	cache := filepath.Join(dir, "cache")
	if err := os.Mkdir(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	r.must("tar", "-xzf", "b.tgz", "-C", cache)

	got := trivyFS(t, trivy, cache, filepath.Join(dir, "project"))
	if !slices.Equal(got, wantFindings) {
		t.Errorf("trivy fs found\n%s\nwant\n%s", findings(got), findings(wantFindings))
	}
}

func findings(fs []trivyFinding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.Pkg + " " + f.Version + " " + f.ID + "\n")
	}
	return b.String()
}

// TestTrivyJavaDBInterop: the java DB built by `stella-export run` lets the
// real Trivy name a jar that has no pom.properties and no version in its
// name by its SHA-1, and report that coordinate's vulnerabilities from the
// trivy:db of the same evidence.
func TestTrivyJavaDBInterop(t *testing.T) {
	trivy := trivyBinary(t)
	bin := buildBinary(t)
	dir := t.TempDir()

	// A jar with nothing but a manifest: only its SHA-1 can name it.
	root := filepath.Join(dir, "root", "opt", "app")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	jarPath := filepath.Join(root, "library.jar")
	jf, err := os.Create(jarPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(jf)
	w, err := zw.Create("META-INF/MANIFEST.MF")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Manifest-Version: 1.0\r\nCreated-By: stella-export test\r\n\r\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	jf.Close()
	jar, _ := os.ReadFile(jarPath)
	sum := sha1.Sum(jar)

	writeTree(t, filepath.Join(dir, "ev", "acme"), map[string]string{
		"java-index/central.jsonl": `{"group_id":"org.example.stella","artifact_id":"widget","version":"1.4.2","sha1":"` + hex.EncodeToString(sum[:]) + `","archive_type":"jar"}` + "\n" +
			`{"group_id":"org.example.stella","artifact_id":"widget","version":"1.5.0","sha1":"` + strings.Repeat("ab", 20) + `","archive_type":"jar"}` + "\n",
		"advisories/widget.json": `{"schema_version":"1.6.0","id":"STELLA-TEST-MAVEN-2","modified":"2025-01-01T00:00:00Z","aliases":["CVE-2099-0005"],
 "affected":[{"package":{"ecosystem":"Maven","name":"org.example.stella:widget"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1.0.0"},{"fixed":"1.5.0"}]}]}]}`,
	})
	head := "apiVersion: stella-export/v1\nkind: EvidenceExport\ntenant: acme\nsource: ev\n"
	writeTree(t, dir, map[string]string{
		"db.yaml":   head + "export_id: urn:stella:export:acme:db\nprofile: trivy:db\n",
		"java.yaml": head + "export_id: urn:stella:export:acme:java\nprofile: trivy:java-db\n",
	})
	r := &runner{t: t, dir: dir}
	r.must(bin, "run", "db.yaml", "-o", "db-out", "--package", "db.tgz")
	r.must(bin, "run", "java.yaml", "-o", "java-out", "--package", "java.tgz")
	r.must(bin, "verify", "java.tgz")
	cache := filepath.Join(dir, "cache")
	if err := os.Mkdir(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	r.must("tar", "-xzf", "db.tgz", "-C", cache, "db")
	r.must("tar", "-xzf", "java.tgz", "-C", cache, "java-db")

	got := trivyRootfs(t, trivy, cache, filepath.Join(dir, "root"))
	want := []trivyFinding{{"org.example.stella:widget", "1.4.2", "CVE-2099-0005"}}
	if !slices.Equal(got, want) {
		t.Errorf("trivy rootfs found\n%s\nwant\n%s", findings(got), findings(want))
	}
}
