package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// evidenceConfig describes an evidence source for `run` benchmarks, in
// the layout of testdata/evidence/README.md, for tenant "bench".
type evidenceConfig struct {
	out     string
	docs    int   // small documents: 80% advisories, 10% VEX, 10% SBOMs
	big     int   // big CycloneDX SBOMs
	bigSize int64 // bytes per big SBOM
	// osvOnly writes docs OSV advisories and nothing else (no VEX, SBOMs,
	// findings or policy snapshot): the input of trivy:db.
	osvOnly bool
}

const (
	benchTenant   = "bench"
	benchSnapshot = "snap-bench"
	perDir        = 1000 // files per directory, at most
	evidenceSeed  = 4    // the PCG stream of every document is (evidenceSeed, kind<<40 | index)
)

var ecosystems = []struct{ name, purlType, rangeType string }{
	{"Go", "golang", "SEMVER"},
	{"npm", "npm", "SEMVER"},
	{"PyPI", "pypi", "ECOSYSTEM"},
	{"crates.io", "cargo", "SEMVER"},
	{"Maven", "maven", "ECOSYSTEM"},
}

// evidence counts, derived from the flags.
type evidenceCounts struct {
	advisories, vex, sboms, findings, products int
}

func countsFor(docs int) evidenceCounts {
	c := evidenceCounts{advisories: docs * 8 / 10, vex: docs / 10}
	c.sboms = docs - c.advisories - c.vex
	c.findings = docs / 20
	c.products = max(1, (c.sboms+2)/3) // three SBOM versions per product
	return c
}

// Document kinds, for per-document random streams.
const (
	kindAdvisory = iota + 1
	kindVEX
	kindSBOM
	kindFinding
	kindBig
)

func docRand(kind, i int) *rand.Rand {
	return rand.New(rand.NewPCG(evidenceSeed, uint64(kind)<<40|uint64(i)))
}

// mix is splitmix64: deterministic facts about document i that other
// documents refer to (an advisory's ecosystem, package and year).
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func writeEvidence(cfg evidenceConfig) error {
	if err := os.Mkdir(cfg.out, 0o755); err != nil {
		return err
	}
	c := countsFor(cfg.docs)
	if cfg.osvOnly {
		c = evidenceCounts{advisories: cfg.docs, products: 1}
	}
	type job struct{ kind, i int }
	jobs := make(chan job, 1024)
	var files, bytesOut atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for j := range jobs {
				buf.Reset()
				path := docPath(cfg.out, c, j.kind, j.i)
				switch j.kind {
				case kindAdvisory:
					writeAdvisory(&buf, j.i)
				case kindVEX:
					writeVEX(&buf, c, j.i)
				case kindSBOM:
					writeSmallSBOM(&buf, c, j.i)
				case kindFinding:
					writeFinding(&buf, c, j.i)
				}
				err := os.MkdirAll(filepath.Dir(path), 0o755)
				if err == nil {
					err = os.WriteFile(path, buf.Bytes(), 0o644)
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					continue
				}
				files.Add(1)
				bytesOut.Add(int64(buf.Len()))
			}
		}()
	}
	for _, k := range []struct{ kind, n int }{
		{kindAdvisory, c.advisories}, {kindVEX, c.vex}, {kindSBOM, c.sboms}, {kindFinding, c.findings},
	} {
		for i := range k.n {
			jobs <- job{k.kind, i}
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if !cfg.osvOnly {
		snap := filepath.Join(cfg.out, benchTenant, "policy", benchSnapshot, "snapshot.json")
		var buf bytes.Buffer
		writeSnapshot(&buf, c)
		if err := os.MkdirAll(filepath.Dir(snap), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(snap, buf.Bytes(), 0o644); err != nil {
			return err
		}
		files.Add(1)
		bytesOut.Add(int64(buf.Len()))
	}
	for i := range cfg.big {
		n, err := writeBigSBOM(filepath.Join(cfg.out, benchTenant, "sboms", "big"), i, cfg.bigSize)
		if err != nil {
			return err
		}
		files.Add(1)
		bytesOut.Add(n)
	}
	fmt.Printf("%s: tenant %s: %d advisories, %d vex, %d sboms, %d big sboms, %d findings; %d files, %d bytes\n",
		cfg.out, benchTenant, c.advisories, c.vex, c.sboms, cfg.big, c.findings, files.Load(), bytesOut.Load())
	return nil
}

// docPath spreads documents over directories of at most perDir files.
func docPath(root string, c evidenceCounts, kind, i int) string {
	t := filepath.Join(root, benchTenant)
	switch kind {
	case kindAdvisory:
		e := ecosystems[i%len(ecosystems)]
		return filepath.Join(t, "advisories", e.name, fmt.Sprintf("%04d", i/len(ecosystems)/perDir), advisoryID(i)+".json")
	case kindVEX:
		return filepath.Join(t, "vex", fmt.Sprintf("%04d", i/perDir), fmt.Sprintf("vex-%07d.openvex.json", i))
	case kindSBOM:
		return filepath.Join(t, "sboms", fmt.Sprintf("%04d", i/perDir), fmt.Sprintf("bench-svc-%06d-%s.cdx.json", i/3, sbomVersion(i)))
	case kindFinding:
		return filepath.Join(t, "policy", benchSnapshot, "findings", fmt.Sprintf("%04d", i/perDir), findingID(i)+".json")
	}
	panic("unknown kind")
}

// Facts about advisory i that VEX documents, SBOMs and findings refer to.

func advisoryEco(i int) int { return i % len(ecosystems) }

func advisoryYear(i int) int { return 2019 + int(mix(uint64(i))%7) }

const ghsaAlphabet = "23456789cfghjmpqrvwx"

func advisoryID(i int) string {
	y := advisoryYear(i)
	switch ecosystems[advisoryEco(i)].name {
	case "Go":
		return fmt.Sprintf("GO-%d-%06d", y, i)
	case "crates.io":
		return fmt.Sprintf("RUSTSEC-%d-%06d", y, i)
	case "PyPI":
		return fmt.Sprintf("PYSEC-%d-%d", y, i)
	}
	// GHSA-xxxx-xxxx-xxxx: i*a+b with a coprime to 20 is a bijection
	// modulo 20^12, so the ids are distinct (no overflow below 10^7 docs).
	const mod, mul, add = 4096000000000000, 1597334677123, 1234567890123 // mod = 20^12
	v := (uint64(i)*mul + add) % mod
	var b [12]byte
	for k := range b {
		b[11-k] = ghsaAlphabet[v%20]
		v /= 20
	}
	return fmt.Sprintf("GHSA-%s-%s-%s", b[0:4], b[4:8], b[8:12])
}

var names = strings.Fields(`alpha amber anchor arrow aspen atlas aurora badger basil beacon birch bison
blaze bloom bolt bramble breeze brook cactus canyon cedar cinder citrus clover cobalt comet coral cosmos
crane crest cypress dawn delta drift dune eagle echo ember falcon fern fjord flint forge frost garnet
glacier granite harbor hazel heron horizon indigo iris ivory jade juniper kestrel lagoon lantern larch
lotus lumen lynx maple marble meadow mesa mist nebula nova oak onyx orbit orchid otter pebble pine
prairie prism quartz quill raven reef ridge river saffron sage sierra slate sparrow spruce summit
tango thistle thunder tide timber topaz tundra umber valley vapor velvet willow zephyr`)

const packagesPerEcosystem = 20000

// advisoryPackage is the package advisory i is about.
func advisoryPackage(i int) (name, purl string) {
	return packageName(advisoryEco(i), int(mix(uint64(i)^0xabcdef)%packagesPerEcosystem))
}

func packageName(eco, p int) (name, purl string) {
	a, b := names[p%len(names)], names[p/len(names)%len(names)]
	n := p / (len(names) * len(names))
	switch ecosystems[eco].name {
	case "Go":
		name = fmt.Sprintf("github.com/%s-%d/%s", a, n, b)
		return name, "pkg:golang/" + name
	case "npm":
		name = fmt.Sprintf("%s-%s-%d", a, b, n)
		return name, "pkg:npm/" + name
	case "PyPI":
		name = fmt.Sprintf("%s-%s%d", a, b, n)
		return name, "pkg:pypi/" + name
	case "crates.io":
		name = fmt.Sprintf("%s_%s%d", a, b, n)
		return name, "pkg:cargo/" + name
	}
	group := fmt.Sprintf("org.%s%d", a, n)
	return group + ":" + b, fmt.Sprintf("pkg:maven/%s/%s", group, b)
}

// advisoryFixed is the first fixed version of advisory i's package.
func advisoryFixed(i int) (major, minor, patch int) {
	m := mix(uint64(i) ^ 0x1234)
	return int(m % 4), int(m >> 8 % 20), 1 + int(m>>16%30)
}

func version(eco int, major, minor, patch int) string {
	if ecosystems[eco].name == "Go" {
		return fmt.Sprintf("v%d.%d.%d", major, minor, patch)
	}
	return fmt.Sprintf("%d.%d.%d", major, minor, patch)
}

var cvss = []struct{ vector, score, severity string }{
	{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "9.8", "critical"},
	{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "7.5", "high"},
	{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "7.8", "high"},
	{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", "6.1", "medium"},
	{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", "5.9", "medium"},
	{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", "5.3", "medium"},
	{"CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:L/I:N/A:N", "2.5", "low"},
}

var flaws = []string{
	"Denial of service via crafted input", "Path traversal when extracting archives",
	"Regular expression denial of service", "Improper certificate validation",
	"Cross-site scripting in rendered templates", "Integer overflow in length parsing",
	"Request smuggling through lenient header parsing", "Unbounded memory use while decompressing",
	"Server-side request forgery via redirects", "Prototype pollution in deep merge",
}

func sentence(rng *rand.Rand, n int) string {
	var sb strings.Builder
	for k := range n {
		if k > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(names[rng.IntN(len(names))])
	}
	return sb.String()
}

func date(rng *rand.Rand, year int) time.Time {
	start := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	return start.Add(time.Duration(rng.Int64N(int64(365*24*time.Hour))) / time.Second * time.Second)
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func writeAdvisory(w *bytes.Buffer, i int) {
	rng := docRand(kindAdvisory, i)
	eco := advisoryEco(i)
	e := ecosystems[eco]
	name, purl := advisoryPackage(i)
	maj, minr, pat := advisoryFixed(i)
	published := date(rng, advisoryYear(i))
	modified := published.Add(time.Duration(rng.IntN(400*24)) * time.Hour)
	sev := cvss[rng.IntN(len(cvss))]
	flaw := flaws[rng.IntN(len(flaws))]
	fixed := version(eco, maj, minr, pat)
	introduced := "0"
	if rng.IntN(2) == 0 {
		introduced = version(eco, maj, 0, 0)
	}
	fmt.Fprintf(w, `{
  "schema_version": "1.6.0",
  "id": %q,
  "modified": %q,
  "published": %q,
  "aliases": [
    "CVE-%d-%d"
  ],
  "summary": "%s in %s",
  "details": "%s in %s before %s. %s. %s. Upgrade to %s or later.",
  "severity": [
    {
      "type": "CVSS_V3",
      "score": %q
    }
  ],
  "affected": [
    {
      "package": {
        "ecosystem": %q,
        "name": %q,
        "purl": %q
      },
      "ranges": [
        {
          "type": %q,
          "events": [
            {
              "introduced": %q
            },
            {
              "fixed": %q
            }
          ]
        }
      ]
    }
  ],
  "references": [
    {
      "type": "ADVISORY",
      "url": "https://advisories.bench.example/%s"
    },
    {
      "type": "FIX",
      "url": "https://git.bench.example/%s/commit/%016x"
    }
  ],
  "database_specific": {
    "cvss_score": %s,
    "review_status": "REVIEWED",
    "source": "scripts/benchgen"
  }
}
`, advisoryID(i), rfc3339(modified), rfc3339(published), advisoryYear(i), 10000+i,
		flaw, name, flaw, name, fixed, capitalize(sentence(rng, 12+rng.IntN(20))), capitalize(sentence(rng, 8+rng.IntN(16))), fixed,
		sev.vector, e.name, name, purl, e.rangeType, introduced, fixed,
		advisoryID(i), name, rng.Uint64(), sev.score)
}

func capitalize(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func productPurl(p int) string {
	d := sha256.Sum256(fmt.Appendf(nil, "bench-svc-%d", p))
	return fmt.Sprintf("pkg:oci/bench-svc-%06d@sha256%%3A%s?repository_url=registry.bench.example/svc/bench-svc-%06d", p, hex.EncodeToString(d[:]), p)
}

// affectedComponent is a component version inside advisory k's range.
func affectedComponent(k int) string {
	eco := advisoryEco(k)
	_, purl := advisoryPackage(k)
	maj, minr, pat := advisoryFixed(k)
	return purl + "@" + version(eco, maj, minr, pat-1)
}

func writeVEX(w *bytes.Buffer, c evidenceCounts, v int) {
	rng := docRand(kindVEX, v)
	p := v % c.products
	ts := date(rng, 2025)
	fmt.Fprintf(w, `{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://vex.bench.example/bench-svc-%06d/%07d",
  "author": "Bench Product Security <psirt@bench.example>",
  "timestamp": %q,
  "version": 1,
  "statements": [`, p, v, rfc3339(ts))
	n := 1 + rng.IntN(3)
	for j := range n {
		k := int(mix(uint64(v)<<8|uint64(j)) % uint64(max(1, c.advisories)))
		if j > 0 {
			w.WriteByte(',')
		}
		status := []string{"not_affected", "affected", "fixed", "under_investigation"}[rng.IntN(4)]
		extra := ""
		switch status {
		case "not_affected":
			extra = `,
      "justification": "vulnerable_code_not_in_execute_path",
      "impact_statement": "The vulnerable function is never called."`
		case "affected":
			extra = `,
      "action_statement": "Upgrade to the fixed version."`
		}
		fmt.Fprintf(w, `
    {
      "vulnerability": {
        "name": %q
      },
      "products": [
        {
          "@id": %q,
          "subcomponents": [
            {
              "@id": %q
            }
          ]
        }
      ],
      "status": %q%s
    }`, advisoryID(k), productPurl(p), affectedComponent(k), status, extra)
	}
	w.WriteString("\n  ]\n}\n")
}

func sbomVersion(s int) string { return fmt.Sprintf("1.%d.0", s%3) }

func serial(kind, i int) string {
	d := sha256.Sum256(fmt.Appendf(nil, "serial %d %d", kind, i))
	h := hex.EncodeToString(d[:16])
	return fmt.Sprintf("urn:uuid:%s-%s-4%s-a%s-%s", h[0:8], h[8:12], h[13:16], h[17:20], h[20:32])
}

func writeSmallSBOM(w *bytes.Buffer, c evidenceCounts, s int) {
	rng := docRand(kindSBOM, s)
	p := s / 3
	spec := []string{"1.5", "1.6"}[s%2]
	fmt.Fprintf(w, `{
  "bomFormat": "CycloneDX",
  "specVersion": %q,
  "serialNumber": %q,
  "version": 1,
  "metadata": {
    "timestamp": %q,
    "component": {
      "type": "container",
      "name": "bench-svc-%06d",
      "version": %q,
      "purl": %q
    }
  },
  "components": [`, spec, serial(kindSBOM, s), rfc3339(date(rng, 2025)), p, sbomVersion(s), productPurl(p))
	for j := range 4 + rng.IntN(10) {
		if j > 0 {
			w.WriteByte(',')
		}
		var purl string
		if j < 2 && c.advisories > 0 {
			purl = affectedComponent(int(mix(uint64(s)<<8|uint64(j)) % uint64(c.advisories)))
		} else {
			eco := rng.IntN(len(ecosystems))
			_, base := packageName(eco, rng.IntN(packagesPerEcosystem))
			purl = base + "@" + version(eco, rng.IntN(4), rng.IntN(20), rng.IntN(30))
		}
		writeComponent(w, purl, drawComponent(rng), "")
	}
	w.WriteString("\n  ]\n}\n")
}

// componentRand holds the random parts of a component.
type componentRand struct {
	hash        [4]uint64
	license     string
	description string
}

func drawComponent(rng *rand.Rand) componentRand {
	return componentRand{
		hash:        [4]uint64{rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()},
		license:     []string{"MIT", "Apache-2.0", "BSD-3-Clause", "ISC", "MPL-2.0"}[rng.IntN(5)],
		description: capitalize(sentence(rng, 3+rng.IntN(6))),
	}
}

// writeComponent writes one CycloneDX component, about 500 bytes plus pad
// (ASCII without quotes or backslashes).
func writeComponent(w io.Writer, purl string, r componentRand, pad string) {
	at := strings.LastIndexByte(purl, '@')
	slash := strings.LastIndexByte(purl[:at], '/')
	fmt.Fprintf(w, `
    {
      "bom-ref": %q,
      "type": "library",
      "name": %q,
      "version": %q,
      "purl": %q,
      "hashes": [
        {
          "alg": "SHA-256",
          "content": "%016x%016x%016x%016x"
        }
      ],
      "licenses": [
        {
          "license": {
            "id": %q
          }
        }
      ],
      "description": %q
    }`, purl, purl[slash+1:at], purl[at+1:], purl, r.hash[0], r.hash[1], r.hash[2], r.hash[3], r.license, r.description+pad)
}

func findingID(f int) string { return fmt.Sprintf("fnd-%016x", mix(uint64(f)^0xf1f1)) }

func writeFinding(w *bytes.Buffer, c evidenceCounts, f int) {
	rng := docRand(kindFinding, f)
	k := int(mix(uint64(f)^0x5eed) % uint64(max(1, c.advisories)))
	status := []string{"affected", "not_affected", "fixed", "under_investigation"}[rng.IntN(4)]
	severity := cvss[rng.IntN(len(cvss))].severity
	if status != "affected" && status != "under_investigation" {
		severity = "none"
	}
	fmt.Fprintf(w, `{
  "id": %q,
  "tenant": %q,
  "snapshot_id": %q,
  "purl": %q,
  "advisory_id": %q,
  "status": %q,
  "severity": %q,
  "evaluated_at": "2025-06-30T00:00:00Z",
  "rationale": "bench-svc-%06d: %s."
}
`, findingID(f), benchTenant, benchSnapshot, affectedComponent(k), advisoryID(k), status, severity,
		f%c.products, sentence(rng, 6+rng.IntN(10)))
}

func writeSnapshot(w *bytes.Buffer, c evidenceCounts) {
	d := sha256.Sum256(fmt.Appendf(nil, "bench inputs %d %d %d", c.advisories, c.vex, c.sboms))
	fmt.Fprintf(w, `{
  "snapshot_id": %q,
  "tenant": %q,
  "policy_version": "bench.1",
  "inputs_hash": "sha256:%s",
  "created_at": "2025-06-30T00:00:00Z",
  "decision_trace": {
    "engine": "scripts/benchgen",
    "rules": [
      {"id": "osv-range-match", "version": 3},
      {"id": "vex-override", "version": 2},
      {"id": "severity-from-cvss", "version": 2, "thresholds": {"critical": 9.0, "high": 7.0, "medium": 4.0, "low": 0.1}}
    ],
    "inputs": {"advisories": %d, "vex_documents": %d, "sboms": %d},
    "results": {"findings": %d}
  }
}
`, benchSnapshot, benchTenant, hex.EncodeToString(d[:]), c.advisories, c.vex, c.sboms, c.findings)
}

// writeBigSBOM streams a CycloneDX 1.6 SBOM of exactly size bytes (or a
// little more when size is below its fixed parts) whose bulk is one
// components array.
func writeBigSBOM(dir string, i int, size int64) (int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("bench-big-%03d.cdx.json", i)))
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{w: bufio.NewWriterSize(f, 1<<20)}
	rng := docRand(kindBig, i)
	p := fmt.Sprintf("pkg:oci/bench-big-%03d@sha256%%3A%064x?repository_url=registry.bench.example/big/bench-big-%03d", i, mix(uint64(i)), i)
	fmt.Fprintf(cw, `{
  "bomFormat": "CycloneDX",
  "specVersion": "1.6",
  "serialNumber": %q,
  "version": 1,
  "metadata": {
    "timestamp": "2025-06-30T00:00:00Z",
    "component": {
      "type": "container",
      "name": "bench-big-%03d",
      "version": "1.0.0",
      "purl": %q
    }
  },
  "components": [`, serial(kindBig, i), i, p)
	const tail = "\n  ],\n  \"dependencies\": []\n}\n"
	var comp bytes.Buffer
	for j := 0; ; j++ {
		eco := rng.IntN(len(ecosystems))
		_, base := packageName(eco, rng.IntN(packagesPerEcosystem))
		purl := fmt.Sprintf("%s@%s", base, version(eco, rng.IntN(4), rng.IntN(20), j%1000))
		r := drawComponent(rng)
		comp.Reset()
		if j > 0 {
			comp.WriteByte(',')
		}
		writeComponent(&comp, purl, r, "")
		if cw.n+int64(comp.Len())+int64(len(tail))+2048 > size {
			// The last component: pad its description to land on size.
			pad := max(0, size-cw.n-int64(comp.Len())-int64(len(tail))-1)
			comp.Reset()
			if j > 0 {
				comp.WriteByte(',')
			}
			writeComponent(&comp, purl, r, " "+strings.Repeat("x", int(pad)))
			cw.Write(comp.Bytes())
			break
		}
		cw.Write(comp.Bytes())
	}
	io.WriteString(cw, tail)
	if err := cw.w.(*bufio.Writer).Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return cw.n, f.Close()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
