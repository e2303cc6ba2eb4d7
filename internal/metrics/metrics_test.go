package metrics

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

var finished = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func okRun() Run {
	return Run{Kind: KindRun, Tenant: "acme", Profile: "json:raw", Duration: 1500 * time.Millisecond, Bytes: 1000,
		Phases: map[string]time.Duration{"plan": time.Second, "adapter": 400 * time.Millisecond},
		Pushes: map[string]time.Duration{"bundle": 100 * time.Millisecond}, Finished: finished}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantLines(t *testing.T, text string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains("\n"+text, "\n"+l+"\n") {
			t.Errorf("missing line %q in:\n%s", l, text)
		}
	}
}

// Two runs into one file double the counters and the histograms' counts.
func TestAddAccumulates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stella.prom")
	for range 2 {
		if err := Add(path, okRun()); err != nil {
			t.Fatal(err)
		}
	}
	fail := okRun()
	fail.ErrorCode, fail.Bytes = "InputChanged", 0
	if err := Add(path, fail); err != nil {
		t.Fatal(err)
	}
	text := readFile(t, path)
	wantLines(t, text,
		`exporter_runs_total{profile="json:raw"} 3`,
		`exporter_run_bytes_total{profile="json:raw"} 2000`,
		`exporter_run_failures_total{error_code="InputChanged",profile="json:raw"} 1`,
		`exporter_run_duration_seconds_count{profile="json:raw"} 3`,
		`exporter_run_duration_seconds_sum{profile="json:raw"} 4.5`,
		`exporter_run_phase_duration_seconds_count{phase="plan"} 3`,
		`exporter_distribution_push_seconds_count{type="bundle"} 3`,
		`exporter_run_last_success_timestamp_seconds{profile="json:raw"} 1.7803152e+09`,
	)
	if strings.Contains(text, "export_airgap_portable") {
		t.Error("portable metrics written for a run")
	}
	promtool(t, path)
}

func TestPortable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.prom")
	r := Run{Kind: KindPortable, Tenant: "acme", Profile: "airgap-evidence", Duration: 250 * time.Millisecond, Bytes: 10, Finished: finished}
	for range 2 {
		if err := Add(path, r); err != nil {
			t.Fatal(err)
		}
	}
	r.ErrorCode = "SealedRequired"
	if err := Add(path, r); err != nil {
		t.Fatal(err)
	}
	wantLines(t, readFile(t, path),
		`export_airgap_portable_completed_total 2`,
		`export_airgap_portable_duration_ms_count 3`,
		`export_airgap_portable_duration_ms_sum 750`,
		`export_airgap_portable_failures_total{error_code="SealedRequired"} 1`,
		`exporter_run_failures_total{error_code="SealedRequired",profile="airgap-evidence"} 1`,
	)
	promtool(t, path)
}

// Begin counts a run as active until its Add.
func TestActiveRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.prom")
	for range 2 {
		if err := Begin(path, "acme"); err != nil {
			t.Fatal(err)
		}
	}
	wantLines(t, readFile(t, path), `exporter_active_runs{tenant="acme"} 2`)
	r := okRun()
	r.Active = true
	if err := Add(path, r); err != nil {
		t.Fatal(err)
	}
	wantLines(t, readFile(t, path), `exporter_active_runs{tenant="acme"} 1`)
	if err := Add(path, r); err != nil {
		t.Fatal(err)
	}
	wantLines(t, readFile(t, path), `exporter_active_runs{tenant="acme"} 0`)
}

// A file that is not Prometheus text, or uses a name with another type, is
// refused (exit 3) and left as it was; so is a directory.
func TestRefuses(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"garbage.prom": "this is { not metrics\n",
		"type.prom":    "# TYPE exporter_runs_total gauge\nexporter_runs_total{profile=\"json:raw\"} 1\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		err := Add(path, okRun())
		if err == nil || exitcode.For(err) != exitcode.Invalid || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v (exit %d), want exit 3 naming the file", name, err, exitcode.For(err))
		}
		if got := readFile(t, path); got != body {
			t.Errorf("%s changed to %q", name, got)
		}
	}
	if err := Add(dir, okRun()); err == nil || exitcode.For(err) != exitcode.Invalid {
		t.Errorf("directory: %v, want exit 3", err)
	}
}

// promtool checks the file when it is installed (scripts/deps.sh installs
// it); in CI its absence is a failure.
func promtool(t *testing.T, path string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found; scripts/deps.sh installs it")
		}
		t.Log("promtool not installed; skipping promtool check metrics")
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = f
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	// Exit 3 is a lint finding, not a format error. The one allowed is
	// the name the portable export's contract fixes (duration_ms).
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if !slices.ContainsFunc(lines, func(l string) bool { return l != PortableMillis+" metric names should not contain abbreviated units" }) {
			t.Logf("promtool: %s (the name the portable export's contract gives)", out)
			return
		}
	}
	t.Errorf("promtool check metrics: %v\n%s", err, out)
}

// The alert rules docs/operations.md shows pass promtool check rules, and
// name only metrics this package writes.
func TestDocRules(t *testing.T) {
	doc := readFile(t, filepath.Join("..", "..", "docs", "operations.md"))
	_, rest, ok := strings.Cut(doc, "```yaml\n")
	if !ok {
		t.Fatal("docs/operations.md has no yaml block")
	}
	rules, _, _ := strings.Cut(rest, "```")
	for _, name := range []string{RunFailures, RunsTotal, LastSuccess} {
		if !strings.Contains(rules, name) {
			t.Errorf("the alert rules do not use %s", name)
		}
	}
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found; scripts/deps.sh installs it")
		}
		t.Skip("promtool not installed")
	}
	path := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(path, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "check", "rules", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS: 3 rules found") {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}
