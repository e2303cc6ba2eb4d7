package report

import (
	"bytes"
	"context"
	"crypto"
	"flag"
	"html"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/signing"
	"github.com/stella-ops/stella-export/internal/tarball"
	"github.com/stella-ops/stella-export/internal/verify"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

const (
	passBundle = "../../testdata/cosign/bundle.tgz"
	passKey    = "../../testdata/cosign/cosign.pub"
	failBundle = "../../testdata/hostile/checksums-root-lies.tgz"
)

// render verifies a bundle of the repository's testdata and renders its
// report.
func render(t *testing.T, bundle, key string) ([]byte, *verify.Report) {
	t.Helper()
	f, err := os.Open(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := NewCollector()
	opt := verify.Options{Limits: tarball.DefaultLimits, Extract: c.Extract(nil)}
	if key != "" {
		pub, err := signing.LoadPublicKey(key)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := os.ReadFile(bundle + ".sig")
		if err != nil {
			t.Fatal(err)
		}
		opt.Signatures = &verify.SignatureOptions{Keys: []crypto.PublicKey{pub},
			OpenArtifact: func() (io.ReadCloser, error) { return safefile.Open(bundle) },
			Detached:     []verify.Detached{{Kind: verify.DetachedSignature, Path: filepath.Base(bundle) + ".sig", Data: sig}}}
	}
	rep, err := verify.Verify(context.Background(), f, opt)
	if rep == nil {
		t.Fatalf("%s: %v", bundle, err)
	}
	rep.Path = filepath.Base(bundle)
	rep.Log = &verify.LogCheck{Receipt: rep.Path + ".tlog.json", Origin: "example.org/exports", Index: 2, Size: 3,
		Root: "sha256:c50be8ee0e04af3f10a1a36e7712907a93bcb11d4800dd8ee683ffe9df8434ea", Status: "verified"}
	var b bytes.Buffer
	if err := Write(&b, rep, c); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), rep
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./internal/report -update, then review the diff)", name)
	}
}

// TestGolden: a passing and a failing bundle render to fixed bytes, the
// same twice, with no script and no reference to a network.
func TestGolden(t *testing.T) {
	pass, prep := render(t, passBundle, passKey)
	if !prep.OK {
		t.Fatalf("the passing bundle failed: %v", prep.AllProblems())
	}
	fail, frep := render(t, failBundle, "")
	if frep.OK {
		t.Fatal("the failing bundle passed")
	}
	again, _ := render(t, failBundle, "")
	if !bytes.Equal(fail, again) {
		t.Error("two renderings of one bundle differ")
	}
	for _, b := range [][]byte{pass, fail} {
		for _, bad := range []string{"<script", "http://", "https://", "<link", "src="} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("report contains %q", bad)
			}
		}
	}
	if !bytes.Contains(fail, []byte(html.EscapeString(frep.AllProblems()[0].Detail))) {
		t.Error("the failing report does not show the failed check")
	}
	golden(t, "pass.html", pass)
	golden(t, "fail.html", fail)
}

// TestLargeTree: a directory of many files is listed up to
// MaxFilesPerDir, the rest counted.
func TestLargeTree(t *testing.T) {
	rep := &verify.Report{Path: "big.tgz", OK: true}
	c := NewCollector()
	for i := range 100000 {
		c.sizes["data/"+strings.Repeat("x", 3)+itoa(i)] = 1
	}
	var b bytes.Buffer
	if err := Write(&b, rep, c); err != nil {
		t.Fatal(err)
	}
	if b.Len() > 64<<10 {
		t.Errorf("report of 100,000 files is %d bytes", b.Len())
	}
	if !strings.Contains(b.String(), "and 99800 more") {
		t.Error("the rest of the directory is not counted")
	}
}

// TestChromium renders both reports with Debian's headless chromium: a
// PNG each without console errors, and the failing one's DOM shows the
// failed check. Skipped without chromium unless CI=true.
func TestChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (scripts/deps.sh installs it)")
		}
		t.Skip("chromium is not installed")
	}
	dir := t.TempDir()
	pass, _ := render(t, passBundle, passKey)
	fail, frep := render(t, failBundle, "")
	run := func(args ...string) (string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		profile, err := os.MkdirTemp(dir, "profile")
		if err != nil {
			t.Fatal(err)
		}
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + profile,
			"--enable-logging=stderr", "--v=0"}
		cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
		}
		return out.String(), errb.String()
	}
	for name, b := range map[string][]byte{"pass": pass, "fail": fail} {
		hp := filepath.Join(dir, name+".html")
		if err := os.WriteFile(hp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		png := filepath.Join(dir, name+".png")
		_, stderr := run("--window-size=1200,1600", "--screenshot="+png, "file://"+hp)
		if strings.Contains(stderr, "CONSOLE") {
			t.Errorf("%s: console messages:\n%s", name, stderr)
		}
		st, err := os.Stat(png)
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: no screenshot: %v", name, err)
		}
		dom, _ := run("--dump-dom", "file://"+hp)
		if name == "fail" {
			want := html.EscapeString(frep.AllProblems()[0].Detail)
			want = strings.ReplaceAll(want, "&#34;", "\"")
			want = strings.ReplaceAll(want, "&#39;", "'")
			if !strings.Contains(dom, want) || !strings.Contains(dom, "FAILED: ") {
				t.Errorf("the failing report's DOM does not show %q", want)
			}
		} else if !strings.Contains(dom, "PASSED: every check held") {
			t.Error("the passing report's DOM does not show the verdict")
		}
	}
}
