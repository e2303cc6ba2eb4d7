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
