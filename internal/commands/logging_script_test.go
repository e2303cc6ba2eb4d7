package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

func init() { emitCmds["logcheck"] = cmdLogCheck }

// logFields are the fields every log record of a run carries.
var logFields = []string{"run_id", "tenant", "profile_kind", "adapter", "phase", "correlation_id", "error_code"}

// logcheck FILE CORRELATION_ID PHASE...: every line of FILE is a JSON
// object with every field of logFields (run_id, tenant and profile_kind
// not empty, correlation_id the one given), and each PHASE has a record.
func cmdLogCheck(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: logcheck FILE CORRELATION_ID PHASE...")
	}
	seen := map[string]bool{}
	lines := strings.Split(strings.TrimSuffix(ts.ReadFile(args[0]), "\n"), "\n")
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			ts.Fatalf("%s:%d: not a JSON object: %v: %s", args[0], i+1, err, line)
		}
		for _, f := range logFields {
			v, ok := rec[f].(string)
			if !ok {
				ts.Fatalf("%s:%d: field %s missing or not a string: %s", args[0], i+1, f, line)
			}
			if v == "" && slices.Contains([]string{"run_id", "tenant", "profile_kind", "phase"}, f) {
				ts.Fatalf("%s:%d: field %s is empty: %s", args[0], i+1, f, line)
			}
		}
		if rec["correlation_id"] != args[1] {
			ts.Fatalf("%s:%d: correlation_id %v, want %s", args[0], i+1, rec["correlation_id"], args[1])
		}
		seen[rec["phase"].(string)] = true
	}
	for _, p := range args[2:] {
		if !seen[p] {
			ts.Fatalf("%s: no record of phase %s", args[0], p)
		}
	}
}

// TestRunOutboxCancelled: an interrupted run --outbox queues nothing,
// neither export.ready.v1 nor export.failed.v1.
func TestRunOutboxCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(exitcode.ErrInterrupted)
	contract, err := filepath.Abs("../../testdata/contracts/json-raw.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	outbox := filepath.Join(dir, "ob")
	args := []string{"run", contract, "-o", filepath.Join(dir, "out"), "--package", filepath.Join(dir, "out.tgz"), "--outbox", outbox}
	code := run(ctx, args, strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
	if code != exitcode.Interrupted {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitcode.Interrupted, stderr.String())
	}
	ents, _ := os.ReadDir(filepath.Join(outbox, "pending"))
	if len(ents) != 0 {
		t.Errorf("%d entries queued by a cancelled run", len(ents))
	}
}
