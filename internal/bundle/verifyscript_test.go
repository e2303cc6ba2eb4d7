package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/checksums"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/merkle"
)

// The tests in this file run verify-export.sh (VerifyScript) with real
// shells and real tools, the way an auditor would, and compare what it says
// with the Go implementation of checksums.txt and the Merkle root.

const specVectorRoot = "sha256:bfa01b440e811b7b436d08b97ad46663118bf5ed8417fc10902a4c6dde91c7a3"

// scriptEnv is one way of running the script: a shell and the PATH it sees.
type scriptEnv struct {
	name  string
	shell []string // absolute shell argv prefix
	path  string   // PATH for the script
}

// minimalPath is the PATH of the system-tools environments
// (docs/format.md#verify-export-sh: the script must not need anything else).
const minimalPath = "/usr/bin:/bin"

// toolDir makes a directory of symlinks named after tools; target(name)
// returns what each one points to ("" leaves it out).
func toolDir(t *testing.T, names []string, target func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		tgt := target(n)
		if tgt == "" {
			continue
		}
		if err := os.Symlink(tgt, filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var scriptTools = []string{"awk", "cat", "find", "sort", "od", "tail", "mktemp", "mkdir", "rm", "tar", "gzip", "sha256sum"}

// scriptEnvs lists dash and busybox sh with the system's tools and, unless
// -short, busybox sh with busybox's own applets only and dash with
// `shasum -a 256` instead of sha256sum. busybox may be skipped locally when
// not installed, never in CI.
func scriptEnvs(t *testing.T) []scriptEnv {
	t.Helper()
	var envs []scriptEnv
	dash, err := exec.LookPath("dash")
	if err != nil {
		missingTool(t, "dash")
	} else {
		envs = append(envs, scriptEnv{"dash", []string{dash}, minimalPath})
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		missingTool(t, "busybox")
	} else {
		envs = append(envs, scriptEnv{"busybox", []string{busybox, "sh"}, minimalPath})
		if testing.Short() {
			return envs
		}
		bbdir := toolDir(t, scriptTools, func(string) string { return busybox })
		envs = append(envs, scriptEnv{"busybox-applets", []string{busybox, "sh"}, bbdir})
	}
	if dash != "" {
		if shasum, err := exec.LookPath("shasum"); err == nil {
			names := append(slices.Clone(scriptTools), "shasum")
			dir := toolDir(t, names, func(n string) string {
				switch n {
				case "sha256sum":
					return ""
				case "shasum":
					return shasum
				}
				p, err := exec.LookPath(n)
				if err != nil {
					t.Fatalf("%s not found", n)
				}
				return p
			})
			envs = append(envs, scriptEnv{"dash-shasum", []string{dash}, dir})
		}
	}
	if len(envs) == 0 {
		t.Skip("no shell to test with")
	}
	return envs
}

func missingTool(t *testing.T, name string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI (apt-get install -y %s)", name, name)
	}
	t.Logf("%s not installed; its runs are skipped", name)
}

type scriptResult struct {
	stdout, stderr string
	code           int
}

func (r scriptResult) lastLine() string {
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	return lines[len(lines)-1]
}

func (r scriptResult) hasLine(line string) bool {
	return slices.Contains(strings.Split(r.stdout, "\n"), line)
}

func (r scriptResult) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// run runs `<shell> script args...` in cwd with a minimal environment:
// PATH, LC_ALL=C, TMPDIR, plus extra.
func (e scriptEnv) run(t *testing.T, cwd, tmpdir, script string, args []string, extra ...string) scriptResult {
	t.Helper()
	argv := append(slices.Clone(e.shell), script)
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = cwd
	cmd.Env = append([]string{"PATH=" + e.path, "LC_ALL=C", "TMPDIR=" + tmpdir}, extra...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: %v", e.name, err)
		}
		code = ee.ExitCode()
	}
	return scriptResult{out.String(), errb.String(), code}
}

// writeTree writes files (slash paths) under dir.
func writeTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// buildChecksums returns the checksums.txt of files, built by package
// checksums.
func buildChecksums(t *testing.T, files map[string][]byte) *checksums.File {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names) // byte-wise
	entries := make([]checksums.Entry, len(names))
	for i, n := range names {
		entries[i] = checksums.Entry{Path: n, Digest: digest.Sum(files[n])}
	}
	f, err := checksums.Build(entries)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// makeBundle writes files plus checksums.txt into a new directory and
// returns the directory and the parsed checksums. When withScript is true,
// the real script is one of the files, as verify-export.sh.
func makeBundle(t *testing.T, files map[string][]byte, withScript bool) (string, *checksums.File) {
	t.Helper()
	files = cloneFiles(files)
	if withScript {
		files["verify-export.sh"] = VerifyScript
	}
	dir := t.TempDir()
	writeTree(t, dir, files)
	f := buildChecksums(t, files)
	writeFile(t, filepath.Join(dir, "checksums.txt"), f.Bytes())
	return dir, f
}

func cloneFiles(files map[string][]byte) map[string][]byte {
	c := make(map[string][]byte, len(files)+1)
	for k, v := range files {
		c[k] = v
	}
	return c
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// outsideScript writes a copy of the script into its own directory (no
// checksums.txt next to it) and returns its path.
func outsideScript(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "verify-export.sh")
	writeFile(t, p, VerifyScript)
	return p
}

// inBundle runs `sh verify-export.sh` inside dir, as the bundle's README says.
func (e scriptEnv) inBundle(t *testing.T, dir string, extra ...string) scriptResult {
	t.Helper()
	return e.run(t, dir, t.TempDir(), "verify-export.sh", nil, extra...)
}

func wantOK(t *testing.T, e scriptEnv, r scriptResult, root string) {
	t.Helper()
	if r.code != 0 || r.lastLine() != "OK root "+root {
		t.Fatalf("%s: want exit 0 and last line %q, got %s", e.name, "OK root "+root, r)
	}
}

func wantFail(t *testing.T, e scriptEnv, r scriptResult, lines ...string) {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("%s: want exit 1, got %s", e.name, r)
	}
	if strings.HasPrefix(r.lastLine(), "OK") {
		t.Fatalf("%s: last line says OK on failure: %s", e.name, r)
	}
	for _, l := range lines {
		if !r.hasLine(l) {
			t.Fatalf("%s: want a line %q, got %s", e.name, l, r)
		}
	}
}

var specVectorFiles = map[string][]byte{
	"README.md":        []byte("# hello\n"),
	"export.json":      []byte("{\"a\":1}\n"),
	"verify-export.sh": []byte("#!/bin/sh\n"),
}

func TestScriptEmbedded(t *testing.T) {
	disk := readFile(t, "verify-export.sh")
	if !bytes.Equal(disk, VerifyScript) {
		t.Fatal("VerifyScript differs from verify-export.sh")
	}
	if !bytes.HasPrefix(VerifyScript, []byte("#!/bin/sh\n")) {
		t.Fatal("script does not start with #!/bin/sh")
	}
	for _, bashism := range []string{"[[", "pipefail", "local ", "$'", "<<<", "source "} {
		if bytes.Contains(VerifyScript, []byte(bashism)) {
			t.Errorf("script contains %q", bashism)
		}
	}
	if dash, err := exec.LookPath("dash"); err == nil {
		if out, err := exec.Command(dash, "-n", "verify-export.sh").CombinedOutput(); err != nil {
			t.Fatalf("dash -n: %v\n%s", err, out)
		}
	}
}

// The test vector of docs/format.md#test-vector, with the script run from outside the
// bundle directory (the vector's verify-export.sh is not the real script).
func TestScriptSpecVector(t *testing.T) {
	dir, f := makeBundle(t, specVectorFiles, false)
	if f.Root.String() != specVectorRoot {
		t.Fatalf("Go root %s, docs/format.md says %s", f.Root, specVectorRoot)
	}
	script := outsideScript(t)
	for _, e := range scriptEnvs(t) {
		wantOK(t, e, e.run(t, dir, t.TempDir(), script, nil), specVectorRoot)                   // cwd
		wantOK(t, e, e.run(t, t.TempDir(), t.TempDir(), script, []string{dir}), specVectorRoot) // argument
	}
}

// Names that stress quoting in sh, awk, xargs-like batching and sha256sum.
var namePool = []string{
	"README.md", "export.json", "a", "b c.txt", "spaces  two", " leading", "trailing ",
	"dir one/b c.json", "dir one/nested dir/z", "ünïcödé/файл.txt", "日本語.txt", "-dash",
	"#hash", "it's", "quote\"d", "a*b?[c]", "$HOME", "`x`;y|z&", "10", "9", "sub/checksums.txt",
	"sub/deeper/x", "percent%s%d", "tab-free\u00a0nbsp", "Z", "~tilde",
}

func randomFiles(r *rand.Rand, n int) map[string][]byte {
	files := map[string][]byte{}
	pool := slices.Clone(namePool)
	r.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("gen/%03d file.bin", i)
		if i < len(pool) {
			name = pool[i]
		}
		data := make([]byte, 1+r.IntN(300))
		for j := range data {
			data[j] = byte(r.UintN(256))
		}
		files[name] = data
	}
	return files
}

// Random trees of 1..17 files (the script itself is one of them) pass, and
// the printed root is the Go root.
func TestScriptRandomTrees(t *testing.T) {
	type tree struct {
		dir  string
		root string
	}
	var trees []tree
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 17; n++ {
		dir, f := makeBundle(t, randomFiles(r, n-1), true)
		if len(f.Entries) != n {
			t.Fatalf("n=%d: %d entries", n, len(f.Entries))
		}
		trees = append(trees, tree{dir, f.Root.String()})
	}
	for _, e := range scriptEnvs(t) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			for _, tr := range trees {
				wantOK(t, e, e.inBundle(t, tr.dir), tr.root)
			}
		})
	}
}

// Tree sizes around powers of two and the 256-name batch, including the
// empty tree (root = SHA-256 of nothing).
func TestScriptMerkleSizes(t *testing.T) {
	script := outsideScript(t)
	r := rand.New(rand.NewPCG(3, 4))
	sizes := []int{0, 18, 19, 20, 31, 32, 33, 64, 255, 256, 257, 600}
	dirs := make([]string, len(sizes))
	roots := make([]digest.SHA256, len(sizes))
	for i, n := range sizes {
		var f *checksums.File
		dirs[i], f = makeBundle(t, randomFiles(r, n), false)
		roots[i] = f.Root
	}
	if roots[0] != merkle.EmptyRoot() {
		t.Fatal("empty root")
	}
	for _, e := range scriptEnvs(t) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			for i, n := range sizes {
				if n > 64 && e.name != "dash" && e.name != "busybox-applets" {
					continue // the large trees once per shell are enough
				}
				r := e.run(t, t.TempDir(), t.TempDir(), script, []string{dirs[i]})
				if r.code != 0 || r.lastLine() != "OK root "+roots[i].String() {
					t.Fatalf("n=%d: want %s, got %s", n, roots[i], r)
				}
			}
		})
	}
}

// Changing one byte of any file fails and names that file.
func TestScriptFlippedByte(t *testing.T) {
	files := randomFiles(rand.New(rand.NewPCG(5, 6)), 8)
	files["README.md"] = []byte("# hello\n")
	files["export.json"] = []byte("{\"a\":1}\n")
	files["dir one/nested dir/z"] = []byte("deep\n")
	for _, e := range scriptEnvs(t) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			dir, f := makeBundle(t, files, true)
			script := outsideScript(t) // the bundle's own copy is flipped too
			for i, ent := range f.Entries {
				p := filepath.Join(dir, filepath.FromSlash(ent.Path))
				orig := readFile(t, p)
				mod := slices.Clone(orig)
				mod[i%len(mod)] ^= 0x20
				writeFile(t, p, mod)
				r := e.run(t, dir, t.TempDir(), script, nil)
				wantFail(t, e, r, "FAILED "+ent.Path, "FAILED root "+f.Root.String())
				if strings.Count(r.stdout, "FAILED ") != 2 {
					t.Fatalf("flipping %q should fail exactly one file: %s", ent.Path, r)
				}
				writeFile(t, p, orig)
			}
			wantOK(t, e, e.inBundle(t, dir), f.Root.String())
		})
	}
}

func TestScriptDamagedBundle(t *testing.T) {
	envs := scriptEnvs(t)
	files := map[string][]byte{
		"README.md":           []byte("# hello\n"),
		"export.json":         []byte("{\"a\":1}\n"),
		"payload/a file.json": []byte("{}\n"),
		"payload/ünï.txt":     []byte("x\n"),
	}
	check := func(t *testing.T, damage func(dir string, f *checksums.File), want func(e scriptEnv, r scriptResult, f *checksums.File)) {
		t.Helper()
		dir, f := makeBundle(t, files, true)
		damage(dir, f)
		for _, e := range envs {
			want(e, e.run(t, dir, t.TempDir(), outsideScript(t), nil), f)
		}
	}
	sumsPath := func(dir string) string { return filepath.Join(dir, "checksums.txt") }
	editLine := func(dir string, i int, edit func(string) string) {
		lines := strings.SplitAfter(string(readFile(t, sumsPath(dir))), "\n")
		lines[i] = edit(strings.TrimSuffix(lines[i], "\n")) + "\n"
		writeFile(t, sumsPath(dir), []byte(strings.Join(lines, "")))
	}
	flipHex := func(s string, at int) string {
		c := byte('0')
		if s[at] == '0' {
			c = '1'
		}
		return s[:at] + string(c) + s[at+1:]
	}

	t.Run("root line altered", func(t *testing.T) {
		check(t, func(dir string, f *checksums.File) {
			editLine(dir, 0, func(s string) string { return flipHex(s, 20) })
		}, func(e scriptEnv, r scriptResult, f *checksums.File) {
			stated := flipHex("root "+f.Root.String(), 20)[len("root sha256:"):]
			wantFail(t, e, r, "ROOT MISMATCH: checksums.txt says sha256:"+stated+", lines give "+f.Root.String(),
				"FAILED root sha256:"+stated)
			if strings.Contains(r.stdout, "FAILED export.json") {
				t.Fatalf("%s: files are intact: %s", e.name, r)
			}
		})
	})
	t.Run("digest line altered", func(t *testing.T) {
		check(t, func(dir string, f *checksums.File) {
			editLine(dir, 2, func(s string) string { return flipHex(s, 5) })
		}, func(e scriptEnv, r scriptResult, f *checksums.File) {
			wantFail(t, e, r, "FAILED export.json")
			if !strings.Contains(r.stdout, "ROOT MISMATCH") {
				t.Fatalf("%s: the lines no longer give the root: %s", e.name, r)
			}
		})
	})
	t.Run("digest line altered, root rebuilt", func(t *testing.T) {
		check(t, func(dir string, f *checksums.File) {
			ents := slices.Clone(f.Entries)
			ents[1].Digest[0] ^= 1 // export.json
			g, err := checksums.Build(ents)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, sumsPath(dir), g.Bytes())
		}, func(e scriptEnv, r scriptResult, f *checksums.File) {
			wantFail(t, e, r, "FAILED export.json")
			if strings.Contains(r.stdout, "ROOT MISMATCH") {
				t.Fatalf("%s: root is consistent: %s", e.name, r)
			}
		})
	})
	t.Run("missing file", func(t *testing.T) {
		check(t, func(dir string, f *checksums.File) {
			if err := os.Remove(filepath.Join(dir, "payload", "ünï.txt")); err != nil {
				t.Fatal(err)
			}
		}, func(e scriptEnv, r scriptResult, f *checksums.File) {
			wantFail(t, e, r, "MISSING payload/ünï.txt", "FAILED root "+f.Root.String())
		})
	})
	t.Run("extra files", func(t *testing.T) {
		check(t, func(dir string, f *checksums.File) {
			writeTree(t, dir, map[string][]byte{"new file.txt": nil, "payload/more/x y": []byte("1")})
			if err := os.Symlink("README.md", filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
		}, func(e scriptEnv, r scriptResult, f *checksums.File) {
			wantFail(t, e, r, "EXTRA new file.txt", "EXTRA payload/more/x y", "EXTRA link")
		})
	})
	t.Run("listed symlink", func(t *testing.T) {
		check(t, func(dir string, f *checksums.File) {
			p := filepath.Join(dir, "payload", "a file.json")
			writeFile(t, filepath.Join(dir, "elsewhere"), readFile(t, p))
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../elsewhere", p); err != nil {
				t.Fatal(err)
			}
		}, func(e scriptEnv, r scriptResult, f *checksums.File) {
			wantFail(t, e, r, "FAILED payload/a file.json (not a regular file)", "EXTRA elsewhere")
		})
	})
	t.Run("no checksums.txt", func(t *testing.T) {
		check(t, func(dir string, f *checksums.File) {
			if err := os.Remove(sumsPath(dir)); err != nil {
				t.Fatal(err)
			}
		}, func(e scriptEnv, r scriptResult, f *checksums.File) {
			wantFail(t, e, r, "MISSING checksums.txt")
		})
	})

	hexA := strings.Repeat("a", 64)
	malformed := []struct {
		name string
		edit func(lines []string) []string
		line int // the line the message must name
	}{
		{"uppercase root", func(l []string) []string { l[0] = strings.ToUpper(l[0][:5]) + l[0][5:]; return l }, 1},
		{"uppercase hex root", func(l []string) []string { l[0] = l[0][:12] + strings.ToUpper(l[0][12:]); return l }, 1},
		{"short root", func(l []string) []string { l[0] = l[0][:70]; return l }, 1},
		{"one space", func(l []string) []string { l[2] = strings.Replace(l[2], "  ", " ", 1); return l }, 3},
		{"uppercase digest", func(l []string) []string { l[1] = strings.ToUpper(l[1][:64]) + l[1][64:]; return l }, 2},
		{"absolute path", func(l []string) []string { return append(l, hexA+"  /etc/passwd") }, 7},
		{"dotdot path", func(l []string) []string { return append(l, hexA+"  zz/../../etc/passwd") }, 7},
		{"dotdot alone", func(l []string) []string { return append(l, hexA+"  zz/..") }, 7},
		{"dot component", func(l []string) []string { return append(l, hexA+"  zz/./a") }, 7},
		{"unsorted", func(l []string) []string { l[1], l[2] = l[2], l[1]; return l }, 3},
		{"duplicate", func(l []string) []string { return append(l, l[len(l)-1]) }, 7},
		{"blank line", func(l []string) []string { return append(l, "") }, 7},
		{"CRLF", func(l []string) []string { l[3] += "\r"; return l }, 4},
		{"lists itself", func(l []string) []string {
			return append(l[:1], append([]string{hexA + "  checksums.txt"}, l[1:]...)...)
		}, 2},
	}
	for _, m := range malformed {
		t.Run("malformed "+m.name, func(t *testing.T) {
			check(t, func(dir string, f *checksums.File) {
				lines := strings.Split(strings.TrimSuffix(string(readFile(t, sumsPath(dir))), "\n"), "\n")
				writeFile(t, sumsPath(dir), []byte(strings.Join(m.edit(lines), "\n")+"\n"))
			}, func(e scriptEnv, r scriptResult, f *checksums.File) {
				wantFail(t, e, r)
				if !strings.Contains(r.stdout, fmt.Sprintf("checksums.txt line %d:", m.line)) {
					t.Fatalf("%s: want a message naming line %d, got %s", e.name, m.line, r)
				}
			})
		})
	}
	t.Run("no final LF", func(t *testing.T) {
		check(t, func(dir string, f *checksums.File) {
			b := readFile(t, sumsPath(dir))
			writeFile(t, sumsPath(dir), b[:len(b)-1])
		}, func(e scriptEnv, r scriptResult, f *checksums.File) {
			wantFail(t, e, r)
			if !strings.Contains(r.stdout, "no final LF") {
				t.Fatalf("%s: %s", e.name, r)
			}
		})
	})
}

func tarGz(t *testing.T, out string, args ...string) {
	t.Helper()
	argv := append([]string{"--format=pax", "-czf", out}, args...)
	if b, err := exec.Command("tar", argv...).CombinedOutput(); err != nil {
		t.Fatalf("tar %v: %v\n%s", argv, err, b)
	}
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("temporary files left in %s: %v", dir, ents)
	}
}

// `sh verify-export.sh b.tgz` from another directory extracts to a
// temporary directory, checks it and removes it.
func TestScriptTgz(t *testing.T) {
	envs := scriptEnvs(t)
	files := randomFiles(rand.New(rand.NewPCG(7, 8)), 12)
	dir, f := makeBundle(t, files, true)
	arch := t.TempDir()
	good := filepath.Join(arch, "b.tgz")
	tarGz(t, good, "-C", dir, ".")
	wrapped := filepath.Join(arch, "wrapped.tar.gz") // one top-level directory
	tarGz(t, wrapped, "-C", filepath.Dir(dir), filepath.Base(dir))

	name := f.Entries[3].Path
	p := filepath.Join(dir, filepath.FromSlash(name))
	orig := readFile(t, p)
	writeFile(t, p, append(slices.Clone(orig), '!'))
	bad := filepath.Join(arch, "bad.tgz")
	tarGz(t, bad, "-C", dir, ".")
	writeFile(t, p, orig)

	corrupt := filepath.Join(arch, "corrupt.tgz")
	b := readFile(t, good)
	writeFile(t, corrupt, b[:len(b)/2])

	script := filepath.Join(dir, "verify-export.sh")
	for _, e := range envs {
		tmp := t.TempDir()
		cwd := t.TempDir()
		wantOK(t, e, e.run(t, cwd, tmp, script, []string{good}), f.Root.String())
		emptyDir(t, tmp)
		wantOK(t, e, e.run(t, cwd, tmp, script, []string{"../" + filepath.Base(arch) + "/b.tgz"}), f.Root.String()) // relative
		emptyDir(t, tmp)
		wantOK(t, e, e.run(t, cwd, tmp, script, []string{wrapped}), f.Root.String())
		emptyDir(t, tmp)
		wantFail(t, e, e.run(t, cwd, tmp, script, []string{bad}), "FAILED "+name)
		emptyDir(t, tmp)
		wantFail(t, e, e.run(t, cwd, tmp, script, []string{corrupt}))
		emptyDir(t, tmp)
		emptyDir(t, cwd)
	}
}

// The script needs nothing but PATH=/usr/bin:/bin and LC_ALL=C: no HOME,
// no TMPDIR, no locale; and exits 2 when its tools are missing.
func TestScriptMinimalEnv(t *testing.T) {
	dir, f := makeBundle(t, randomFiles(rand.New(rand.NewPCG(9, 10)), 6), true)
	for _, e := range scriptEnvs(t) {
		if e.path != minimalPath {
			continue
		}
		argv := append(slices.Clone(e.shell), "verify-export.sh")
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
		out, err := cmd.Output()
		r := scriptResult{stdout: string(out)}
		if err != nil {
			t.Fatalf("%s: %v: %s", e.name, err, r)
		}
		wantOK(t, e, r, f.Root.String())

		// No tools at all: exit 2 with a message.
		e.path = t.TempDir()
		r = e.inBundle(t, dir)
		if r.code != 2 || !strings.Contains(r.stderr, "required tool not found") {
			t.Fatalf("%s without tools: want exit 2, got %s", e.name, r)
		}
	}
}

// Inner bundles are checked with `stella-export verify` when it is on PATH;
// otherwise a NOTE says they were checked by digest only.
func TestScriptInnerBundles(t *testing.T) {
	for _, d := range filepath.SplitList(minimalPath) {
		if _, err := os.Stat(filepath.Join(d, "stella-export")); err == nil {
			t.Skipf("stella-export is installed in %s", d)
		}
	}
	files := map[string][]byte{
		"README.md":                  []byte("# hello\n"),
		"export.json":                []byte("{}\n"),
		"portable-bundle-v1.tgz":     []byte("not really gzip"),
		"nested/other bundle.tar.gz": []byte("also not"),
	}
	dir, f := makeBundle(t, files, true)
	for _, e := range scriptEnvs(t) {
		r := e.inBundle(t, dir)
		wantOK(t, e, r, f.Root.String())
		if !r.hasLine("NOTE 2 inner bundle(s) checked by digest only: stella-export is not on PATH") {
			t.Fatalf("%s: want the digest-only note: %s", e.name, r)
		}

		for _, rc := range []int{0, 1} {
			bin := t.TempDir()
			log := filepath.Join(bin, "log")
			fake := fmt.Sprintf("#!/bin/sh\nprintf '%%s|' \"$@\" >>'%s'\necho >>'%s'\nexit %d\n", log, log, rc)
			if err := os.WriteFile(filepath.Join(bin, "stella-export"), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			e2 := e
			e2.path = bin + ":" + e.path
			r := e2.inBundle(t, dir)
			calls := string(readFile(t, log))
			if calls != "verify|./nested/other bundle.tar.gz|\nverify|./portable-bundle-v1.tgz|\n" {
				t.Fatalf("%s: stella-export calls:\n%s", e.name, calls)
			}
			if strings.Contains(r.stdout, "NOTE") {
				t.Fatalf("%s: no note when stella-export is on PATH: %s", e.name, r)
			}
			if rc == 0 {
				wantOK(t, e, r, f.Root.String())
			} else {
				wantFail(t, e, r,
					"FAILED nested/other bundle.tar.gz (stella-export verify exited 1)",
					"FAILED portable-bundle-v1.tgz (stella-export verify exited 1)",
					"FAILED root "+f.Root.String())
			}
		}
	}
}

func TestScriptUsage(t *testing.T) {
	dir, _ := makeBundle(t, specVectorFiles, false)
	notTgz := filepath.Join(dir, "README.md")
	script := outsideScript(t)
	for _, e := range scriptEnvs(t) {
		for _, c := range []struct {
			args []string
			code int
		}{
			{[]string{"-h"}, 0},
			{[]string{"--bogus"}, 2},
			{[]string{filepath.Join(dir, "no such.tgz")}, 2},
			{[]string{notTgz}, 2},
			{[]string{dir, dir}, 2},
		} {
			r := e.run(t, t.TempDir(), t.TempDir(), script, c.args)
			if r.code != c.code {
				t.Fatalf("%s %q: want exit %d, got %s", e.name, c.args, c.code, r)
			}
		}
	}
}
