package commands

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"
)

// Script commands of the emit*.txtar scripts.
var emitCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"copyrepo":  cmdCopyRepo,
	"keyenv":    cmdKeyEnv,
	"stdoutenv": cmdStdoutEnv,
	"receiver":  cmdReceiver,
	"reqenv":    cmdReqEnv,
	"deadport":  cmdDeadPort,
}

// copyrepo SRC DST: copy a file or directory of the repository (SRC
// relative to its root) to DST in the work directory.
func cmdCopyRepo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: copyrepo SRC DST")
	}
	src := filepath.Join("..", "..", filepath.FromSlash(args[0]))
	dst := ts.MkAbs(args[1])
	ts.Check(filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	}))
}

// keyenv VAR EXPORT_ID FILE: set VAR to the idempotency key of the export
// whose artifact is FILE, computed here from docs/format.md#notifications.
func cmdKeyEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: keyenv VAR EXPORT_ID FILE")
	}
	b, err := os.ReadFile(ts.MkAbs(args[2]))
	ts.Check(err)
	art := sha256.Sum256(b)
	key := sha256.Sum256([]byte("export.airgap.ready.v1\n" + args[1] + "\n" + hex.EncodeToString(art[:])))
	ts.Setenv(args[0], hex.EncodeToString(key[:]))
}

// stdoutenv VAR REGEXP: set VAR to the first group of REGEXP in the last
// command's stdout.
func cmdStdoutEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: stdoutenv VAR REGEXP")
	}
	m := regexp.MustCompile(`(?m)` + args[1]).FindStringSubmatch(ts.ReadFile("stdout"))
	if len(m) < 2 {
		ts.Fatalf("stdoutenv: no match for %s", args[1])
	}
	ts.Setenv(args[0], m[1])
}

// receiver NAME CODE: start a webhook receiver on loopback that answers
// every request with HTTP CODE and records request n as NAME/n.body,
// NAME/n.sent-at, NAME/n.signature, NAME/n.event-type, NAME/n.content-type;
// $NAME is its URL. It stops with the script.
func cmdReceiver(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: receiver NAME CODE")
	}
	code, err := strconv.Atoi(args[1])
	ts.Check(err)
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o755))
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		n++
		base := filepath.Join(dir, strconv.Itoa(n))
		mu.Unlock()
		os.WriteFile(base+".body", body, 0o644)
		for _, h := range []string{"X-Stella-Sent-At", "X-Stella-Signature", "X-Stella-Event-Type", "Content-Type"} {
			name := map[string]string{"X-Stella-Sent-At": "sent-at", "X-Stella-Signature": "signature",
				"X-Stella-Event-Type": "event-type", "Content-Type": "content-type"}[h]
			os.WriteFile(base+"."+name, []byte(r.Header.Get(h)), 0o644)
		}
		w.WriteHeader(code)
	}))
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.URL+"/hook")
}

// reqenv NAME N: set $SENT_AT and $SIGNATURE from request N of receiver NAME.
func cmdReqEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: reqenv NAME N")
	}
	base := filepath.Join(ts.MkAbs(args[0]), args[1])
	ts.Setenv("SENT_AT", ts.ReadFile(base+".sent-at"))
	ts.Setenv("SIGNATURE", ts.ReadFile(base+".signature"))
}

// deadport VAR: set VAR to an http URL on a loopback port nobody listens on.
func cmdDeadPort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: deadport VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	addr := ln.Addr().String()
	ts.Check(ln.Close())
	ts.Setenv(args[0], fmt.Sprintf("http://%s/hook", addr))
}
