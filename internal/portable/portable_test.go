package portable

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/hostile"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/tarball"
	"github.com/stella-ops/stella-export/internal/verify"
	"github.com/stella-ops/stella-export/internal/version"
)

var created = time.Date(2025, 11, 20, 0, 0, 0, 0, time.UTC)

// sealedInput is a sealed bundle written by another system.
type sealedInput struct {
	path string
	raw  []byte
	root string // "sha256:<hex>", as line 1 of its checksums.txt gives it
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// newSealed writes files into a directory and seals it as a bundle.
func newSealed(t *testing.T, files map[string]string) sealedInput {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(name)), []byte(body))
	}
	var buf bytes.Buffer
	res, err := bundle.WriteDir(context.Background(), &buf, bundle.DirConfig{Dir: dir, ExportID: "sealed-1"})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "portable-bundle-v1.tgz")
	writeFile(t, p, buf.Bytes())
	return sealedInput{path: p, raw: buf.Bytes(), root: res.Root.String()}
}

var evidenceFiles = map[string]string{
	"data/finding.json": `{"finding":"CVE-2024-0001","status":"affected"}` + "\n",
	"data/sbom.json":    `{"bomFormat":"CycloneDX"}` + "\n",
	"manifest.json":     `{"bundleId":"b-1"}` + "\n",
}

func config(in, out string) Config {
	return Config{Input: in, BundleID: "b-1", ExportID: "e-1", Tenant: "acme", CreatedAt: created, OutDir: out}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// entries reads a bundle's entries with the checking reader.
func entries(t *testing.T, raw []byte) (names []string, data map[string][]byte) {
	t.Helper()
	r, err := tarball.NewReader(bytes.NewReader(raw), tarball.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data = map[string][]byte{}
	for {
		e, err := r.Next()
		if err == io.EOF {
			return names, data
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
		if data[e.Name], err = io.ReadAll(r); err != nil {
			t.Fatal(err)
		}
	}
}

// dirNames lists what a directory holds, so tests can see that nothing
// (temporary files included) was left behind.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func mustExport(t *testing.T, cfg Config) (*Result, []byte) {
	t.Helper()
	res, err := Export(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func TestExport(t *testing.T) {
	in := newSealed(t, evidenceFiles)
	out := t.TempDir()
	res, raw := mustExport(t, config(in.path, out))

	if want := filepath.Join(out, "export-portable-bundle-v1.tgz"); res.Path != want {
		t.Errorf("Path %s, want %s", res.Path, want)
	}
	if res.InputRoot != in.root || res.InputSHA256 != sha(in.raw) || res.SHA256 != sha(raw) || res.Unchanged || res.Acknowledged != "" {
		t.Errorf("result %+v; input root %s sha256 %s, export sha256 %s", res, in.root, sha(in.raw), sha(raw))
	}
	if got := dirNames(t, out); !slices.Equal(got, []string{layout.PortableOutput}) {
		t.Errorf("output directory holds %q", got)
	}

	names, data := entries(t, raw)
	if want := []string{"README.md", "checksums.txt", "export.json", "portable-bundle-v1.tgz", "verify-export.sh"}; !slices.Equal(names, want) {
		t.Fatalf("entries %q, want exactly %q", names, want)
	}
	if !bytes.Equal(data[layout.PortableInner], in.raw) {
		t.Error("portable-bundle-v1.tgz is not the input, bit for bit")
	}
	wantManifest := `{"bundleId":"b-1","createdAtUtc":"2025-11-20T00:00:00Z","exportId":"e-1","exporterVersion":"` + version.String() +
		`","format":"stella-export/bundle/v1","portableSizeBytes":` + strconv.Itoa(len(in.raw)) +
		`,"portableVersion":"v1","profile":"airgap-evidence","rootHash":"` + in.root +
		`","sourceUri":"/evidence/b-1/portable","tenant":"acme"}` + "\n"
	if s := string(data["export.json"]); s != wantManifest {
		t.Errorf("export.json:\n got %s\nwant %s", s, wantManifest)
	}
	for _, s := range []string{"e-1", "b-1", "acme", in.root} {
		if !bytes.Contains(data["README.md"], []byte(s)) {
			t.Errorf("README.md does not name %s", s)
		}
	}

	// The export is itself a bundle that verifies, inner bundle included.
	rep, err := verify.Verify(context.Background(), bytes.NewReader(raw), verify.Options{})
	if err != nil {
		t.Fatalf("the export does not verify: %v", err)
	}
	if rep.Root != res.Root || rep.SHA256 != res.SHA256 || !strings.HasPrefix(string(data["checksums.txt"]), "root "+res.Root+"\n") {
		t.Errorf("verify says root %s sha256 %s; Export said %s %s", rep.Root, rep.SHA256, res.Root, res.SHA256)
	}

	// --source-uri replaces the default.
	cfg := config(in.path, t.TempDir())
	cfg.SourceURI = "s3://bucket/b-1"
	_, raw2 := mustExport(t, cfg)
	if _, d := entries(t, raw2); !bytes.Contains(d["export.json"], []byte(`"sourceUri":"s3://bucket/b-1"`)) {
		t.Errorf("export.json with a source URI: %s", d["export.json"])
	}
}

// TestDeterministic: the bytes are a function of the ids, the input, the
// times and the options only.
func TestDeterministic(t *testing.T) {
	in := newSealed(t, evidenceFiles)
	_, a := mustExport(t, config(in.path, t.TempDir()))
	_, b := mustExport(t, config(in.path, t.TempDir()))
	if !bytes.Equal(a, b) {
		t.Fatal("two exports of the same input differ")
	}
	// An identical copy of the input elsewhere gives the same export.
	cp := filepath.Join(t.TempDir(), "copy.tgz")
	writeFile(t, cp, in.raw)
	if _, c := mustExport(t, config(cp, t.TempDir())); !bytes.Equal(a, c) {
		t.Error("the export depends on the input's path")
	}
	// Zero CreatedAt and ModTime mean the pinned time, not the clock.
	zero := config(in.path, t.TempDir())
	zero.CreatedAt = time.Time{}
	_, z1 := mustExport(t, zero)
	zero.OutDir = t.TempDir()
	_, z2 := mustExport(t, zero)
	if !bytes.Equal(z1, z2) {
		t.Error("exports without a time differ")
	}
	if _, d := entries(t, z1); !bytes.Contains(d["export.json"], []byte(`"createdAtUtc":"`+tarball.DefaultModTime.Format(time.RFC3339)+`"`)) {
		t.Errorf("export.json without a time: %s", d["export.json"])
	}
	// Every input of the bytes changes them.
	for name, change := range map[string]func(*Config){
		"created":   func(c *Config) { c.CreatedAt = created.Add(time.Second) },
		"mod time":  func(c *Config) { c.ModTime = created },
		"export id": func(c *Config) { c.ExportID = "e-2" },
		"bundle id": func(c *Config) { c.BundleID = "b-2" },
		"tenant":    func(c *Config) { c.Tenant = "globex" },
	} {
		cfg := config(in.path, t.TempDir())
		change(&cfg)
		if _, x := mustExport(t, cfg); bytes.Equal(a, x) {
			t.Errorf("%s: the export did not change", name)
		}
	}
}

func TestWriteOnce(t *testing.T) {
	in := newSealed(t, evidenceFiles)
	out := t.TempDir()
	first, raw := mustExport(t, config(in.path, out))

	// The same export again is a no-op.
	again, raw2 := mustExport(t, config(in.path, out))
	if !again.Unchanged || again.SHA256 != first.SHA256 || again.Root != first.Root || !bytes.Equal(raw, raw2) {
		t.Errorf("identical re-run: %+v, first %+v", again, first)
	}

	// Different bytes for the same export are refused, and nothing changes.
	cfg := config(in.path, out)
	cfg.CreatedAt = created.Add(time.Hour)
	res, err := Export(context.Background(), cfg)
	if code := exitcode.For(err); code != exitcode.Conflict || res != nil {
		t.Fatalf("different bytes: exit %d (%v), result %v; want exit 5", code, err, res)
	}
	want := filepath.Join(out, layout.PortableOutput) + " already exists with different content (SHA-256 " + first.SHA256 + ", this run gives "
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q\nwant prefix %q", err, want)
	}
	if b, _ := os.ReadFile(first.Path); !bytes.Equal(b, raw) {
		t.Error("the existing export was changed")
	}
	if got := dirNames(t, out); !slices.Equal(got, []string{layout.PortableOutput}) {
		t.Errorf("output directory holds %q", got)
	}
}

func TestObjstoreLayout(t *testing.T) {
	in := newSealed(t, evidenceFiles)
	_, flat := mustExport(t, config(in.path, t.TempDir()))
	out := t.TempDir()
	cfg := config(in.path, out)
	cfg.Layout = LayoutObjstore
	want := filepath.Join(out, "exports", "acme", "b-1", "e-1", "export-portable-bundle-v1.tgz")
	if p := OutputPath(cfg); p != want {
		t.Fatalf("OutputPath %s, want %s", p, want)
	}
	res, raw := mustExport(t, cfg)
	if res.Path != want || !bytes.Equal(raw, flat) {
		t.Errorf("objstore export at %s, identical to flat: %v", res.Path, bytes.Equal(raw, flat))
	}
	if got := dirNames(t, out); !slices.Equal(got, []string{"exports"}) {
		t.Errorf("output directory holds %q", got)
	}
	cfg.Layout = ""
	if p := OutputPath(cfg); p != filepath.Join(out, layout.PortableOutput) {
		t.Errorf("default layout: %s", p)
	}
}

// tamperedCopy rewrites one payload file of a sealed bundle with other
// bytes of the same size, keeping its checksums.txt.
func tamperedCopy(t *testing.T, raw []byte, name string) []byte {
	t.Helper()
	names, data := entries(t, raw)
	var buf bytes.Buffer
	tw, err := tarball.NewWriter(&buf, tarball.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		b := data[n]
		switch {
		case strings.HasSuffix(n, "/"):
			err = tw.Dir(n)
		case n == name:
			b = bytes.ToUpper(b)
			fallthrough
		default:
			err = tw.File(n, int64(len(b)), bytes.NewReader(b))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// plainTgz is an archive of files without checksums.txt.
func plainTgz(t *testing.T, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw, err := tarball.NewWriter(&buf, tarball.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range files {
		if err := tw.File(n, int64(len(evidenceFiles[n])), strings.NewReader(evidenceFiles[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSealedRequired: an input whose checksums.txt is missing or does not
// verify is refused with exit 5 and leaves no output.
func TestSealedRequired(t *testing.T) {
	in := newSealed(t, evidenceFiles)
	for _, tc := range []struct {
		name   string
		raw    []byte
		reason string
	}{
		{"no checksums.txt", plainTgz(t, "data/finding.json", "manifest.json"), "the bundle has no checksums.txt"},
		{"a digest that does not match", tamperedCopy(t, in.raw, "data/finding.json"), "data/finding.json: digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "in.tgz")
			writeFile(t, p, tc.raw)
			out := t.TempDir()
			res, err := Export(context.Background(), config(p, out))
			var sealed *SealedRequiredError
			if !errors.As(err, &sealed) || exitcode.For(err) != exitcode.Conflict || res != nil {
				t.Fatalf("exit %d (%v), result %v; want SealedRequired, exit 5", exitcode.For(err), err, res)
			}
			if sealed.Input != p || !strings.Contains(sealed.Reason, tc.reason) {
				t.Errorf("input %s, reason %q; want %s, %q", sealed.Input, sealed.Reason, p, tc.reason)
			}
			if !strings.HasPrefix(err.Error(), p+": SealedRequired: the input is not a sealed bundle: ") {
				t.Errorf("message %q", err)
			}
			if got := dirNames(t, out); len(got) != 0 {
				t.Errorf("output directory holds %q", got)
			}
		})
	}
}

// TestUnsafeInput: every archive of the hostile corpus that the reader
// itself refuses is refused with exit 3 (not SealedRequired), leaving no
// output.
func TestUnsafeInput(t *testing.T) {
	n := 0
	for _, c := range hostile.Corpus() {
		if c.Level != hostile.Archive {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), c.Name)
			writeFile(t, p, c.Data)
			out := t.TempDir()
			res, err := Export(context.Background(), config(p, out))
			var sealed *SealedRequiredError
			if exitcode.For(err) != exitcode.Invalid || errors.As(err, &sealed) || res != nil {
				t.Fatalf("exit %d (%v); want 3", exitcode.For(err), err)
			}
			if !errors.Is(err, c.Kind) || !strings.Contains(err.Error(), c.Want) || !strings.HasPrefix(err.Error(), p+": ") {
				t.Errorf("error %q: want %v, %q and the input's path", err, c.Kind, c.Want)
			}
			if got := dirNames(t, out); len(got) != 0 {
				t.Errorf("output directory holds %q", got)
			}
		})
	}
	if n < 10 {
		t.Fatalf("only %d archive-level hostile cases", n)
	}
}

func TestExpectSHA256(t *testing.T) {
	in := newSealed(t, evidenceFiles)

	t.Run("match", func(t *testing.T) {
		out := t.TempDir()
		cfg := config(in.path, out)
		cfg.ExpectSHA256 = sha(in.raw)
		mustExport(t, cfg)
		if got := dirNames(t, out); !slices.Equal(got, []string{layout.PortableOutput}) {
			t.Errorf("output directory holds %q", got)
		}
	})

	out := t.TempDir()
	cfg := config(in.path, out)
	cfg.ExpectSHA256 = strings.Repeat("0", 64)
	res, err := Export(context.Background(), cfg)
	var failed *FailedError
	if !errors.As(err, &failed) || exitcode.For(err) != exitcode.Verify {
		t.Fatalf("mismatch: exit %d (%v); want FailedError, exit 1", exitcode.For(err), err)
	}
	artefact := filepath.Join(out, layout.PortableOutput)
	marker := artefact + ".failed"
	if *failed != (FailedError{Marker: marker, Expected: strings.Repeat("0", 64), Actual: sha(in.raw)}) {
		t.Errorf("FailedError %+v", failed)
	}
	if want := "input SHA-256 is " + sha(in.raw) + ", expected " + strings.Repeat("0", 64) + ": export marked FAILED in " + marker + " (artefact kept)"; err.Error() != want {
		t.Errorf("message\n got %s\nwant %s", err, want)
	}
	// The artefact is kept and reported.
	kept, rerr := os.ReadFile(artefact)
	if rerr != nil || res == nil || res.SHA256 != sha(kept) || res.InputSHA256 != sha(in.raw) {
		t.Fatalf("artefact: %v, result %+v", rerr, res)
	}
	wantMarker := `{"actualSha256":"` + sha(in.raw) + `","artefact":"export-portable-bundle-v1.tgz","bundleId":"b-1",` +
		`"expectedSha256":"` + strings.Repeat("0", 64) + `","exportId":"e-1","reason":"portable bundle SHA-256 mismatch",` +
		`"status":"FAILED","tenant":"acme"}` + "\n"
	if b, _ := os.ReadFile(marker); string(b) != wantMarker {
		t.Errorf("marker:\n got %s\nwant %s", b, wantMarker)
	}

	// Later runs are refused, even with the right digest, until acknowledged.
	cfg.ExpectSHA256 = sha(in.raw)
	res, err = Export(context.Background(), cfg)
	var marked *MarkedFailedError
	if !errors.As(err, &marked) || marked.Marker != marker || exitcode.For(err) != exitcode.Conflict || res != nil {
		t.Fatalf("run on a FAILED export: exit %d (%v); want MarkedFailedError, exit 5", exitcode.For(err), err)
	}
	if want := "export is marked FAILED (" + marker + ")"; err.Error() != want {
		t.Errorf("message\n got %s\nwant %s", err, want)
	}

	// Acknowledged: the marker is kept under another name, the export redone.
	cfg.AcknowledgeFailure = true
	res, err = Export(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ack := marker + ".acknowledged"
	if res.Acknowledged != ack || res.Unchanged {
		t.Errorf("acknowledged run: %+v", res)
	}
	if b, _ := os.ReadFile(ack); string(b) != wantMarker {
		t.Errorf("acknowledged marker: %s", b)
	}
	want := []string{layout.PortableOutput, layout.PortableOutput + ".failed.acknowledged"}
	if got := dirNames(t, out); !slices.Equal(got, want) {
		t.Errorf("output directory holds %q, want %q", got, want)
	}
	if b, _ := os.ReadFile(artefact); !bytes.Equal(b, kept) {
		t.Error("the re-exported artefact differs from the kept one")
	}
	// With nothing marked, --acknowledge-failure changes nothing.
	res, err = Export(context.Background(), cfg)
	if err != nil || !res.Unchanged || res.Acknowledged != "" {
		t.Errorf("acknowledging with nothing marked: %+v %v", res, err)
	}
}

func TestConfigErrors(t *testing.T) {
	in := newSealed(t, evidenceFiles)
	for _, tc := range []struct {
		name   string
		change func(*Config)
		option string // the Config field the error names (commands name its flag)
		want   string
	}{
		{"no input", func(c *Config) { c.Input = "" }, "Input", "Input: the sealed portable bundle is required"},
		{"no bundle id", func(c *Config) { c.BundleID = "" }, "BundleID", "BundleID: required for a portable evidence export"},
		{"no export id", func(c *Config) { c.ExportID = "" }, "ExportID", "ExportID: required"},
		{"no tenant", func(c *Config) { c.Tenant = "" }, "Tenant", "Tenant: required"},
		{"traversal in bundle id", func(c *Config) { c.BundleID = "../b" }, "BundleID", `BundleID "../b": want 1-200 characters`},
		{"slash in tenant", func(c *Config) { c.Tenant = "acme/x" }, "Tenant", `Tenant "acme/x": want 1-200 characters`},
		{"leading dot in export id", func(c *Config) { c.ExportID = ".e" }, "ExportID", `ExportID ".e": want 1-200 characters`},
		{"space in export id", func(c *Config) { c.ExportID = "e 1" }, "ExportID", `ExportID "e 1": want`},
		{"export id too long", func(c *Config) { c.ExportID = strings.Repeat("e", 201) }, "ExportID", `ExportID "eee`},
		{"huge source uri", func(c *Config) { c.SourceURI = strings.Repeat("u", 5000) }, "SourceURI", "SourceURI: 5000 bytes, longer than the 4 KiB allowed"},
		{"digest with prefix", func(c *Config) { c.ExpectSHA256 = "sha256:" + strings.Repeat("0", 64) }, "ExpectSHA256", "ExpectSHA256: "},
		{"upper-case digest", func(c *Config) { c.ExpectSHA256 = strings.Repeat("A", 64) }, "ExpectSHA256", "is not 64 lowercase hex digits"},
		{"short digest", func(c *Config) { c.ExpectSHA256 = "00" }, "ExpectSHA256", `ExpectSHA256: "00" is not 64 lowercase hex digits`},
		{"layout", func(c *Config) { c.Layout = "s3" }, "Layout", `Layout: "s3" is not one of flat, objstore`},
		{"no output directory", func(c *Config) { c.OutDir = "" }, "OutDir", "OutDir: the output directory is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			cfg := config(in.path, out)
			tc.change(&cfg)
			res, err := Export(context.Background(), cfg)
			if exitcode.For(err) != exitcode.Invalid || res != nil {
				t.Fatalf("exit %d (%v); want 3", exitcode.For(err), err)
			}
			var oe *exitcode.OptionError
			if !errors.As(err, &oe) || oe.Option != tc.option {
				t.Errorf("%v: want an *exitcode.OptionError for %s", err, tc.option)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if got := dirNames(t, out); len(got) != 0 {
				t.Errorf("output directory holds %q", got)
			}
		})
	}
	// Every character the format allows, at the longest length.
	cfg := config(in.path, t.TempDir())
	cfg.BundleID, cfg.ExportID, cfg.Tenant = "a.b_c:d@e+f-0", "9"+strings.Repeat("z", 199), "T"
	if _, err := Export(context.Background(), cfg); err != nil {
		t.Errorf("valid ids: %v", err)
	}
}

// TestCancelled: a cancelled export leaves nothing behind and exits as
// interrupted (130), not as an archive that is "not a gzip stream" (3).
func TestCancelled(t *testing.T) {
	in := newSealed(t, evidenceFiles)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := t.TempDir()
	res, err := Export(ctx, config(in.path, out))
	if err == nil || !strings.Contains(err.Error(), context.Canceled.Error()) || res != nil {
		t.Fatalf("cancelled: %v, result %v", err, res)
	}
	if got := exitcode.For(err); got != exitcode.Interrupted {
		t.Errorf("cancelled: exit %d (%v), want %d", got, err, exitcode.Interrupted)
	}
	if got := dirNames(t, out); len(got) != 0 {
		t.Errorf("output directory holds %q", got)
	}
}
