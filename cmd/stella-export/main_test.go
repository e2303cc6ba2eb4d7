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
		// The temporary output appears once the command is running with its
		// signal handlers installed.
		msg := interrupt(t, cmd, tc.sig, tc.code, 30*time.Second, "no temporary output appeared", func() bool {
			ents, _ := os.ReadDir(out)
			return len(ents) > 0
		})
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
		// Wait until the adapter has started writing into the staging
		// directory, then interrupt; exactly one staging directory exists.
		msg := interrupt(t, cmd, tc.sig, tc.code, 60*time.Second, "the adapter never started", func() bool {
			b, _ := os.ReadFile(events)
			if !bytes.Contains(b, []byte(`"adapter.start"`)) {
				return false
			}
			if ents, _ := os.ReadDir(out); len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), ".stella-export-stage-") {
				cmd.Process.Kill()
				t.Fatalf("%v: expected one staging directory while running, found %v", tc.sig, ents)
			}
			return true
		})
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

// interrupt starts cmd, waits (up to timeout) until ready holds, sends sig,
// checks that cmd exits with code and returns its stderr.
func interrupt(t *testing.T, cmd *exec.Cmd, sig syscall.Signal, code int, timeout time.Duration, never string, ready func() bool) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for !ready() {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%s; stderr: %s", never, stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(sig)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != code {
		t.Fatalf("%v: exit %v, want %d; stderr: %s", sig, err, code, stderr.String())
	}
	return stderr.String()
}

// TestSignalStuckRead sends one SIGTERM (and, separately, two SIGINTs) to
// `verify -` blocked reading a pipe that never delivers data: a read that
// cannot be cancelled. The process must exit 143 by itself ForceExitAfter
// (5 s) after the signal, or 130 at once on the second signal, with one
// line on stderr.
func TestSignalStuckRead(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	for _, tc := range []struct {
		name  string
		sigs  []syscall.Signal
		code  int
		match string
	}{
		{"one sigterm", []syscall.Signal{syscall.SIGTERM}, 143, "stella-export: terminated: still running 5s after the signal; forced exit\n"},
		{"two sigints", []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, 130, "stella-export: interrupted: second signal; forced exit\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close() // held open: the read never ends by itself
			cmd := exec.Command(bin, "verify", "-")
			cmd.Stdin = pr
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pr.Close()
			time.Sleep(300 * time.Millisecond) // let it install its handlers and block
			start := time.Now()
			for _, s := range tc.sigs {
				cmd.Process.Signal(s)
				time.Sleep(50 * time.Millisecond)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("still running 20s after %v; stderr: %s", tc.sigs, stderr.String())
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
				t.Fatalf("exit %v, want %d; stderr: %s", err, tc.code, stderr.String())
			}
			if got := stderr.String(); got != tc.match {
				t.Errorf("stderr %q, want %q", got, tc.match)
			}
			if len(tc.sigs) > 1 && time.Since(start) > 4*time.Second {
				t.Errorf("second signal: exited after %s, want at once", time.Since(start))
			}
		})
	}
}
