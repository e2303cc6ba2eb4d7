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
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/tarball"
)

var update = flag.Bool("update", false, "rewrite golden files and testscript expectations")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"stella-export": func() {
			ctx, stop := SignalContext(context.Background(), os.Stderr)
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
		"rewrite":   cmdRewrite,
		"replace":   cmdReplace,
		"drop":      cmdDrop,
	}
	for name, fn := range emitCmds {
		cmds[name] = fn
	}
	for name, fn := range decryptCmds {
		cmds[name] = fn
	}
	for name, fn := range datasetCmds {
		cmds[name] = fn
	}
	for name, fn := range ociCmds {
		cmds[name] = fn
	}
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(e *testscript.Env) error {
			// No config from the machine running the tests.
			e.Setenv("XDG_CONFIG_HOME", e.WorkDir+"/.config")
			e.Setenv("HOME", e.WorkDir)
			td, err := filepath.Abs("../../testdata")
			if err != nil {
				return err
			}
			e.Setenv("TESTDATA", td)
			return nil
		},
		Cmds: cmds,
		Condition: func(cond string) (bool, error) {
			if cond == "registry" {
				return registryCondition()
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
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
	copyBundle(ts, args[0], args[1], args[2], false, func(data []byte) ([]byte, bool) {
		if len(data) == 0 {
			ts.Fatalf("tamper: %s is empty", args[2])
		}
		data[0] ^= 0x01
		return data, true
	})
}

// rewrite IN OUT ENTRY OLD NEW: copy a bundle replacing the first OLD with
// NEW in ENTRY, and re-seal checksums.txt (digests and root) so that only
// what a forger cannot redo (signatures, export.json's payloadRoot) can
// catch the change.
func cmdRewrite(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 5 {
		ts.Fatalf("usage: rewrite IN.tgz OUT.tgz ENTRY OLD NEW")
	}
	copyBundle(ts, args[0], args[1], args[2], true, func(data []byte) ([]byte, bool) {
		if !bytes.Contains(data, []byte(args[3])) {
			ts.Fatalf("rewrite: %s does not contain %q", args[2], args[3])
		}
		return bytes.Replace(data, []byte(args[3]), []byte(args[4]), 1), true
	})
}

// drop IN OUT ENTRY: copy a bundle without ENTRY, re-sealing checksums.txt.
func cmdDrop(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: drop IN.tgz OUT.tgz ENTRY")
	}
	copyBundle(ts, args[0], args[1], args[2], true, func([]byte) ([]byte, bool) { return nil, false })
}

// copyBundle copies bundle in to out, passing entry's data through edit
// (which may drop it); with reseal it rewrites checksums.txt to match.
func copyBundle(ts *testscript.TestScript, in, out, entry string, reseal bool, edit func([]byte) ([]byte, bool)) {
	f, err := os.Open(ts.MkAbs(in))
	ts.Check(err)
	defer f.Close()
	r, err := tarball.NewReader(f, tarball.Limits{})
	ts.Check(err)
	type ent struct {
		name string
		dir  bool
		data []byte
	}
	var ents []ent
	var sums []checksums.Entry
	found := false
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		ts.Check(err)
		if e.Dir {
			ents = append(ents, ent{name: e.Name, dir: true})
			continue
		}
		data, err := io.ReadAll(r)
		ts.Check(err)
		if e.Name == entry {
			found = true
			var keep bool
			if data, keep = edit(data); !keep {
				continue
			}
		}
		ents = append(ents, ent{name: e.Name, data: data})
		if e.Name != layout.Checksums {
			sums = append(sums, checksums.Entry{Path: e.Name, Digest: sha256.Sum256(data)})
		}
	}
	if !found {
		ts.Fatalf("no entry %s in %s", entry, in)
	}
	var cf *checksums.File
	if reseal {
		var err error
		cf, err = checksums.Build(sums)
		ts.Check(err)
	}
	var buf bytes.Buffer
	w, err := tarball.NewWriter(&buf, tarball.Options{ModTime: r.GzipModTime})
	ts.Check(err)
	for _, e := range ents {
		switch {
		case e.dir:
			ts.Check(w.Dir(e.name))
		case e.name == layout.Checksums && reseal:
			b := cf.Bytes()
			ts.Check(w.File(e.name, int64(len(b)), bytes.NewReader(b)))
		default:
			ts.Check(w.File(e.name, int64(len(e.data)), bytes.NewReader(e.data)))
		}
	}
	ts.Check(w.Close())
	ts.Check(os.WriteFile(ts.MkAbs(out), buf.Bytes(), 0o644))
}

// replace FILE OLD NEW: replace the first OLD in FILE with NEW.
func cmdReplace(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: replace FILE OLD NEW")
	}
	p := ts.MkAbs(args[0])
	b, err := os.ReadFile(p)
	ts.Check(err)
	if !bytes.Contains(b, []byte(args[1])) {
		ts.Fatalf("replace: %s does not contain %q", args[0], args[1])
	}
	ts.Check(os.WriteFile(p, bytes.Replace(b, []byte(args[1]), []byte(args[2]), 1), 0o644))
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
