package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/tarball"
)

// cosignBinaries finds the real cosign CLIs scripts/cosign.sh builds:
// $STELLA_EXPORT_COSIGN ("ver=path,ver=path", as scripts/test.sh sets it),
// else whatever the cache holds. Without them the test skips, unless CI=true
// where it fails: CI must run the interop tests.
func cosignBinaries(t *testing.T) map[string]string {
	t.Helper()
	found := map[string]string{}
	if v := os.Getenv("STELLA_EXPORT_COSIGN"); v != "" {
		for _, kv := range strings.Split(v, ",") {
			ver, path, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if ok {
				found[ver] = path
			}
		}
	} else {
		cache := os.Getenv("STELLA_EXPORT_CACHE")
		if cache == "" {
			base := os.Getenv("XDG_CACHE_HOME")
			if base == "" {
				home, _ := os.UserHomeDir()
				base = filepath.Join(home, ".cache")
			}
			cache = filepath.Join(base, "stella-export")
		}
		paths, _ := filepath.Glob(filepath.Join(cache, "cosign", "v*", "cosign"))
		for _, p := range paths {
			found[filepath.Base(filepath.Dir(p))] = p
		}
	}
	hasV2, hasV3 := false, false
	for ver := range found {
		hasV2 = hasV2 || strings.HasPrefix(ver, "v2.")
		hasV3 = hasV3 || strings.HasPrefix(ver, "v3.")
	}
	if !hasV2 || !hasV3 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cosign v2 and v3 binaries are required in CI (bash scripts/cosign.sh builds them); found %v", found)
		}
		t.Skipf("real cosign v2 and v3 not built (run bash scripts/cosign.sh); found %v", found)
	}
	return found
}

type runner struct {
	t   *testing.T
	dir string
	env []string
}

func (r *runner) run(name string, args ...string) (string, error) {
	r.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), r.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (r *runner) must(name string, args ...string) string {
	r.t.Helper()
	out, err := r.run(name, args...)
	if err != nil {
		r.t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

func (r *runner) mustFail(name string, args ...string) {
	r.t.Helper()
	if out, err := r.run(name, args...); err == nil {
		r.t.Fatalf("%s %s succeeded, want failure\n%s", filepath.Base(name), strings.Join(args, " "), out)
	}
}

// extract copies the named entries of a bundle into dir.
func extract(t *testing.T, bundle, dir string, names ...string) {
	t.Helper()
	f, err := os.Open(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := tarball.NewReader(f, tarball.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for {
		e, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if want[e.Name] {
			b, _ := io.ReadAll(tr)
			if err := os.WriteFile(filepath.Join(dir, e.Name), b, 0o644); err != nil {
				t.Fatal(err)
			}
			delete(want, e.Name)
		}
	}
	if len(want) > 0 {
		t.Fatalf("%s lacks %v", bundle, want)
	}
}

// TestCosignInterop runs the acceptance of issue 5 against the real cosign
// CLIs, both lines: cosign accepts what stella-export signs (detached
// signature, Sigstore bundle, SLSA attestation, in-bundle signatures), and
// stella-export accepts what cosign signs with a cosign-generated key, which
// in turn signs with stella-export.
func TestCosignInterop(t *testing.T) {
	bins := cosignBinaries(t)
	bin := buildBinary(t)
	contract, err := filepath.Abs("../../testdata/contracts/json-raw.yaml")
	if err != nil {
		t.Fatal(err)
	}
	vers := make([]string, 0, len(bins))
	for v := range bins {
		vers = append(vers, v)
	}
	sort.Strings(vers)
	for _, ver := range vers {
		cosign := bins[ver]
		v3 := strings.HasPrefix(ver, "v3.")
		t.Run(ver, func(t *testing.T) {
			dir := t.TempDir()
			r := &runner{t: t, dir: dir, env: []string{
				"TUF_ROOT=" + filepath.Join(dir, "tuf"), "HOME=" + dir,
				"STELLA_EXPORT_PASSWORD=stella-pw", "COSIGN_PASSWORD=cosign-pw", "COSIGN_YES=true",
			}}
			if out := r.must(cosign, "version"); !strings.Contains(out, ver) {
				t.Fatalf("%s is not cosign %s:\n%s", cosign, ver, out)
			}
			// cosign v2.6 wants a trusted root even when every tlog check is off.
			tr := filepath.Join(dir, "trusted-root.json")
			if err := os.WriteFile(tr, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o644); err != nil {
				t.Fatal(err)
			}
			offline := []string{"--tlog-upload=false"}
			if v3 {
				offline = append(offline, "--use-signing-config=false")
			}
			verifyBundle := []string{"verify-blob", "--new-bundle-format", "--insecure-ignore-tlog"}
			if !v3 {
				verifyBundle = append(verifyBundle, "--trusted-root", tr)
			}

			// stella-export signs; cosign verifies.
			r.must(bin, "sign", "--generate-key", "stella")
			r.must(bin, "run", contract, "-o", "out", "--package", "b.tgz", "--sign-key", "stella.key")
			r.must(bin, "sign", "b.tgz", "--key", "stella.key", "--attest")
			r.must(cosign, "verify-blob", "--key", "stella.pub", "--signature", "b.tgz.sig", "--insecure-ignore-tlog", "b.tgz")
			r.must(cosign, append(verifyBundle, "--key", "stella.pub", "--bundle", "b.tgz.sigstore.json", "b.tgz")...)
			r.must(cosign, "verify-blob-attestation", "--key", "stella.pub", "--signature", "b.tgz.intoto.jsonl",
				"--type", "slsaprovenance1", "--insecure-ignore-tlog", "b.tgz")
			extract(t, filepath.Join(dir, "b.tgz"), dir, "export.json", "export.json.sig", "provenance.json", "provenance.json.sig")
			r.must(cosign, "verify-blob", "--key", "stella.pub", "--signature", "export.json.sig", "--insecure-ignore-tlog", "export.json")
			r.must(cosign, "verify-blob", "--key", "stella.pub", "--signature", "provenance.json.sig", "--insecure-ignore-tlog", "provenance.json")
			// The test can fail: cosign refuses a signature of other bytes.
			if err := os.WriteFile(filepath.Join(dir, "other"), []byte("other bytes"), 0o644); err != nil {
				t.Fatal(err)
			}
			r.mustFail(cosign, "verify-blob", "--key", "stella.pub", "--signature", "b.tgz.sig", "--insecure-ignore-tlog", "other")

			// cosign signs with its own key; stella-export verifies.
			r.must(cosign, "generate-key-pair")
			r.must(bin, "run", contract, "-o", "out-unsigned", "--package", "c.tgz")
			sigArgs := append([]string{"sign-blob", "--key", "cosign.key"}, offline...)
			if v3 {
				sigArgs = append(sigArgs, "--new-bundle-format=false")
			}
			r.must(cosign, append(sigArgs, "--output-signature", "c.tgz.sig", "c.tgz")...)
			bundleArgs := append([]string{"sign-blob", "--key", "cosign.key"}, offline...)
			bundleArgs = append(bundleArgs, "--new-bundle-format", "--bundle", "c.tgz.sigstore.json", "c.tgz")
			r.must(cosign, bundleArgs...)
			// The predicate stella-export builds, attested by cosign.
			env, err := os.ReadFile(filepath.Join(dir, "b.tgz.intoto.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			var e struct{ Payload string }
			if err := json.Unmarshal(env, &e); err != nil {
				t.Fatal(err)
			}
			body, _ := base64.StdEncoding.DecodeString(e.Payload)
			var st struct{ Predicate json.RawMessage }
			if err := json.Unmarshal(body, &st); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "predicate.json"), st.Predicate, 0o644); err != nil {
				t.Fatal(err)
			}
			attArgs := append([]string{"attest-blob", "--key", "cosign.key"}, offline...)
			if v3 {
				attArgs = append(attArgs, "--new-bundle-format=false")
			}
			r.must(cosign, append(attArgs, "--predicate", "predicate.json", "--type", "slsaprovenance1",
				"--output-signature", "c.tgz.intoto.jsonl", "c.tgz")...)
			out := r.must(bin, "verify", "c.tgz", "--key", "cosign.pub", "--require-signature")
			for _, f := range []string{"c.tgz.sig", "c.tgz.sigstore.json", "c.tgz.intoto.jsonl"} {
				if !strings.Contains(out, "signature: VERIFIED "+f) {
					t.Fatalf("stella-export did not verify cosign's %s:\n%s", f, out)
				}
			}
			// ... and the in-bundle signatures by the other key are reported, not ignored.
			if _, err := r.run(bin, "verify", "b.tgz", "--key", "cosign.pub"); err == nil {
				t.Fatal("stella-export verify accepted signatures made by another key")
			}

			// cosign's key signs with stella-export; cosign verifies that.
			r.env = append(r.env, "STELLA_EXPORT_PASSWORD=")
			r.must("cp", "b.tgz", "d.tgz")
			r.must(bin, "sign", "d.tgz", "--key", "cosign.key", "--attest")
			r.must(cosign, "verify-blob", "--key", "cosign.pub", "--signature", "d.tgz.sig", "--insecure-ignore-tlog", "d.tgz")
			r.must(cosign, append(verifyBundle, "--key", "cosign.pub", "--bundle", "d.tgz.sigstore.json", "d.tgz")...)
			r.must(cosign, "verify-blob-attestation", "--key", "cosign.pub", "--signature", "d.tgz.intoto.jsonl",
				"--type", "slsaprovenance1", "--insecure-ignore-tlog", "d.tgz")
		})
	}
}
