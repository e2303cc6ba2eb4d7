package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// trivyVersion is the Trivy release scripts/trivy.sh pins.
const trivyVersion = "v0.74.0"

// trivyBinary finds the real Trivy CLI scripts/trivy.sh builds:
// $STELLA_EXPORT_TRIVY (a path, as scripts/test.sh sets it), else the cache's
// trivy/<trivyVersion>/trivy. Without it the test skips, unless CI=true where
// it fails: CI must run the Trivy interop tests.
func trivyBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("STELLA_EXPORT_TRIVY")
	if bin == "" {
		cache := os.Getenv("STELLA_EXPORT_CACHE")
		if cache == "" {
			base := os.Getenv("XDG_CACHE_HOME")
			if base == "" {
				home, _ := os.UserHomeDir()
				base = filepath.Join(home, ".cache")
			}
			cache = filepath.Join(base, "stella-export")
		}
		bin = filepath.Join(cache, "trivy", trivyVersion, "trivy")
	}
	if fi, err := os.Stat(bin); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("trivy %s is required in CI (bash scripts/trivy.sh builds it); not at %s", trivyVersion, bin)
		}
		t.Skipf("real trivy %s not built (run bash scripts/trivy.sh); not at %s", trivyVersion, bin)
	}
	return bin
}

// trivyFinding is one row of a Trivy report: a vulnerability Trivy found in
// an installed package.
type trivyFinding struct {
	Pkg, Version, ID string
}

// trivyPackage is one package Trivy detected, vulnerable or not.
type trivyPackage struct {
	Name, Version string
}

// trivyReport is what the interop tests read from Trivy's JSON report: the
// findings and the detected packages, each sorted and without duplicates
// (the same package in two files is one row).
type trivyReport struct {
	Findings []trivyFinding
	Packages []trivyPackage
}

// trivyFS runs `trivy fs` over dir with the databases of cacheDir
// (db/trivy.db and db/metadata.json) and returns the findings.
func trivyFS(t *testing.T, bin, cacheDir, dir string) []trivyFinding {
	t.Helper()
	return runTrivy(t, bin, cacheDir, "fs", dir).Findings
}

// trivyRootfs runs `trivy rootfs` over dir (installed packages and jars)
// with the databases of cacheDir (db/, and java-db/trivy-java.db and
// java-db/metadata.json, which Trivy needs as soon as it meets a jar) and
// returns the findings.
func trivyRootfs(t *testing.T, bin, cacheDir, dir string) []trivyFinding {
	t.Helper()
	return runTrivy(t, bin, cacheDir, "rootfs", dir).Findings
}

var (
	unshareOnce sync.Once
	unshare     string
)

// netless returns the command prefix that runs a program in an empty network
// namespace ("unshare -rn"), or nil where the kernel or the container does
// not allow one.
func netless() []string {
	unshareOnce.Do(func() {
		if p, err := exec.LookPath("unshare"); err == nil && exec.Command(p, "-rn", "true").Run() == nil {
			unshare = p
		}
	})
	if unshare == "" {
		return nil
	}
	return []string{unshare, "-rn"}
}

// runTrivy runs `trivy <mode>` (fs or rootfs) over dir, offline, with the
// databases in cacheDir, and parses its JSON report. It fails the test if
// Trivy fails or if Trivy added, removed or changed a file in cacheDir (an
// operator points --cache-dir at an unpacked export; the scan must leave
// it intact).
//
// Trivy cannot reach the network: every update and version check is off,
// the scan cache lives in memory, the proxy variables point at a closed
// port, and where the system allows it (unshare -rn) Trivy runs in an
// empty network namespace. It writes nothing outside the test's temp dirs: HOME, the XDG
// dirs and TMPDIR are temp dirs, and any TRIVY_* variable of the caller's
// environment is dropped so that only these flags configure it.
func runTrivy(t *testing.T, bin, cacheDir, mode, dir string) trivyReport {
	t.Helper()
	home := t.TempDir()
	for _, d := range []string{"config", "cache", "data", "tmp"} {
		if err := os.Mkdir(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{mode,
		"--cache-dir", cacheDir, "--cache-backend", "memory",
		"--skip-db-update", "--skip-java-db-update",
		"--offline-scan", "--skip-version-check", "--disable-telemetry",
		"--scanners", "vuln", "--list-all-pkgs", "--format", "json",
		dir}
	argv := append(netless(), bin)
	argv = append(argv, args...)
	// A guard against a hang (a scan here takes seconds), not a timing test.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = home // no trivy.yaml or .trivyignore of the caller's
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(strings.ToUpper(k), "TRIVY_"),
			strings.HasSuffix(strings.ToUpper(k), "_PROXY"),
			k == "HOME", k == "TMPDIR", strings.HasPrefix(k, "XDG_"):
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env,
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"),
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"TMPDIR="+filepath.Join(home, "tmp"),
		"TRIVY_CACHE_DIR="+cacheDir,
		"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9", "NO_PROXY=",
		"http_proxy=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9", "no_proxy=",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	before := snapshot(t, cacheDir)
	if err := cmd.Run(); err != nil {
		t.Fatalf("trivy %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if after := snapshot(t, cacheDir); !slices.Equal(before, after) {
		t.Fatalf("trivy %s changed the cache dir %s:\nbefore %q\nafter  %q", mode, cacheDir, before, after)
	}
	var report struct {
		Results []struct {
			Packages []struct {
				Name, Version string
			}
			Vulnerabilities []struct {
				VulnerabilityID, PkgName, InstalledVersion string
			}
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("trivy %s: parse the JSON report: %v\n%s", mode, err, stdout.String())
	}
	var r trivyReport
	for _, res := range report.Results {
		for _, p := range res.Packages {
			r.Packages = append(r.Packages, trivyPackage{p.Name, p.Version})
		}
		for _, v := range res.Vulnerabilities {
			r.Findings = append(r.Findings, trivyFinding{v.PkgName, v.InstalledVersion, v.VulnerabilityID})
		}
	}
	cmpFinding := func(a, b trivyFinding) int {
		return strings.Compare(a.Pkg+"\x00"+a.Version+"\x00"+a.ID, b.Pkg+"\x00"+b.Version+"\x00"+b.ID)
	}
	cmpPackage := func(a, b trivyPackage) int {
		return strings.Compare(a.Name+"\x00"+a.Version, b.Name+"\x00"+b.Version)
	}
	slices.SortFunc(r.Findings, cmpFinding)
	r.Findings = slices.Compact(r.Findings)
	slices.SortFunc(r.Packages, cmpPackage)
	r.Packages = slices.Compact(r.Packages)
	return r
}

// snapshot lists every path under dir with its mode, size and modification
// time.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var s []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		s = append(s, fmt.Sprintf("%s %s %d %s", p, fi.Mode(), fi.Size(), fi.ModTime().UTC().Format(time.RFC3339Nano)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeFile writes body to dir/name, making the parent directories.
func writeFile(t *testing.T, dir, name, body string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTrivyHarness is the smoke test of the interop harness: a Trivy DB
// written here by hand with bbolt, in the layout Trivy reads (data-source,
// vulnerability, and an npm::<source> bucket with a nested bucket per
// package), makes the real Trivy report exactly the vulnerable lodash of two,
// from lock files (fs) and from installed packages (rootfs).
func TestTrivyHarness(t *testing.T) {
	bin := trivyBinary(t)
	cache := t.TempDir()
	if err := os.Mkdir(filepath.Join(cache, "db"), 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(cache, "db", "trivy.db"), 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	put := func(tx *bolt.Tx, path []string, key, value string) error {
		b, err := tx.CreateBucketIfNotExists([]byte(path[0]))
		for _, p := range path[1:] {
			if err != nil {
				return err
			}
			b, err = b.CreateBucketIfNotExists([]byte(p))
		}
		if err != nil {
			return err
		}
		return b.Put([]byte(key), []byte(value))
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return errors.Join(
			put(tx, []string{"data-source"}, "npm::test",
				`{"ID":"test","Name":"test","URL":"https://example.invalid/test"}`),
			put(tx, []string{"vulnerability"}, "TEST-2026-0001",
				`{"Title":"prototype pollution in lodash","Severity":"HIGH","References":["https://example.invalid/TEST-2026-0001"]}`),
			put(tx, []string{"npm::test", "lodash"}, "TEST-2026-0001",
				`{"VulnerableVersions":["<4.17.21"]}`),
		)
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	writeFile(t, cache, "db/metadata.json",
		`{"Version":2,"NextUpdate":"2026-01-02T00:00:00Z","UpdatedAt":"2026-01-01T00:00:00Z","DownloadedAt":"2026-01-01T00:00:00Z"}`)

	lock := func(version string) string {
		return `{"name":"app","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{` +
			`"":{"name":"app","version":"1.0.0","dependencies":{"lodash":"` + version + `"}},` +
			`"node_modules/lodash":{"version":"` + version + `","resolved":"https://registry.npmjs.org/lodash/-/lodash-` + version + `.tgz"}}}`
	}
	want := []trivyFinding{{"lodash", "4.17.20", "TEST-2026-0001"}}
	wantPkgs := []trivyPackage{{"lodash", "4.17.20"}, {"lodash", "4.17.21"}}

	t.Run("fs", func(t *testing.T) {
		proj := t.TempDir()
		writeFile(t, proj, "old/package-lock.json", lock("4.17.20"))
		writeFile(t, proj, "deep/new/package-lock.json", lock("4.17.21"))
		r := runTrivy(t, bin, cache, "fs", proj)
		// Both lock files were read: the fixed version is absent from the
		// findings because Trivy compared it, not because it missed it.
		if !slices.Equal(r.Packages, wantPkgs) {
			t.Errorf("trivy fs packages = %v, want %v", r.Packages, wantPkgs)
		}
		if got := trivyFS(t, bin, cache, proj); !slices.Equal(got, want) {
			t.Errorf("trivy fs findings = %v, want %v", got, want)
		}
	})
	t.Run("rootfs", func(t *testing.T) {
		root := t.TempDir()
		writeFile(t, root, "srv/old/node_modules/lodash/package.json", `{"name":"lodash","version":"4.17.20"}`)
		writeFile(t, root, "srv/new/node_modules/lodash/package.json", `{"name":"lodash","version":"4.17.21"}`)
		r := runTrivy(t, bin, cache, "rootfs", root)
		if !slices.Equal(r.Packages, wantPkgs) {
			t.Errorf("trivy rootfs packages = %v, want %v", r.Packages, wantPkgs)
		}
		if got := trivyRootfs(t, bin, cache, root); !slices.Equal(got, want) {
			t.Errorf("trivy rootfs findings = %v, want %v", got, want)
		}
	})
}
