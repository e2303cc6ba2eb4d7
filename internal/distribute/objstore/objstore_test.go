package objstore

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stella-ops/stella-export/internal/distribute/record"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

func staged(t *testing.T, root, content string) string {
	t.Helper()
	dir, _, err := Stage(root)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, BundleName)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPutWriteOnce(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	o, err := Put(ctx, root, "acme", "exp-1", "2026-01-01T00:00:00Z", staged(t, root, "bundle bytes"))
	if err != nil || o.Unchanged || !o.Recorded {
		t.Fatalf("first put: %+v, %v", o, err)
	}
	want := filepath.Join(root, "exports", "acme", "exp-1", "bundle.tgz")
	st, err := os.Stat(want)
	if err != nil || o.Path != want || st.Mode().Perm() != Mode {
		t.Fatalf("stored %s: %v, mode %v", o.Path, err, st.Mode())
	}
	o, err = Put(ctx, root, "acme", "exp-1", "2026-01-01T00:00:00Z", staged(t, root, "bundle bytes"))
	if err != nil || !o.Unchanged || o.Recorded {
		t.Fatalf("same bytes again: %+v, %v", o, err)
	}
	_, err = Put(ctx, root, "acme", "exp-1", "", staged(t, root, "other bytes"))
	if exitcode.For(err) != exitcode.Conflict {
		t.Fatalf("different bytes: %v, want exit 5", err)
	}
	if b, _ := os.ReadFile(want); string(b) != "bundle bytes" {
		t.Errorf("stored object changed: %q", b)
	}
	f, err := record.Read(filepath.Join(filepath.Dir(want), record.FileName))
	if err != nil || len(f.Distributions) != 1 || f.Distributions[0].Location != "exports/acme/exp-1/bundle.tgz" ||
		f.Distributions[0].SizeBytes != 12 || *f.Distributions[0].ExpiresAt != "2026-01-01T00:00:00Z" {
		t.Errorf("records: %+v, %v", f, err)
	}
	if _, err := Put(ctx, root, "../x", "exp-1", "", staged(t, root, "x")); exitcode.For(err) != exitcode.Invalid {
		t.Errorf("tenant ../x: %v, want exit 3", err)
	}
}
