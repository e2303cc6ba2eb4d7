package decrypt_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/decrypt"
	"github.com/stella-ops/stella-export/internal/decrypt/decrypttest"
	"github.com/stella-ops/stella-export/internal/envelope"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/tarball"
)

var master = envelope.Key{ID: "alias/test", Secret: bytes.Repeat([]byte{7}, 32)}

func lookup(id string) (envelope.Key, error) {
	if id != master.ID {
		return envelope.Key{}, exitcode.WithCode(exitcode.IO, errors.New("no key "+id))
	}
	return master, nil
}

func ageKeys(t *testing.T) (age.Recipient, decrypt.Keys) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient(), decrypt.Keys{Identities: []age.Identity{id}}
}

func seal(t *testing.T, s decrypttest.Sealer, plain []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := s.Seal(&b, bytes.NewReader(plain)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func plaintext(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// leftovers lists what is in dir but the names given.
func leftovers(t *testing.T, dir string, keep ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !slices.Contains(keep, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestFileRoundTrip(t *testing.T) {
	rcpt, ageK := ageKeys(t)
	for _, tc := range []struct {
		name string
		s    decrypttest.Sealer
		keys decrypt.Keys
	}{
		{"x.json.enc", decrypttest.Sealer{Key: &master}, decrypt.Keys{Lookup: lookup}},
		{"x.json.age", decrypttest.Sealer{Recipients: []age.Recipient{rcpt}}, ageK},
		{"no-suffix-envelope", decrypttest.Sealer{Key: &master}, decrypt.Keys{Lookup: lookup}},
		{"no-suffix-age", decrypttest.Sealer{Recipients: []age.Recipient{rcpt}}, ageK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			plain := plaintext(3*envelope.ChunkSize + 5)
			in := filepath.Join(dir, tc.name)
			os.WriteFile(in, seal(t, tc.s, plain), 0o600)
			out := filepath.Join(dir, "out")
			res, err := decrypt.File(context.Background(), in, out, false, tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, plain) || res.Size != int64(len(plain)) {
				t.Fatalf("decrypted %d bytes, want the %d of the plaintext", len(got), len(plain))
			}
			if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
				t.Errorf("mode %o, want 600", st.Mode().Perm())
			}
		})
	}
}

// TestFileTamper: every alteration of an envelope or age file is exit 1,
// and leaves no output and no temporary file.
func TestFileTamper(t *testing.T) {
	plain := plaintext(3*envelope.ChunkSize + 100)
	env := seal(t, decrypttest.Sealer{Key: &master}, plain)
	other := seal(t, decrypttest.Sealer{Key: &master}, plain)
	hlen := 22 + len(master.ID) + 60
	sealed := envelope.ChunkSize + envelope.TagSize
	chunk := func(b []byte, i int) []byte { return b[hlen+i*sealed : min(len(b), hlen+(i+1)*sealed)] }
	flip := func(b []byte, i int) []byte { c := slices.Clone(b); c[i] ^= 1; return c }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	rcpt, ageK := ageKeys(t)
	ag := seal(t, decrypttest.Sealer{Recipients: []age.Recipient{rcpt}}, plain)
	_, wrongAge := ageKeys(t)

	for _, tc := range []struct {
		name string
		file []byte
		keys decrypt.Keys
		want string
	}{
		{"envelope magic", flip(env, 0), decrypt.Keys{Lookup: lookup}, "header at byte 0"},
		{"envelope nonce prefix", flip(env, 14), decrypt.Keys{Lookup: lookup}, "does not unwrap"},
		{"envelope wrapped key", flip(env, hlen-1), decrypt.Keys{Lookup: lookup}, "does not unwrap"},
		{"envelope chunk 1", flip(env, hlen+sealed+10), decrypt.Keys{Lookup: lookup}, "chunk 1 at byte"},
		{"envelope last chunk dropped", env[:hlen+3*sealed], decrypt.Keys{Lookup: lookup}, "last chunk is missing"},
		{"envelope chunks swapped", cat(env[:hlen], chunk(env, 1), chunk(env, 0), env[hlen+2*sealed:]), decrypt.Keys{Lookup: lookup}, "chunk 0"},
		{"envelope chunk appended", cat(env, chunk(env, 3)), decrypt.Keys{Lookup: lookup}, "chunk 3"},
		{"envelope another file's header", cat(other[:hlen], env[hlen:]), decrypt.Keys{Lookup: lookup}, "chunk 0"},
		{"envelope truncated header", env[:30], decrypt.Keys{Lookup: lookup}, "ends within the header"},
		{"age intro", flip(ag, 0), ageK, "age"},
		{"age header", flip(ag, 40), ageK, "age"},
		{"age payload", flip(ag, len(ag)-20), ageK, "age"},
		{"age truncated", ag[:len(ag)-17], ageK, "age"},
		{"age wrong identity", ag, wrongAge, "no identity matches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			name := "x.enc"
			if strings.HasPrefix(tc.name, "age") {
				name = "x.age"
			}
			in := filepath.Join(dir, name)
			os.WriteFile(in, tc.file, 0o600)
			_, err := decrypt.File(context.Background(), in, filepath.Join(dir, "out"), false, tc.keys)
			if code := exitcode.For(err); code != exitcode.Verify {
				t.Fatalf("exit %d (%v), want 1", code, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), in) {
				t.Errorf("error %q does not name the file and %q", err, tc.want)
			}
			if l := leftovers(t, dir, name); len(l) > 0 {
				t.Errorf("left behind %v", l)
			}
		})
	}
}

func TestFileMissingKey(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "x.enc")
	os.WriteFile(in, seal(t, decrypttest.Sealer{Key: &master}, []byte("x")), 0o600)
	for _, keys := range []decrypt.Keys{{}, {Lookup: func(string) (envelope.Key, error) {
		return envelope.Key{}, exitcode.WithCode(exitcode.IO, errors.New("no such key"))
	}}} {
		_, err := decrypt.File(context.Background(), in, filepath.Join(dir, "out"), false, keys)
		if exitcode.For(err) != exitcode.IO {
			t.Errorf("exit %d (%v), want 4", exitcode.For(err), err)
		}
	}
	if l := leftovers(t, dir, "x.enc"); len(l) > 0 {
		t.Errorf("left behind %v", l)
	}
}

// tree writes files (name -> content) below dir.
func tree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for n, c := range files {
		p := filepath.Join(dir, filepath.FromSlash(n))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// read lists the files below dir with their content.
func read(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !e.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	return out
}

var export = map[string]string{
	"export.json":                  `{"exportId":"e1","profile":"mirror:full"}` + "\n",
	"data/raw/a.json":              `{"id":"A"}` + "\n",
	"data/raw/b/c.json":            strings.Repeat("c", 200000),
	"data/empty.txt":               "",
	"indexes/advisories.json":      "[]\n",
	"manifests/mirror.json":        "{}\n",
	"manifests/other.enc.d/x.json": "clear\n",
}

func inData(n string) bool { return strings.HasPrefix(n, "data/") }

func sealers(t *testing.T) map[string]struct {
	s    decrypttest.Sealer
	keys decrypt.Keys
} {
	rcpt, ageK := ageKeys(t)
	return map[string]struct {
		s    decrypttest.Sealer
		keys decrypt.Keys
	}{
		"envelope": {decrypttest.Sealer{Key: &master}, decrypt.Keys{Lookup: lookup}},
		"age":      {decrypttest.Sealer{Recipients: []age.Recipient{rcpt}}, ageK},
	}
}

// packageDir makes a bundle of the directory's files.
func packageDir(t *testing.T, dir string) []byte {
	t.Helper()
	var srcs []bundle.Source
	for n, c := range read(t, dir) {
		data := []byte(c)
		if n == "export.json" {
			continue
		}
		srcs = append(srcs, bundle.Source{Name: n, Size: int64(len(data)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }})
	}
	var buf bytes.Buffer
	render := func(bundle.Summary) (bundle.Docs, error) {
		return bundle.Docs{Manifest: []byte(export["export.json"]), Readme: []byte("# r\n")}, nil
	}
	if _, err := bundle.Write(context.Background(), &buf, bundle.List(srcs), render, bundle.Options{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestTreeRoundTrip: a directory and a bundle decrypt to the plaintext
// export: every encrypted file at its name with its content (mode 0600),
// the clear files as they were, no ciphertext and no plaintext manifest.
func TestTreeRoundTrip(t *testing.T) {
	for mode, sk := range sealers(t) {
		t.Run(mode, func(t *testing.T) {
			base := t.TempDir()
			src := filepath.Join(base, "export")
			tree(t, src, export)
			man, err := decrypttest.EncryptDir(src, sk.s, inData)
			if err != nil {
				t.Fatal(err)
			}
			if len(man.Files) != 3 {
				t.Fatalf("encrypted %d files, want 3", len(man.Files))
			}
			out := filepath.Join(base, "plain")
			res, err := decrypt.Dir(context.Background(), src, out, sk.keys)
			if err != nil {
				t.Fatal(err)
			}
			if res.Decrypted != 3 || res.Clear != 4 || res.Mode != mode {
				t.Errorf("result %+v", res)
			}
			if got := read(t, out); !equal(got, export) {
				t.Errorf("directory decrypted to %v", keys(got))
			}
			st, _ := os.Stat(filepath.Join(out, "data/raw/a.json"))
			if st.Mode().Perm() != 0o600 {
				t.Errorf("plaintext mode %o, want 600", st.Mode().Perm())
			}

			raw := packageDir(t, src)
			bout := filepath.Join(base, "from-bundle")
			res, err = decrypt.Bundle(context.Background(), bytes.NewReader(raw), "b.tgz", bout, sk.keys, tarball.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Decrypted != 3 {
				t.Errorf("bundle: decrypted %d files, want 3", res.Decrypted)
			}
			got := read(t, bout)
			for _, gen := range []string{"README.md", "checksums.txt", "verify-export.sh"} {
				if _, ok := got[gen]; !ok {
					t.Errorf("bundle: no %s in the output", gen)
				}
				delete(got, gen)
			}
			if !equal(got, export) {
				t.Errorf("bundle decrypted to %v", keys(got))
			}
			if l := leftovers(t, base, "export", "plain", "from-bundle"); len(l) > 0 {
				t.Errorf("left behind %v", l)
			}
		})
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestTreeFailures: a tampered, missing or mismatching encrypted file fails
// (exit 1) and leaves no output directory and no staging directory.
func TestTreeFailures(t *testing.T) {
	sk := sealers(t)["envelope"]
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, dir string, man []byte)
		code int
		want string
	}{
		{"flipped chunk", func(t *testing.T, dir string, _ []byte) {
			p := filepath.Join(dir, "data/raw/b/c.json.enc")
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 1
			os.WriteFile(p, b, 0o600)
		}, 1, ": data/raw/b/c.json.enc: chunk 3 at byte"},
		{"missing file", func(t *testing.T, dir string, _ []byte) {
			os.Remove(filepath.Join(dir, "data/raw/a.json.enc"))
		}, 1, "data/raw/a.json.enc: listed in manifests/plaintext.json.enc, missing"},
		{"swapped files", func(t *testing.T, dir string, _ []byte) {
			a, b := filepath.Join(dir, "data/raw/a.json.enc"), filepath.Join(dir, "data/empty.txt.enc")
			os.Rename(a, a+".x")
			os.Rename(b, a)
			os.Rename(a+".x", b)
		}, 1, ": data/empty.txt.enc: the plaintext is 11 bytes, manifests/plaintext.json.enc says 0"},
		{"manifest digest", func(t *testing.T, dir string, man []byte) {
			m := bytes.Replace(man, []byte(`"sha256":"`), []byte(`"sha256":"00`), 1)
			i := bytes.Index(m, []byte(`"sha256":"00`)) + len(`"sha256":"`) + 64
			m = append(m[:i], m[i+2:]...)
			f, _ := os.Create(filepath.Join(dir, "manifests/plaintext.json.enc"))
			sk.s.Seal(f, bytes.NewReader(m))
			f.Close()
		}, 1, "SHA-256 is"},
		{"manifest flipped", func(t *testing.T, dir string, _ []byte) {
			p := filepath.Join(dir, "manifests/plaintext.json.enc")
			b, _ := os.ReadFile(p)
			b[len(b)-5] ^= 1
			os.WriteFile(p, b, 0o600)
		}, 1, ": manifests/plaintext.json.enc: chunk 0"},
		{"not encrypted", func(t *testing.T, dir string, _ []byte) {
			os.Remove(filepath.Join(dir, "manifests/plaintext.json.enc"))
		}, 3, "not an encrypted export"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			src := filepath.Join(base, "export")
			tree(t, src, export)
			man, err := decrypttest.EncryptDir(src, sk.s, inData)
			if err != nil {
				t.Fatal(err)
			}
			mb, err := canonjson.Marshal(man)
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(t, src, mb)
			out := filepath.Join(base, "plain")
			_, err = decrypt.Dir(context.Background(), src, out, sk.keys)
			if exitcode.For(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("exit %d: %v; want exit %d and %q", exitcode.For(err), err, tc.code, tc.want)
			}
			raw := packageDir(t, src)
			_, err = decrypt.Bundle(context.Background(), bytes.NewReader(raw), "b.tgz", out, sk.keys, tarball.Limits{})
			if exitcode.For(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("bundle: exit %d: %v; want exit %d and %q", exitcode.For(err), err, tc.code, tc.want)
			}
			if l := leftovers(t, base, "export"); len(l) > 0 {
				t.Errorf("left behind %v", l)
			}
		})
	}
}

// TestBundleRefused: a bundle that cannot be read to its end is refused
// before anything is decrypted, and leaves nothing behind.
func TestBundleRefused(t *testing.T) {
	sk := sealers(t)["envelope"]
	base := t.TempDir()
	src := filepath.Join(base, "export")
	tree(t, src, export)
	if _, err := decrypttest.EncryptDir(src, sk.s, inData); err != nil {
		t.Fatal(err)
	}
	raw := packageDir(t, src)
	_, err := decrypt.Bundle(context.Background(), bytes.NewReader(raw[:len(raw)-10]), "b.tgz", filepath.Join(base, "out"), sk.keys, tarball.Limits{})
	if code := exitcode.For(err); code != exitcode.Invalid {
		t.Fatalf("truncated bundle: exit %d (%v), want 3", code, err)
	}
	if l := leftovers(t, base, "export"); len(l) > 0 {
		t.Errorf("left behind %v", l)
	}
}
