//go:build unix

package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestPasswordPrompt: with no password variable and a terminal on stdin,
// --generate-key asks twice without echoing, the key opens with that
// password, and mismatched entries are refused.
func TestPasswordPrompt(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	run := func(answers ...string) (string, error) {
		cmd := exec.Command(bin, "sign", "--generate-key", filepath.Join(dir, "k"))
		cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Skipf("no pseudo-terminal: %v", err)
		}
		defer ptmx.Close()
		cmd.Stdin, cmd.Stderr = tty, tty
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tty.Close()
		var seen lockedBuffer
		done := make(chan struct{})
		go func() { io.Copy(&seen, ptmx); close(done) }()
		for _, a := range answers {
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(seen.String(), "password") && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond)
			ptmx.Write([]byte(a + "\n"))
		}
		err = cmd.Wait()
		ptmx.Close()
		<-done
		return seen.String() + stdout.String(), err
	}

	out, err := run("s3cret-pw", "s3cret-pw")
	if err != nil {
		t.Fatalf("generate-key with prompt: %v\n%s", err, out)
	}
	if strings.Count(out, "Enter password for private key") != 2 {
		t.Fatalf("want two prompts:\n%s", out)
	}
	if strings.Contains(out, "s3cret-pw") {
		t.Fatalf("the password was echoed:\n%s", out)
	}
	// The key opens with that password.
	blob := filepath.Join(dir, "blob")
	os.WriteFile(blob, []byte("x"), 0o644)
	sign := exec.Command(bin, "sign", blob, "--key", filepath.Join(dir, "k.key"), "-q")
	sign.Env = []string{"HOME=" + dir, "STELLA_EXPORT_PASSWORD=s3cret-pw"}
	if b, err := sign.CombinedOutput(); err != nil {
		t.Fatalf("sign with the prompted password: %v\n%s", err, b)
	}

	os.Remove(filepath.Join(dir, "k.key"))
	os.Remove(filepath.Join(dir, "k.pub"))
	out, err = run("one", "two")
	if err == nil || !strings.Contains(out, "the passwords do not match") {
		t.Fatalf("mismatched passwords: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "k.key")); err == nil {
		t.Fatal("a key was written after mismatched passwords")
	}
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
