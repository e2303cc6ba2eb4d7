package commands

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestHostileCorpusCLI runs `stella-export verify` on every file of the
// generated hostile corpus (testdata/hostile, see EXPECTED.tsv there) as a
// user would: the exit code, one error line on stderr naming the file and
// the reason, and on stdout nothing (a refused archive) or the report (a
// bundle that fails verification); with --json, a JSON error object or a
// JSON report with ok false.
func TestHostileCorpusCLI(t *testing.T) {
	dir := "../../testdata/hostile"
	f, err := os.Open(filepath.Join(dir, "EXPECTED.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 3 || cols[0] == "file" {
			continue
		}
		n++
		file, want, substr := cols[0], cols[1], cols[2]
		code, err := strconv.Atoi(want)
		if err != nil {
			t.Fatalf("EXPECTED.tsv: bad code %q", want)
		}
		t.Run(file, func(t *testing.T) {
			path := filepath.Join(dir, file)
			getenv := func(string) string { return "" }
			var stdout, stderr bytes.Buffer
			got := run(context.Background(), []string{"verify", path}, nil, &stdout, &stderr, getenv)
			if got != code {
				t.Fatalf("exit %d, want %d; stderr: %s", got, code, stderr.String())
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if len(lines) == 2 && strings.HasPrefix(lines[1], "stella-export: hint: ") {
				lines = lines[:1]
			}
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "stella-export: verify: "+path+": ") || !strings.Contains(lines[0], substr) {
				t.Fatalf("stderr %q: want one line naming %s and containing %q", stderr.String(), path, substr)
			}
			switch code {
			case 1:
				if !strings.Contains(stdout.String(), "FAILED") && !strings.Contains(stdout.String(), "fail") {
					t.Fatalf("stdout %q: want the failing report", stdout.String())
				}
			default:
				if stdout.Len() != 0 {
					t.Fatalf("stdout %q, want nothing", stdout.String())
				}
			}
			stdout.Reset()
			stderr.Reset()
			if got := run(context.Background(), []string{"verify", "--json", path}, nil, &stdout, &stderr, getenv); got != code {
				t.Fatalf("--json: exit %d, want %d", got, code)
			}
			var obj map[string]any
			if err := json.Unmarshal(stdout.Bytes(), &obj); err != nil {
				t.Fatalf("--json stdout %q: %v", stdout.String(), err)
			}
			if code == 1 {
				if obj["ok"] != false {
					t.Fatalf("--json report %s: want ok false", stdout.String())
				}
			} else if obj["exit"] != float64(code) || obj["code"] == "" || !strings.Contains(obj["message"].(string), substr) {
				t.Fatalf("--json error %s", stdout.String())
			}
		})
	}
	if n < 40 {
		t.Fatalf("only %d hostile cases in EXPECTED.tsv", n)
	}
}
