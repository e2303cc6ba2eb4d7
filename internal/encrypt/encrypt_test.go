package encrypt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/envelope"
	"github.com/stella-ops/stella-export/internal/plaintext"
)

// TestSealer: covered files are staged encrypted under NAME.enc, a file
// removed after staging (as mirror:delta does) leaves the plaintext
// manifest and provenance's list, the plaintext manifest decrypts to the
// plaintext digests sorted by name, and provenance lists every encrypted
// file with its wrapped key, sorted.
func TestSealer(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "stage")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stage := adapters.NewStage(ctx, dir, 0)
	defer stage.Close()
	key := envelope.Key{ID: "alias/t", Secret: bytes.Repeat([]byte{7}, 32)}
	s := New(ctx, &Config{Mode: contract.EncryptEnvelope, Scope: contract.ScopeData, Key: key, Seed: []byte("seed")}, stage)
	defer s.Close()
	stage.Sealer = s
	files := map[string]string{"data/b.json": "bee", "data/a.b": "ab", "data/a": "a", "manifests/m.json": "clear", "data/gone": "x"}
	for name, body := range files {
		if err := stage.WriteFile(name, []byte(body), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := stage.Remove("data/gone.enc"); err != nil {
		t.Fatal(err)
	}
	me, pe, err := s.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if me.Files != 3 || me.KeyID != "alias/t" || me.PlaintextManifest != "manifests/plaintext.json.enc" {
		t.Errorf("export.json encryption %+v", me)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "manifests", "m.json")); err != nil || string(b) != "clear" {
		t.Errorf("manifests/m.json: %q %v", b, err)
	}
	var names []string
	for f, err := range pe.Files {
		if err != nil {
			t.Fatal(err)
		}
		if len(f.WrappedKey) != 80 {
			t.Errorf("%s: wrapped key %q", f.Name, f.WrappedKey)
		}
		names = append(names, f.Name)
	}
	want := []string{"data/a.b.enc", "data/a.enc", "data/b.json.enc", "manifests/plaintext.json.enc"}
	if !equal(names, want) {
		t.Errorf("provenance files %v, want %v", names, want)
	}
	f, err := os.Open(filepath.Join(dir, "manifests", "plaintext.json.enc"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := envelope.NewReader(f, func(string) (envelope.Key, error) { return key, nil })
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	// What run writes is what decrypt reads: the one strict parser.
	m, err := plaintext.Parse(b, plaintext.SuffixEnvelope)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range m.Files {
		sum := sha256.Sum256([]byte(files[e.Name]))
		if e.Encrypted != e.Name+".enc" || e.SHA256 != hex.EncodeToString(sum[:]) || e.Size != int64(len(files[e.Name])) {
			t.Errorf("entry %+v", e)
		}
		got = append(got, e.Name)
	}
	if m.Format != plaintext.Format || !equal(got, []string{"data/a", "data/a.b", "data/b.json"}) {
		t.Errorf("plaintext manifest %s", b)
	}
}

func equal(a, b []string) bool { return slices.Equal(a, b) }
