package commands

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

var ociCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"registry": cmdRegistry,
}

// registryBins are the real components the OCI scripts run against
// (Debian's docker-registry and skopeo; scripts/deps.sh installs them).
var registryBins = []string{"docker-registry", "skopeo"}

// registryCondition is the [registry] condition: both binaries are on
// PATH. Without them a script skips, except in CI (CI=true), where it fails.
func registryCondition() (bool, error) {
	for _, b := range registryBins {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("CI") == "true" {
				return false, fmt.Errorf("%s not found: CI needs docker-registry and skopeo (scripts/deps.sh)", b)
			}
			return false, nil
		}
	}
	return true, nil
}

// registry: start Debian's docker-registry (distribution v2.8) on a free
// loopback port with a temporary storage directory, wait until /v2/
// answers (at most 20 s) and set $REGISTRY to its host:port. It is killed
// when the script ends.
func cmdRegistry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: registry")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	addr := l.Addr().String()
	l.Close()
	dir := ts.MkAbs(".registry")
	ts.Check(os.MkdirAll(filepath.Join(dir, "data"), 0o755))
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	ts.Check(os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644))
	logf, err := os.Create(filepath.Join(dir, "log"))
	ts.Check(err)
	cmd := exec.Command("docker-registry", "serve", filepath.Join(dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	ts.Check(cmd.Start())
	ts.Defer(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("registry on %s did not answer within 20 s (log in %s)", addr, filepath.Join(dir, "log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.Setenv("REGISTRY", addr)
}
