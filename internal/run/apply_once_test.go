package run

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// deltaFixture exports full(A) to dir/full-a.tgz, full(B) to dir/full-b
// and delta(A→B) to dir/delta and dir/delta.tgz.
func deltaFixture(t *testing.T) (dir, fullA, delta string) {
	t.Helper()
	dir = t.TempDir()
	evA, evB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	evidenceA(t, filepath.Join(evA, "evidence"))
	evidenceB(t, filepath.Join(evB, "evidence"))
	fullA = filepath.Join(dir, "full-a.tgz")
	execute(t, contractFile(t, evA, "full.yaml", "mirror:full", "policy_snapshot: snap-1\n"), filepath.Join(dir, "full-a"), fullA)
	execute(t, contractFile(t, evB, "full.yaml", "mirror:full", "policy_snapshot: snap-1\n"), filepath.Join(dir, "full-b"), filepath.Join(dir, "full-b.tgz"))
	delta = filepath.Join(dir, "delta.tgz")
	execute(t, contractFile(t, evB, "delta.yaml", "mirror:delta", "policy_snapshot: snap-1\nbase: ../full-a.tgz\n"), filepath.Join(dir, "delta"), delta)
	return dir, fullA, delta
}

// countingOpener records how often each bundle is opened and how many of
// its bytes are read.
type countingOpener struct {
	opens map[string]int
	bytes map[string]int64
}

type countedFile struct {
	io.ReadCloser
	path string
	c    *countingOpener
}

func (f countedFile) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	f.c.bytes[f.path] += int64(n)
	return n, err
}

func (c *countingOpener) open(path string) (io.ReadCloser, error) {
	c.opens[path]++
	f, err := openBundle(path)
	if err != nil {
		return nil, err
	}
	return countedFile{ReadCloser: f, path: path, c: c}, nil
}

// TestApplyDeltaReadsOnce: applying a delta reads the delta and the base
// bundle once each, from the first byte to the last, and no more: the
// manifests, the tree and the digests all come from the verifying pass.
func TestApplyDeltaReadsOnce(t *testing.T) {
	dir, fullA, delta := deltaFixture(t)

	c := &countingOpener{opens: map[string]int{}, bytes: map[string]int64{}}
	applied := filepath.Join(dir, "applied")
	if _, err := applyDelta(context.Background(), c.open, delta, fullA, applied, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{delta, fullA} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if c.opens[p] != 1 || c.bytes[p] != st.Size() {
			t.Errorf("%s: opened %d times, %d bytes read; want once, its %d bytes", filepath.Base(p), c.opens[p], c.bytes[p], st.Size())
		}
	}
	// The tree is full(B)'s, as TestDeltaReproducesFull checks in detail.
	want := listTree(t, filepath.Join(dir, "full-b"), "export.json", "provenance.json")
	got := listTree(t, applied)
	if len(got) != len(want) {
		t.Errorf("applied %d files, full(B) has %d", len(got), len(want))
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s differs from full(B)", p)
		}
	}
}

// TestApplyDeltaChecksMirrorClaims: the applied tree is compared, by the
// digests verify checked in both bundles, with the delta's mirror.json; a
// sealed delta whose mirror.json misstates a digest, leaves a file out or
// lists one that no bundle carries is refused (exit 1), nothing written.
func TestApplyDeltaChecksMirrorClaims(t *testing.T) {
	dir, fullA, _ := deltaFixture(t)
	b, err := os.ReadFile(filepath.Join(dir, "delta", "manifests", "mirror.json"))
	if err != nil {
		t.Fatal(err)
	}
	man := string(b)
	// The first file of the list, with its digest: `{"path":"…","sha256":"sha256:…","size":…}`.
	i := strings.Index(man, `{"path":"`)
	j := i + strings.Index(man[i:], "}") + 1
	first := man[i:j]
	p := first[len(`{"path":"`):strings.Index(first, `","sha256"`)]
	k := strings.Index(first, `"sha256":"sha256:`) + len(`"sha256":"sha256:`)
	for _, tc := range []struct{ name, old, new, want string }{
		{"wrong digest", first, first[:k] + strings.Repeat("0", 64) + first[k+64:], "applied tree: " + p + ": SHA-256 sha256:"},
		{"unlisted file", first + ",", "", "applied tree: " + p + " is not in manifests/mirror.json"},
		{"phantom file", first, first + `,{"path":"data/raw/vex/acme/phantom.json","sha256":"sha256:` + strings.Repeat("1", 64) + `","size":1}`,
			"applied tree: 1 of the "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(man, tc.old) {
				t.Fatalf("%q not in mirror.json", tc.old)
			}
			evil := t.TempDir()
			if err := os.CopyFS(evil, os.DirFS(filepath.Join(dir, "delta"))); err != nil {
				t.Fatal(err)
			}
			os.Remove(filepath.Join(evil, "export.json"))
			os.Remove(filepath.Join(evil, "provenance.json"))
			write(t, evil, "manifests/mirror.json", strings.Replace(man, tc.old, tc.new, 1))
			var buf bytes.Buffer
			if _, err := bundle.WriteDir(context.Background(), &buf, bundle.DirConfig{Dir: evil, Profile: "mirror:delta", ExportID: "evil"}); err != nil {
				t.Fatal(err)
			}
			evilTgz := filepath.Join(t.TempDir(), "evil.tgz")
			if err := os.WriteFile(evilTgz, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "applied")
			_, err := ApplyDelta(context.Background(), evilTgz, fullA, out, false)
			if exitcode.For(err) != exitcode.Verify || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("exit %d (%v), want exit %d and %q", exitcode.For(err), err, exitcode.Verify, tc.want)
			}
			left, _ := os.ReadDir(filepath.Dir(out))
			if len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}
