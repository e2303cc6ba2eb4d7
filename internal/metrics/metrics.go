// Package metrics writes a batch job's Prometheus metrics to a file for the
// node_exporter textfile collector (docs/operations.md#metrics).
//
// A file is shared by every run that names it: Add takes an exclusive lock
// (flock on PATH.lock), reads the metrics already there, adds this run's
// counters and histogram observations to them (same names and labels),
// replaces the gauges, and writes the whole with
// prometheus.WriteToTextfile, which renames a complete temporary file into
// place, so a scrape never sees half a file. The format is Prometheus text
// exposition 0.0.4, the same as
//
//	promtool check metrics < PATH
//
// accepts.
package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// MaxFile is the largest metrics file Add reads back.
const MaxFile = 16 << 20

// Kinds of run.
const (
	KindRun      = "run"      // stella-export run
	KindPortable = "portable" // stella-export package --portable
)

// Run is what one finished run contributes.
type Run struct {
	Kind      string // KindRun or KindPortable
	Tenant    string // empty when the run failed before knowing it
	Profile   string // empty when the run failed before knowing it
	ErrorCode string // the stable error code; empty for a success
	Duration  time.Duration
	Bytes     int64 // bytes the export wrote (its files, or the bundle)
	// Phases are the durations of the run's phases (plan, adapter,
	// manifest, package, ...).
	Phases map[string]time.Duration
	// Pushes are the durations of distributions by type ("bundle": the
	// bundle written by --package or package --portable; "outbox").
	Pushes map[string]time.Duration
	// Active is true when Begin counted this run in exporter_active_runs.
	Active bool
	// Finished is when the run ended (the job's wall clock; metrics are
	// not part of any export).
	Finished time.Time
}

// Metric names: the architecture's run metrics and the portable export's.
const (
	RunDuration     = "exporter_run_duration_seconds"
	RunsTotal       = "exporter_runs_total"
	RunBytes        = "exporter_run_bytes_total"
	RunFailures     = "exporter_run_failures_total"
	ActiveRuns      = "exporter_active_runs"
	PushSeconds     = "exporter_distribution_push_seconds"
	PhaseSeconds    = "exporter_run_phase_duration_seconds"
	LastSuccess     = "exporter_run_last_success_timestamp_seconds"
	PortableDone    = "export_airgap_portable_completed_total"
	PortableMillis  = "export_airgap_portable_duration_ms"
	PortableFailed  = "export_airgap_portable_failures_total"
	PortableLastAt  = "export_airgap_portable_last_success_timestamp_seconds"
	unknownLabel    = "unknown"
	lockSuffix      = ".lock"
	activeGaugeName = ActiveRuns
)

var secondsBuckets = prometheus.ExponentialBuckets(0.25, 2, 16) // 0.25 s .. ~2.3 h

func label(s string) string {
	if s == "" {
		return unknownLabel
	}
	return s
}

// families returns r's metrics as a fresh registry gathers them.
func families(r Run) ([]*dto.MetricFamily, error) {
	reg := prometheus.NewPedanticRegistry()
	must := func(c prometheus.Collector) { reg.MustRegister(c) }
	profile := label(r.Profile)
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: RunsTotal, Help: "Export runs finished, successful or not."}, []string{"profile"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: RunDuration, Help: "Wall time of export runs, successful or not.", Buckets: secondsBuckets}, []string{"profile"})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{Name: RunFailures, Help: "Failed export runs by stable error code."}, []string{"error_code", "profile"})
	bytesTotal := prometheus.NewCounterVec(prometheus.CounterOpts{Name: RunBytes, Help: "Bytes written by successful export runs."}, []string{"profile"})
	phases := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: PhaseSeconds, Help: "Wall time of each phase of export runs.", Buckets: secondsBuckets}, []string{"phase"})
	pushes := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: PushSeconds, Help: "Wall time of distributions: the bundle written, the notification enqueued.", Buckets: secondsBuckets}, []string{"type"})
	last := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: LastSuccess, Help: "Unix time of the last successful export run."}, []string{"profile"})
	for _, c := range []prometheus.Collector{runs, dur, failures, bytesTotal, phases, pushes, last} {
		must(c)
	}
	runs.WithLabelValues(profile).Inc()
	dur.WithLabelValues(profile).Observe(r.Duration.Seconds())
	if r.ErrorCode != "" {
		failures.WithLabelValues(r.ErrorCode, profile).Inc()
	} else {
		bytesTotal.WithLabelValues(profile).Add(float64(r.Bytes))
		last.WithLabelValues(profile).Set(float64(r.Finished.Unix()))
	}
	for _, p := range sortedKeys(r.Phases) {
		phases.WithLabelValues(p).Observe(r.Phases[p].Seconds())
	}
	for _, t := range sortedKeys(r.Pushes) {
		pushes.WithLabelValues(t).Observe(r.Pushes[t].Seconds())
	}
	if r.Active {
		active := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ActiveRuns, Help: "Export runs in progress (counted by the runs sharing this file)."}, []string{"tenant"})
		must(active)
		active.WithLabelValues(label(r.Tenant)).Set(-1)
	}
	if r.Kind == KindPortable {
		done := prometheus.NewCounter(prometheus.CounterOpts{Name: PortableDone, Help: "Portable evidence exports completed."})
		failed := prometheus.NewCounterVec(prometheus.CounterOpts{Name: PortableFailed, Help: "Portable evidence exports failed, by stable error code."}, []string{"error_code"})
		ms := prometheus.NewHistogram(prometheus.HistogramOpts{Name: PortableMillis, Help: "Wall time of portable evidence exports, in milliseconds.",
			Buckets: prometheus.ExponentialBuckets(50, 2, 16)})
		lastP := prometheus.NewGauge(prometheus.GaugeOpts{Name: PortableLastAt, Help: "Unix time of the last completed portable evidence export."})
		for _, c := range []prometheus.Collector{done, failed, ms, lastP} {
			must(c)
		}
		ms.Observe(float64(r.Duration.Microseconds()) / 1000)
		if r.ErrorCode != "" {
			failed.WithLabelValues(r.ErrorCode).Inc()
		} else {
			done.Inc()
			lastP.Set(float64(r.Finished.Unix()))
		}
	}
	return reg.Gather()
}

func sortedKeys(m map[string]time.Duration) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Begin counts a run of tenant in exporter_active_runs of path; Add with
// Run.Active takes it back.
func Begin(path, tenant string) error {
	reg := prometheus.NewPedanticRegistry()
	active := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ActiveRuns, Help: "Export runs in progress (counted by the runs sharing this file)."}, []string{"tenant"})
	reg.MustRegister(active)
	active.WithLabelValues(label(tenant)).Set(1)
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	return update(path, mfs)
}

// Add adds r to the metrics file path (created if missing).
func Add(path string, r Run) error {
	mfs, err := families(r)
	if err != nil {
		return err
	}
	return update(path, mfs)
}

// FileError: the metrics file holds something other than Prometheus text
// this package can add to (exit 3).
type FileError struct {
	Path   string
	Reason string
}

func (e *FileError) Error() string { return fmt.Sprintf("metrics file %s: %s", e.Path, e.Reason) }
func (e *FileError) Unwrap() error { return exitcode.ErrInvalid }

// Check refuses a path that Add could not use: an existing path that is not
// a regular file, or a file that is not Prometheus text.
func Check(path string) error {
	_, err := read(path)
	return err
}

func read(path string) (map[string]*dto.MetricFamily, error) {
	b, err := safefile.ReadAll(path, MaxFile)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*dto.MetricFamily{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("metrics file: %w", err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	old, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		return nil, &FileError{Path: path, Reason: "not Prometheus text: " + oneLine(err.Error())}
	}
	return old, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// update merges mfs into the file under its lock and rewrites it.
func update(path string, mfs []*dto.MetricFamily) error {
	unlock, err := lock(path + lockSuffix)
	if err != nil {
		return err
	}
	defer unlock()
	old, err := read(path)
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		o, ok := old[mf.GetName()]
		if !ok {
			if mf.GetName() == activeGaugeName {
				for _, m := range mf.Metric {
					m.Gauge.Value = new(max(0, m.GetGauge().GetValue()))
				}
			}
			old[mf.GetName()] = mf
			continue
		}
		if o.GetType() != mf.GetType() {
			return &FileError{Path: path, Reason: fmt.Sprintf("%s is a %s there, not a %s", mf.GetName(), o.GetType(), mf.GetType())}
		}
		if err := merge(o, mf); err != nil {
			return &FileError{Path: path, Reason: err.Error()}
		}
	}
	out := make([]*dto.MetricFamily, 0, len(old))
	for _, mf := range old {
		slices.SortFunc(mf.Metric, func(a, b *dto.Metric) int { return strings.Compare(labelKey(a), labelKey(b)) })
		out = append(out, mf)
	}
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	if err := prometheus.WriteToTextfile(path, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return out, nil })); err != nil {
		return fmt.Errorf("write metrics file %s: %w", path, err)
	}
	return nil
}

func labelKey(m *dto.Metric) string {
	var b strings.Builder
	for _, l := range m.GetLabel() {
		b.WriteString(l.GetName())
		b.WriteByte(0)
		b.WriteString(l.GetValue())
		b.WriteByte(0)
	}
	return b.String()
}

// merge adds the metrics of add into dst: counters and histograms add up,
// exporter_active_runs adds, other gauges take the new value.
func merge(dst, add *dto.MetricFamily) error {
	for _, m := range add.Metric {
		key := labelKey(m)
		i := slices.IndexFunc(dst.Metric, func(o *dto.Metric) bool { return labelKey(o) == key })
		if i < 0 {
			dst.Metric = append(dst.Metric, m)
			continue
		}
		o := dst.Metric[i]
		switch add.GetType() {
		case dto.MetricType_COUNTER:
			o.Counter.Value = new(o.GetCounter().GetValue() + m.GetCounter().GetValue())
		case dto.MetricType_GAUGE:
			v := m.GetGauge().GetValue()
			if add.GetName() == activeGaugeName {
				v = max(0, v+o.GetGauge().GetValue())
			}
			o.Gauge = &dto.Gauge{Value: new(v)}
		case dto.MetricType_HISTOGRAM:
			oh, mh := o.GetHistogram(), m.GetHistogram()
			// The text format spells out the +Inf bucket, a registry
			// does not: it is the sample count either way.
			oh.Bucket, mh.Bucket = finite(oh.Bucket), finite(mh.Bucket)
			if len(oh.GetBucket()) != len(mh.GetBucket()) {
				return fmt.Errorf("%s: other histogram buckets than this version writes", add.GetName())
			}
			for j, b := range mh.GetBucket() {
				ob := oh.Bucket[j]
				if ob.GetUpperBound() != b.GetUpperBound() {
					return fmt.Errorf("%s: other histogram buckets than this version writes", add.GetName())
				}
				ob.CumulativeCount = new(ob.GetCumulativeCount() + b.GetCumulativeCount())
			}
			oh.SampleCount = new(oh.GetSampleCount() + mh.GetSampleCount())
			oh.SampleSum = new(oh.GetSampleSum() + mh.GetSampleSum())
		default:
			return fmt.Errorf("%s: unsupported metric type %s", add.GetName(), add.GetType())
		}
		o.TimestampMs = nil
	}
	return nil
}

func finite(bs []*dto.Bucket) []*dto.Bucket {
	return slices.DeleteFunc(bs, func(b *dto.Bucket) bool { return math.IsInf(b.GetUpperBound(), +1) })
}

// lock takes an exclusive flock on path (created if missing, never through
// a symbolic link) and returns its release.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock metrics file: %w", err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, &FileError{Path: path, Reason: "the lock file is not a regular file"}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock metrics file %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
