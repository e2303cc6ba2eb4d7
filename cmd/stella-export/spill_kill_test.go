package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillDuringSpill interrupts `run --package` while plan's sort is
// spilling sorted runs (--memory-budget 4MiB on 30,000 documents): SIGINT
// must remove every temporary file and directory at once; after SIGKILL,
// which leaves them behind, the next run in the same directory removes
// them (they name the dead process) before it starts its own.
func TestKillDuringSpill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and a 30,000-document source")
	}
	bin := buildBinary(t)
	work := t.TempDir()
	gen := exec.Command("go", "run", "../../scripts/benchgen", "-evidence", "-docs", "30000", "-big", "0", "-o", filepath.Join(work, "src"))
	gen.Stderr = os.Stderr
	if err := gen.Run(); err != nil {
		t.Fatalf("benchgen: %v", err)
	}
	contract := filepath.Join(work, "raw.yaml")
	if err := os.WriteFile(contract, []byte("apiVersion: stella-export/v1\nkind: EvidenceExport\n"+
		"export_id: urn:stella:export:spill-test\ntenant: bench\nprofile: json:raw\nsource: src\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	runCmd := func() *exec.Cmd {
		return exec.Command(bin, "run", contract, "-o", filepath.Join(out, "export"), "--package", filepath.Join(out, "export.tgz"),
			"--memory-budget", "4MiB")
	}
	// spilling: a spill directory holds a sorted run.
	spilling := func() bool {
		runs, _ := filepath.Glob(filepath.Join(out, ".stella-export-spill-*", "run-*"))
		return len(runs) > 0
	}
	temporaries := func() []string {
		ents, _ := os.ReadDir(out)
		var names []string
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				names = append(names, e.Name())
			}
		}
		return names
	}

	msg := interrupt(t, runCmd(), syscall.SIGINT, 130, 120*time.Second, "run never spilled", spilling)
	if left := temporaries(); len(left) != 0 {
		t.Errorf("SIGINT during the spill left %v; stderr: %s", left, msg)
	}

	// SIGKILL leaves the temporaries; the next run (here one that fails
	// at once, after the clean-up, on a missing source) removes them.
	bad := filepath.Join(work, "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: stella-export/v1\nkind: EvidenceExport\n"+
		"export_id: urn:stella:export:spill-test\ntenant: bench\nprofile: json:raw\nsource: nowhere\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	staging := func() bool {
		st, _ := filepath.Glob(filepath.Join(out, ".stella-export-stage-*", "data"))
		return len(st) > 0
	}
	for _, at := range []struct {
		name  string
		ready func() bool
	}{{"spilling", spilling}, {"staging", staging}} {
		cmd := runCmd()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(120 * time.Second)
		for !at.ready() {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("run never reached %s", at.name)
			}
			time.Sleep(2 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		left := temporaries()
		if len(left) == 0 {
			t.Fatalf("SIGKILL while %s left nothing behind: the test no longer tests the clean-up", at.name)
		}
		next := exec.Command(bin, "run", bad, "-o", filepath.Join(out, "export"))
		if b, err := next.CombinedOutput(); err == nil {
			t.Fatalf("run of a missing source succeeded: %s", b)
		}
		if still := temporaries(); len(still) != 0 {
			t.Errorf("SIGKILL while %s left %v, the next run left %v", at.name, left, still)
		}
	}
}
