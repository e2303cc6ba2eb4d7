package commands

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/stella-ops/stella-export/internal/tarball"
)

var update = flag.Bool("update", false, "rewrite golden files and testscript expectations")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"stella-export": func() {
			ctx, stop := SignalContext(context.Background())
			code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
			stop()
			os.Exit(code)
		},
	})
}

func TestScripts(t *testing.T) {
	cmds := map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"exits":     cmdExits,
		"tamper":    cmdTamper,
		"sha256env": cmdSHA256Env,
	}
	for name, fn := range emitCmds {
		cmds[name] = fn
	}
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(e *testscript.Env) error {
			// No config from the machine running the tests.
			e.Setenv("XDG_CONFIG_HOME", e.WorkDir+"/.config")
			e.Setenv("HOME", e.WorkDir)
			return nil
		},
		Cmds: cmds,
	})
}

// exits N cmd args...: run cmd and require exit code N exactly (testscript's
// '!' only says "non-zero").
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// tamper IN OUT ENTRY: copy a bundle, flipping the first byte of ENTRY's
// content; the archive itself stays well-formed.
func cmdTamper(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: tamper IN.tgz OUT.tgz ENTRY")
	}
	in, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	defer in.Close()
	r, err := tarball.NewReader(in, tarball.Limits{})
	ts.Check(err)
	var out bytes.Buffer
	w, err := tarball.NewWriter(&out, tarball.Options{ModTime: r.GzipModTime})
	ts.Check(err)
	found := false
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		ts.Check(err)
		if e.Dir {
			ts.Check(w.Dir(e.Name))
			continue
		}
		data, err := io.ReadAll(r)
		ts.Check(err)
		if e.Name == args[2] {
			if len(data) == 0 {
				ts.Fatalf("tamper: %s is empty", e.Name)
			}
			data[0] ^= 0x01
			found = true
		}
		ts.Check(w.File(e.Name, int64(len(data)), bytes.NewReader(data)))
	}
	ts.Check(w.Close())
	if !found {
		ts.Fatalf("tamper: no entry %s", args[2])
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), out.Bytes(), 0o644))
}

// sha256env VAR FILE: set VAR to the hex SHA-256 of FILE.
func cmdSHA256Env(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: sha256env VAR FILE")
	}
	b, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	sum := sha256.Sum256(b)
	ts.Setenv(args[0], hex.EncodeToString(sum[:]))
}

var _ = fmt.Sprint
var _ = strings.TrimSpace
