package commands

import (
	"fmt"
	"os"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/metrics"
)

const metricsUsage = "add this run's Prometheus metrics to this file for the node_exporter textfile collector (counters accumulate across the runs sharing it; docs/operations.md#metrics)"

// recorder times one run for --metrics-file; a nil *recorder records
// nothing.
type recorder struct {
	path  string
	now   func() time.Time
	start time.Time
	phase string
	since time.Time
	run   metrics.Run
}

// newRecorder starts timing a run of kind, or returns nil without a path.
func newRecorder(e *env, path, kind string) *recorder {
	if path == "" {
		return nil
	}
	now := e.now()
	return &recorder{path: path, now: e.now, start: now, run: metrics.Run{Kind: kind,
		Phases: map[string]time.Duration{}, Pushes: map[string]time.Duration{}}}
}

// phases of internal/run's run.state events.
var statePhases = map[string]string{"planning": "plan", "running": "adapter", "manifest": "manifest", "packaging": "package"}

// hook follows run.state events: each state starts a phase and ends the
// one before.
func (r *recorder) hook(kind string, f map[string]any) {
	if r == nil || kind != "run.state" {
		return
	}
	state, _ := f["state"].(string)
	r.enter(statePhases[state])
}

// enter ends the current phase and starts phase ("" for none).
func (r *recorder) enter(phase string) {
	now := r.now()
	if r.phase != "" {
		d := now.Sub(r.since)
		r.run.Phases[r.phase] += d
		if r.phase == "package" {
			r.run.Pushes["bundle"] += d
		}
	}
	r.phase, r.since = phase, now
}

// begin counts the run in exporter_active_runs once its tenant is known.
func (r *recorder) begin(e *env, tenant, profile string) {
	if r == nil {
		return
	}
	r.run.Tenant, r.run.Profile = tenant, profile
	if err := metrics.Begin(r.path, tenant); err != nil {
		warnMetrics(e, err)
		return
	}
	r.run.Active = true
}

// finish adds the run to the file. A metrics file that cannot be written
// is reported on stderr but does not change the run's exit code: the
// export itself is done (or failed for its own reason).
func (r *recorder) finish(e *env, err error, bytes int64) {
	if r == nil {
		return
	}
	r.enter("")
	end := r.now()
	r.run.Duration, r.run.Finished, r.run.Bytes = end.Sub(r.start), end, bytes
	if err != nil {
		r.run.ErrorCode = errorCode(err)
	}
	if werr := metrics.Add(r.path, r.run); werr != nil {
		warnMetrics(e, werr)
	}
}

func warnMetrics(e *env, err error) {
	fmt.Fprintf(e.stderr, "stella-export: warning: %s (the metrics of this run are not recorded)\n", oneLine(err.Error()))
}

// checkMetricsFile refuses, before any work, a --metrics-file that could
// not be added to.
func checkMetricsFile(path string) error {
	if path == "" {
		return nil
	}
	if err := metrics.Check(path); err != nil {
		return fmt.Errorf("--metrics-file: %w", err)
	}
	return nil
}

// fileSize is the size of path, 0 when it cannot be read.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// errorCode is the stable code of err (internal/exitcode's table).
func errorCode(err error) string { return exitcode.Name(err) }
