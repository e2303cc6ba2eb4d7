package commands

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLongTokens: an id, URI or digest flag far longer than any real one is
// refused by its length (exit 2), with a message that names the flag and
// the limit but does not repeat the value.
func TestLongTokens(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(in, "a.txt"), []byte("a\n"), 0o644)
	long := strings.Repeat("a", 1<<20)
	portable := []string{"package", "--portable", filepath.Join(dir, "p.tgz"), "-o", filepath.Join(dir, "out"),
		"--bundle-id", "b-1", "--export-id", "e-1", "--tenant", "acme"}
	with := func(args []string, flag string) []string {
		out := append([]string{}, args...)
		for i, a := range out {
			if a == flag {
				out[i+1] = long
				return out
			}
		}
		return append(out, flag, long)
	}
	for _, tc := range []struct {
		flag string
		args []string
	}{
		{"--export-id", []string{"package", in, "-o", filepath.Join(dir, "x.tgz"), "--export-id", long}},
		{"--bundle-id", with(portable, "--bundle-id")},
		{"--export-id", with(portable, "--export-id")},
		{"--tenant", with(portable, "--tenant")},
		{"--source-uri", with(portable, "--source-uri")},
		{"--expect-sha256", with(portable, "--expect-sha256")},
		{"--artifact-uri", []string{"emit", filepath.Join(dir, "e.tgz"), "--outbox", filepath.Join(dir, "ob"), "--artifact-uri", long}},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
		msg := stderr.String()
		want := tc.flag + ": 1048576 bytes, longer than the 4 KiB allowed"
		if code != 2 || !strings.Contains(msg, want) || len(msg) > 300 {
			t.Errorf("%s %s: exit %d, stderr %.300q, want exit 2 and %q", tc.args[0], tc.flag, code, msg, want)
		}
	}
}
