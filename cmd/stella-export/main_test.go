package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles stella-export once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "stella-export")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// TestSignalsRemovePartialOutput interrupts `package` on a large (sparse)
// input with SIGINT and SIGTERM and checks exit 130/143, the message, and
// that nothing is left in the output directory.
func TestSignalsRemovePartialOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	in := t.TempDir()
	f, err := os.Create(filepath.Join(in, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(8 << 30); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
		word string
	}{{syscall.SIGINT, 130, "interrupted"}, {syscall.SIGTERM, 143, "terminated"}} {
		out := t.TempDir()
		cmd := exec.Command(bin, "package", in, "-o", filepath.Join(out, "a.tgz"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The temporary output appears once the command is running with its
		// signal handlers installed.
		deadline := time.Now().Add(30 * time.Second)
		for {
			ents, _ := os.ReadDir(out)
			if len(ents) > 0 {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatal("no temporary output appeared")
			}
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Signal(tc.sig)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
			t.Fatalf("%v: exit %v, want %d; stderr: %s", tc.sig, err, tc.code, stderr.String())
		}
		msg := stderr.String()
		if !strings.Contains(msg, "removed partial output") || !strings.Contains(msg, tc.word) || strings.Count(msg, "\n") != 1 {
			t.Errorf("%v: stderr %q", tc.sig, msg)
		}
		if ents, _ := os.ReadDir(out); len(ents) != 0 {
			t.Errorf("%v: left behind %v", tc.sig, ents)
		}
	}
}

// TestSignalsAbortRun interrupts `run --package` while its adapters are
// writing (a 128 MiB SBOM keeps json:raw busy for a second or more) and checks exit
// 130/143, that the staging directory, the export directory and the bundle
// are gone, and that the events file ends with the aborted state.
func TestSignalsAbortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and a 128 MiB evidence source")
	}
	bin := buildBinary(t)
	work := t.TempDir()
	gen := exec.Command("go", "run", "../../scripts/benchgen", "-evidence", "-docs", "0", "-big", "1", "-big-size", "128M",
		"-o", filepath.Join(work, "src"))
	gen.Stderr = os.Stderr
	if err := gen.Run(); err != nil {
		t.Fatalf("benchgen: %v", err)
	}
	contract := filepath.Join(work, "raw.yaml")
	if err := os.WriteFile(contract, []byte("apiVersion: stella-export/v1\nkind: EvidenceExport\n"+
		"export_id: urn:stella:export:signal-test\ntenant: bench\nprofile: json:raw\nsource: src\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
		word string
	}{{syscall.SIGINT, 130, "interrupted"}, {syscall.SIGTERM, 143, "terminated"}} {
		out := t.TempDir()
		events := filepath.Join(t.TempDir(), "events.jsonl")
		cmd := exec.Command(bin, "run", contract, "-o", filepath.Join(out, "export"), "--package", filepath.Join(out, "export.tgz"),
			"--events", events)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the adapter has started writing into the staging
		// directory, then interrupt.
		deadline := time.Now().Add(60 * time.Second)
		for {
			b, _ := os.ReadFile(events)
			if bytes.Contains(b, []byte(`"adapter.start"`)) {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("the adapter never started; stderr: %s", stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		if ents, _ := os.ReadDir(out); len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), ".stella-export-stage-") {
			t.Fatalf("%v: expected one staging directory while running, found %v", tc.sig, ents)
		}
		cmd.Process.Signal(tc.sig)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
			t.Fatalf("%v: exit %v, want %d; stderr: %s", tc.sig, err, tc.code, stderr.String())
		}
		msg := stderr.String()
		if !strings.Contains(msg, "removed the staging directory and partial output") || !strings.Contains(msg, tc.word) ||
			strings.Count(msg, "\n") != 1 {
			t.Errorf("%v: stderr %q", tc.sig, msg)
		}
		if ents, _ := os.ReadDir(out); len(ents) != 0 {
			t.Errorf("%v: left behind %v", tc.sig, ents)
		}
		b, err := os.ReadFile(events)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		last := lines[len(lines)-1]
		if !strings.Contains(last, `"event":"run.state"`) || !strings.Contains(last, `"state":"aborted"`) {
			t.Errorf("%v: last event %s, want the aborted run state", tc.sig, last)
		}
	}
}
