package commands

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeCommand starts `serve` on a free loopback port, downloads a
// bundle with curl in two parts (curl -r, then curl -C -) and checks the
// SHA-256, then cancels the context (what SIGINT does) and expects a
// graceful exit 0.
func TestServeCommand(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	dir := t.TempDir()
	in := filepath.Join(t.TempDir(), "in")
	os.MkdirAll(in, 0o755)
	payload := strings.Repeat("stella-export serve test payload\n", 20000)
	os.WriteFile(filepath.Join(in, "data.txt"), []byte(payload), 0o644)
	bundle := filepath.Join(dir, "exports", "b.tgz")
	os.MkdirAll(filepath.Dir(bundle), 0o755)
	var stderr strings.Builder
	if code := Main(context.Background(), []string{"package", in, "-o", bundle, "--export-id", "exp-serve"}, nil, io.Discard, &stderr); code != 0 {
		t.Fatalf("package: exit %d: %s", code, stderr.String())
	}
	whole, _ := os.ReadFile(bundle)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", dir, "--listen", "127.0.0.1:0"}, nil, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no URL printed: %v", err)
	}
	go io.Copy(io.Discard, pr)
	base, _, _ := strings.Cut(line, " ")
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(base, "/exports") {
		t.Fatalf("printed %q", line)
	}
	url := base + "/exp-serve/download"
	out := filepath.Join(t.TempDir(), "got.tgz")
	if b, err := exec.Command("curl", "-sSf", "-r", "0-999", "-o", out, url).CombinedOutput(); err != nil {
		t.Fatalf("curl -r: %v %s", err, b)
	}
	if b, err := exec.Command("curl", "-sSf", "-C", "-", "-o", out, url).CombinedOutput(); err != nil {
		t.Fatalf("curl -C -: %v %s", err, b)
	}
	got, _ := os.ReadFile(out)
	if sum(got) != sum(whole) {
		t.Errorf("resumed download: SHA-256 %s, want %s", sum(got), sum(whole))
	}
	hdr, err := exec.Command("curl", "-sSf", "-r", "0-99", "-D", "-", "-o", "/dev/null", url).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"HTTP/1.1 206", "Content-Range: bytes 0-99/", "X-Export-Digest: sha256:" + sum(whole), "Etag: \"" + sum(whole) + "\""} {
		if !strings.Contains(string(hdr), want) {
			t.Errorf("headers of curl -r 0-99 lack %q:\n%s", want, hdr)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve stopped with exit %d, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10 s of cancellation")
	}
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
