package run

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

func TestCheckTarget(t *testing.T) {
	ours := `{"adapters":[],"format":"stella-export/bundle/v1","profile":"json:raw"}`
	mirror := `{"files":[{"path":"data/raw/a.json","sha256":"x","size":1}],"format":"stella-export/mirror/v1","tenants":["acme"]}`
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // "" = replaceable
	}{
		{"export", func(t *testing.T, d string) {
			write(t, d, "export.json", ours)
			write(t, d, "provenance.json", "{}")
			write(t, d, "data/raw/a.jsonl.zst", "")
		}, ""},
		{"applied mirror tree", func(t *testing.T, d string) {
			write(t, d, "manifests/mirror.json", mirror)
			write(t, d, "data/raw/a.json", "{}")
		}, ""},
		{"empty", func(t *testing.T, d string) {}, "no export.json or manifests/mirror.json"},
		{"foreign export.json", func(t *testing.T, d string) {
			write(t, d, "export.json", `{"format":"something/else"}`)
		}, "is not a stella-export export.json"},
		{"export.json not JSON", func(t *testing.T, d string) { write(t, d, "export.json", "hello") }, "is not a stella-export export.json"},
		{"format deep inside", func(t *testing.T, d string) {
			write(t, d, "export.json", `{"x":{"format":"stella-export/bundle/v1"}}`)
		}, "is not a stella-export export.json"},
		{"extra file", func(t *testing.T, d string) {
			write(t, d, "export.json", ours)
			write(t, d, "notes.txt", "mine")
		}, "notes.txt is not part of an export"},
		{"mirror.json with provenance but no export.json", func(t *testing.T, d string) {
			write(t, d, "manifests/mirror.json", mirror)
			write(t, d, "provenance.json", "{}")
		}, "no export.json"},
		{"export.json a symbolic link", func(t *testing.T, d string) {
			write(t, d, "../elsewhere.json", ours)
			if err := os.Symlink("../elsewhere.json", filepath.Join(d, "export.json")); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link"},
		{"export.json a FIFO", func(t *testing.T, d string) {
			if err := syscall.Mkfifo(filepath.Join(d, "export.json"), 0o644); err != nil {
				t.Skip(err)
			}
		}, "FIFO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dir)
			err := checkTarget(dir, true, nil)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want == "":
				return
			case err == nil:
				t.Fatalf("accepted, want %q", tt.want)
			case !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q, want %q", err, tt.want)
			}
			var re *ReplaceError
			if !errors.As(err, &re) || exitcode.For(err) != exitcode.Conflict {
				t.Fatalf("error %v: want a *ReplaceError (exit 5)", err)
			}
			if err := checkTarget(dir, false, nil); exitcode.For(err) != exitcode.Conflict {
				t.Fatalf("without force: %v", err)
			}
		})
	}
}

func TestHolds(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a/b/c/doc.json", "{}")
	if err := os.Symlink(filepath.Join(root, "a", "b"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		dir, p string
		want   bool
	}{
		{"a", "a/b/c/doc.json", true},
		{"a/b", "a/b", true},
		{"a/b/c", "a/b", false},
		{"a/b", "link/c", true}, // reached through a link
		{"a", "a2", false},
	} {
		if got := holds(filepath.Join(root, tt.dir), filepath.Join(root, tt.p)); got != tt.want {
			t.Errorf("holds(%s, %s) = %v, want %v", tt.dir, tt.p, got, tt.want)
		}
	}
}
