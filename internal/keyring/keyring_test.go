package keyring

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// counter is a deterministic "random" source: bytes start, start+1, ...
type counter struct{ b byte }

func (c *counter) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.b
		c.b++
	}
	return len(p), nil
}

func wantCode(t *testing.T, err error, code int, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want exit %d (%q)", code, substr)
	}
	if got := exitcode.For(err); got != code {
		t.Fatalf("exit %d, want %d: %v", got, code, err)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q does not contain %q", err, substr)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error has several lines: %q", err)
	}
}

func seq(start, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(start + i)
	}
	return b
}

func TestCreateRotateResolveLookup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ring")
	rnd := &counter{}
	info, err := Create(dir, "alias/prod", rnd)
	if err != nil {
		t.Fatal(err)
	}
	if info.Alias != "alias/prod" || info.Current != 1 || len(info.Versions) != 1 || info.Versions[0].KeyID != "alias/prod/v1" {
		t.Fatalf("info %+v", info)
	}
	// The file's bytes are the documented format, canonical JSON.
	path := filepath.Join(dir, "prod.json")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"alias":"alias/prod","current":1,"format":"stella-export/keyring/v1","versions":[{"key":"` +
		hex.EncodeToString(seq(0, 32)) + `","keyId":"alias/prod/v1","version":1}]}` + "\n"
	if string(got) != want {
		t.Fatalf("key file\n got %s\nwant %s", got, want)
	}
	for _, p := range []string{dir, path} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			t.Fatalf("%s: mode %04o", p, perm)
		}
	}

	_, err = Create(dir, "alias/prod", rnd)
	wantCode(t, err, exitcode.Conflict, "alias/prod already exists")

	info, err = Rotate(dir, "alias/prod", rnd)
	if err != nil {
		t.Fatal(err)
	}
	if info.Current != 2 || len(info.Versions) != 2 || info.Versions[1].KeyID != "alias/prod/v2" {
		t.Fatalf("after rotate %+v", info)
	}
	d := Dir(dir)
	k, err := d.Resolve("alias/prod")
	if err != nil {
		t.Fatal(err)
	}
	if k.ID != "alias/prod/v2" || !bytes.Equal(k.Secret, seq(32, 32)) {
		t.Fatalf("Resolve = %s %x", k.ID, k.Secret)
	}
	k, err = d.Lookup("alias/prod/v1")
	if err != nil {
		t.Fatal(err)
	}
	if k.ID != "alias/prod/v1" || !bytes.Equal(k.Secret, seq(0, 32)) {
		t.Fatalf("Lookup v1 = %s %x", k.ID, k.Secret)
	}
	_, err = d.Lookup("alias/prod/v3")
	wantCode(t, err, exitcode.IO, "versions 1 to 2")
	_, err = d.Lookup("alias/other/v1")
	wantCode(t, err, exitcode.IO, "no alias/other")
	_, err = d.Resolve("alias/other")
	wantCode(t, err, exitcode.IO, "keys create alias/other")
	_, err = Rotate(dir, "alias/other", rnd)
	wantCode(t, err, exitcode.IO, "no alias/other")
	for _, id := range []string{"alias/prod", "alias/prod/v0", "alias/prod/v01", "alias/prod/v", "prod/v1", "alias/prod/v1/x"} {
		_, err = d.Lookup(id)
		wantCode(t, err, exitcode.Invalid, "key id")
	}

	// No temporary or partial files remain; only the lock file and the key.
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != ".lock prod.json" {
		t.Fatalf("keyring holds %v", names)
	}
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	rnd := &counter{}
	for _, a := range []string{"alias/b", "alias/a.1", "alias/c_d-e"} {
		if _, err := Create(dir, a, rnd); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Rotate(dir, "alias/b", rnd); err != nil {
		t.Fatal(err)
	}
	// Other files are not aliases.
	os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "Upper.json"), []byte("x"), 0o644)
	list, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(list)
	want := `[{"alias":"alias/a.1","current":1,"versions":[{"version":1,"keyId":"alias/a.1/v1"}]},` +
		`{"alias":"alias/b","current":2,"versions":[{"version":1,"keyId":"alias/b/v1"},{"version":2,"keyId":"alias/b/v2"}]},` +
		`{"alias":"alias/c_d-e","current":1,"versions":[{"version":1,"keyId":"alias/c_d-e/v1"}]}]`
	if string(b) != want {
		t.Fatalf("List\n got %s\nwant %s", b, want)
	}
	empty := t.TempDir()
	if l, err := List(empty); err != nil || len(l) != 0 {
		t.Fatalf("empty keyring: %v %v", l, err)
	}
	_, err = List(filepath.Join(empty, "missing"))
	wantCode(t, err, exitcode.IO, "no such directory")
	_, err = List(filepath.Join(dir, "README"))
	wantCode(t, err, exitcode.Invalid, "not a directory")
}

func TestAliasRefs(t *testing.T) {
	dir := t.TempDir()
	for _, a := range []string{"", "prod", "alias/", "alias/Prod", "alias/.x", "alias/-x", "alias/a/b", "alias/" + strings.Repeat("a", 65), "alias/a b", "alias/../x", "/alias/x"} {
		_, err := Create(dir, a, &counter{})
		wantCode(t, err, exitcode.Invalid, "want alias/NAME")
	}
	if _, err := Create(dir, "alias/"+strings.Repeat("a", 64), &counter{}); err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{"awskms:///arn:aws:kms:eu-west-1:1:key/x", "gcpkms://projects/p/keys/k", "azurekms://v.vault.azure.net/k", "hashivault://transit/k", "pkcs11://slot"} {
		_, err := ParseAlias(uri)
		wantCode(t, err, exitcode.Invalid, "KMS keys are not supported by this build: a KMS would plug in as a keyring.Provider")
		_, err = Dir(dir).Resolve(uri)
		wantCode(t, err, exitcode.Invalid, "keyring.Provider")
		_, err = Dir(dir).Lookup(uri)
		wantCode(t, err, exitcode.Invalid, "keyring.Provider")
	}
}

// Key files readable or writable by group or others are refused, by every
// reader, with exit 4 and the fix.
func TestUnsafePermissions(t *testing.T) {
	dir := t.TempDir()
	if _, err := Create(dir, "alias/prod", &counter{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "prod.json")
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620, 0o602, 0o644} {
		os.Chmod(path, mode)
		_, err := Dir(dir).Resolve("alias/prod")
		wantCode(t, err, exitcode.IO, "chmod 600")
		var ue *UnsafeError
		if !errors.As(err, &ue) {
			t.Fatalf("not an *UnsafeError: %v", err)
		}
		_, err = Dir(dir).Lookup("alias/prod/v1")
		wantCode(t, err, exitcode.IO, "readable or writable by group or others")
		_, err = List(dir)
		wantCode(t, err, exitcode.IO, "chmod 600")
		_, err = Rotate(dir, "alias/prod", &counter{})
		wantCode(t, err, exitcode.IO, "chmod 600")
	}
	os.Chmod(path, 0o400)
	if _, err := Dir(dir).Resolve("alias/prod"); err != nil {
		t.Fatalf("0400: %v", err)
	}
}

// Hostile key files: each is refused (exit 3) naming the file and the field.
func TestHostileKeyFiles(t *testing.T) {
	k1 := hex.EncodeToString(seq(0, 32))
	k2 := hex.EncodeToString(seq(32, 32))
	v1 := `{"key":"` + k1 + `","keyId":"alias/x/v1","version":1}`
	v2 := `{"key":"` + k2 + `","keyId":"alias/x/v2","version":2}`
	head := `{"alias":"alias/x","current":%s,"format":"stella-export/keyring/v1","versions":[%s]}`
	f := func(cur, vs string) string { return strings.Replace(strings.Replace(head, "%s", cur, 1), "%s", vs, 1) }
	for _, tt := range []struct{ name, content, want string }{
		{"not json", "nope", "invalid character"},
		{"empty", "", "EOF"},
		{"unknown field", `{"alias":"alias/x","extra":1}`, `unknown field "extra"`},
		{"trailing", f("1", v1) + "{}", "data after the JSON object"},
		{"format", strings.Replace(f("1", v1), "keyring/v1", "keyring/v9", 1), `format "stella-export/keyring/v9"`},
		{"alias", strings.Replace(f("1", v1), `"alias/x"`, `"alias/y"`, 1), `alias "alias/y", want "alias/x"`},
		{"no versions", f("0", ""), "0 versions"},
		{"gap", f("2", v2), "versions[0]: version 2, want 1"},
		{"dup", f("2", v1+","+v1), "versions[1]: version 1, want 2"},
		{"key id", f("1", strings.Replace(v1, "alias/x/v1", "alias/y/v1", 1)), `keyId "alias/y/v1"`},
		{"short key", f("1", strings.Replace(v1, k1, k1[:62], 1)), "key: want 64 lower-case hex digits"},
		{"upper key", f("1", strings.Replace(v1, k1, strings.ToUpper(k1), 1)), "key: want 64"},
		{"non-hex key", f("1", strings.Replace(v1, k1, "zz"+k1[2:], 1)), "key: want 64"},
		{"current old", f("1", v1+","+v2), "current 1, want the last version, 2"},
		{"current big", f("3", v1+","+v2), "current 3"},
		{"float", f("1.5", v1), "cannot unmarshal"},
		{"too large", f("1", v1) + strings.Repeat(" ", 64<<10), "larger than 64 KiB"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "x.json"), []byte(tt.content), 0o600)
			_, err := Dir(dir).Resolve("alias/x")
			wantCode(t, err, exitcode.Invalid, tt.want)
			if !strings.Contains(err.Error(), filepath.Join(dir, "x.json")) {
				t.Fatalf("error does not name the file: %v", err)
			}
			if strings.Contains(err.Error(), k1) || strings.Contains(err.Error(), k2) {
				t.Fatalf("error shows a key: %v", err)
			}
		})
	}
}

// A symbolic link or a FIFO where a key file is expected is refused (exit
// 3) without following or blocking.
func TestSpecialKeyFiles(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "k.json")
	os.WriteFile(target, []byte("{}"), 0o600)
	os.Symlink(target, filepath.Join(dir, "link.json"))
	syscall.Mkfifo(filepath.Join(dir, "fifo.json"), 0o600)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := Dir(dir).Resolve("alias/link")
		wantCode(t, err, exitcode.Invalid, "symbolic link")
		_, err = Dir(dir).Resolve("alias/fifo")
		wantCode(t, err, exitcode.Invalid, "FIFO")
		_, err = List(dir)
		wantCode(t, err, exitcode.Invalid, "not a regular file")
		// Rotate never replaces a link (its target would stay, the link go).
		_, err = Rotate(dir, "alias/link", &counter{})
		wantCode(t, err, exitcode.Invalid, "symbolic link")
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("reading a FIFO key file blocked")
	}
	// A symbolic link planted as the lock file is not followed.
	lockDir := t.TempDir()
	os.Symlink(filepath.Join(lockDir, "elsewhere"), filepath.Join(lockDir, LockName))
	_, err := Create(lockDir, "alias/x", &counter{})
	wantCode(t, err, exitcode.Invalid, "symbolic link")
	if _, err := os.Lstat(filepath.Join(lockDir, "elsewhere")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the lock file's link target was created")
	}
}

// While another process changes the keyring, Create and Rotate refuse
// (exit 5) instead of losing a version.
func TestLocked(t *testing.T) {
	dir := t.TempDir()
	if _, err := Create(dir, "alias/x", &counter{}); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Rotate(dir, "alias/x", &counter{})
	wantCode(t, err, exitcode.Conflict, "being changed by another process")
	_, err = Create(dir, "alias/y", &counter{})
	wantCode(t, err, exitcode.Conflict, "being changed by another process")
	unlock()
	if _, err := Rotate(dir, "alias/x", &counter{}); err != nil {
		t.Fatal(err)
	}
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

// A failing random source leaves the keyring as it was.
func TestRandomFailure(t *testing.T) {
	dir := t.TempDir()
	if _, err := Create(dir, "alias/x", failing{}); err == nil || !strings.Contains(err.Error(), "no entropy") {
		t.Fatalf("Create: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a key file was written")
	}
	if _, err := Create(dir, "alias/x", &counter{}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "x.json"))
	if _, err := Rotate(dir, "alias/x", failing{}); err == nil {
		t.Fatal("Rotate without entropy succeeded")
	}
	after, _ := os.ReadFile(filepath.Join(dir, "x.json"))
	if !bytes.Equal(before, after) {
		t.Fatal("a failed rotation changed the key file")
	}
}

func TestMaxVersions(t *testing.T) {
	dir := t.TempDir()
	rnd := &counter{}
	if _, err := Create(dir, "alias/x", rnd); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= MaxVersions; i++ {
		if _, err := Rotate(dir, "alias/x", rnd); err != nil {
			t.Fatalf("rotation to v%d: %v", i, err)
		}
	}
	_, err := Rotate(dir, "alias/x", rnd)
	wantCode(t, err, exitcode.Conflict, "256 versions")
	k, err := Dir(dir).Lookup("alias/x/v256")
	if err != nil || k.ID != "alias/x/v256" {
		t.Fatalf("v256: %v %v", k.ID, err)
	}
}

func TestEnv(t *testing.T) {
	h := hex.EncodeToString(seq(7, 32))
	k, err := FromEnvHex("alias/prod", h)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID != "alias/prod" || !bytes.Equal(k.Secret, seq(7, 32)) {
		t.Fatalf("FromEnvHex = %s %x", k.ID, k.Secret)
	}
	if k, err := FromEnvHex("alias/prod", strings.ToUpper(h)); err != nil || !bytes.Equal(k.Secret, seq(7, 32)) {
		t.Fatalf("upper-case hex: %v", err)
	}
	for _, bad := range []string{"", h[:63], h[:62], h + "00", "zz" + h[2:], " " + h[1:], h[:63] + "\n"} {
		_, err := FromEnvHex("alias/prod", bad)
		wantCode(t, err, exitcode.Invalid, "STELLA_EXPORT_KMS_MASTER_KEY_HEX: want exactly 64 hex digits")
		if len(bad) > 8 && strings.Contains(err.Error(), bad[:8]) {
			t.Fatalf("error echoes the value: %v", err)
		}
	}
	_, err = FromEnvHex("awskms://x", h)
	wantCode(t, err, exitcode.Invalid, "keyring.Provider")
	e, err := NewEnv(h)
	if err != nil {
		t.Fatal(err)
	}
	k, err = e.Lookup("alias/other")
	if err != nil || k.ID != "alias/other" || !bytes.Equal(k.Secret, seq(7, 32)) {
		t.Fatalf("Lookup: %v %v", k.ID, err)
	}
	_, err = e.Lookup("alias/prod/v2")
	wantCode(t, err, exitcode.IO, "give the keyring")
	_, err = e.Lookup("nope")
	wantCode(t, err, exitcode.Invalid, "want alias/NAME")
	// Callers may scrub a returned secret without harming the provider.
	k.Secret[0] ^= 0xff
	if k2, _ := e.Resolve("alias/x"); !bytes.Equal(k2.Secret, seq(7, 32)) {
		t.Fatal("a returned secret aliases the provider's")
	}
}

var (
	_ Provider = Dir("")
	_ Provider = Env{}
)

// A keyring path that names a file is refused (exit 3) and left alone.
func TestKeyringIsAFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "file")
	os.WriteFile(p, []byte("data"), 0o600)
	_, err := Create(p, "alias/x", &counter{})
	wantCode(t, err, exitcode.Invalid, "is a regular file, not a directory")
	_, err = Rotate(p, "alias/x", &counter{})
	wantCode(t, err, exitcode.Invalid, "not a directory")
	_, err = Dir(p).Resolve("alias/x")
	wantCode(t, err, exitcode.Invalid, "not a directory")
	if b, _ := os.ReadFile(p); string(b) != "data" {
		t.Fatal("the file was changed")
	}
}

// FuzzParse: no key file makes parse panic, and one it accepts is exactly
// what store would write for it (canonical JSON), once re-encoded.
func FuzzParse(f *testing.F) {
	k := hex.EncodeToString(seq(0, 32))
	f.Add([]byte(`{"alias":"alias/x","current":1,"format":"stella-export/keyring/v1","versions":[{"key":"` + k + `","keyId":"alias/x/v1","version":1}]}`))
	f.Add([]byte(`{"alias":"alias/x","current":0,"versions":[]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		kf, err := parse("x.json", "x", data)
		if err != nil {
			if exitcode.For(err) != exitcode.Invalid {
				t.Fatalf("exit %d: %v", exitcode.For(err), err)
			}
			return
		}
		if kf.Current != len(kf.Versions) || kf.key(kf.Current).ID != KeyID("x", kf.Current) || len(kf.key(1).Secret) != KeySize {
			t.Fatalf("accepted an inconsistent file: %+v", kf)
		}
	})
}
