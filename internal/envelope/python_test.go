package envelope

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// python returns a Python 3 that can import cryptography: /usr/bin/python3
// (Debian's python3-cryptography, which scripts/deps.sh installs) when it
// can, else python3 on PATH. Without one the test skips, unless CI=true,
// where it fails.
func python(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", "import cryptography").Run() == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3 with the cryptography package is required in CI (apt-get install -y python3-cryptography)")
	}
	t.Skip("no python3 that can import cryptography (apt-get install -y python3-cryptography)")
	return ""
}

func keyArg(k Key) string { return k.ID + ":" + hex.EncodeToString(k.Secret) }

// runScript runs testdata/decrypt_enc.py on data and returns its stdout and
// exit code.
func runScript(t *testing.T, py string, data []byte, keys ...Key) ([]byte, int) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "f.enc")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{filepath.Join("testdata", "decrypt_enc.py")}
	for _, k := range keys {
		args = append(args, "--key", keyArg(k))
	}
	cmd := exec.Command(py, append(args, file)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.Bytes(), 0
	case errors.As(err, &exit):
		t.Logf("decrypt_enc.py: exit %d: %s", exit.ExitCode(), bytes.TrimSpace(stderr.Bytes()))
		return stdout.Bytes(), exit.ExitCode()
	}
	t.Fatal(err)
	return nil, 0
}

// TestPythonDecryptor: the decryptor written from docs/encryption.md alone
// opens what NewWriter and Rewrap write and the committed vectors, and
// rejects altered files.
func TestPythonDecryptor(t *testing.T) {
	py := python(t)
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p := plaintext(n)
			got, code := runScript(t, py, encrypt(t, p, key1, "file"), key1)
			if code != 0 || !bytes.Equal(got, p) {
				t.Fatalf("exit %d, %d bytes, want exit 0 and the %d plaintext bytes", code, len(got), n)
			}
		})
	}
	t.Run("rewrapped", func(t *testing.T) {
		p := plaintext(2*ChunkSize + 7)
		var buf bytes.Buffer
		if err := Rewrap(bytes.NewReader(encrypt(t, p, key1, "file")), &buf, only(key1), key2, randFor("rewrap")); err != nil {
			t.Fatal(err)
		}
		if got, code := runScript(t, py, buf.Bytes(), key2); code != 0 || !bytes.Equal(got, p) {
			t.Fatalf("exit %d, %d bytes", code, len(got))
		}
	})
	t.Run("vectors", func(t *testing.T) {
		for _, v := range readVectors(t) {
			data, err := os.ReadFile(filepath.Join("testdata", v.File))
			if err != nil {
				t.Fatal(err)
			}
			if got, code := runScript(t, py, data, vectorKey()); code != 0 || !bytes.Equal(got, plaintext(v.Size)) {
				t.Errorf("%s: exit %d, %d bytes", v.File, code, len(got))
			}
		}
	})

	p := plaintext(tamperSize)
	data := encrypt(t, p, key1, "file")
	hlen := 82 + len(key1.ID)
	check := func(t *testing.T, d []byte, keys ...Key) {
		t.Helper()
		got, code := runScript(t, py, d, keys...)
		if code != 1 {
			t.Fatalf("exit %d, want 1 (rejected)", code)
		}
		if len(got)%ChunkSize != 0 || !bytes.Equal(got, p[:len(got)]) {
			t.Fatalf("wrote %d bytes that are not whole authenticated chunks", len(got))
		}
	}
	for _, c := range tamperCases {
		t.Run(c.name, func(t *testing.T) { check(t, c.edit(t, bytes.Clone(data), hlen), key1) })
	}
	// Keys for the key ids that flips make, so that the script gets as far
	// as the wrap's authentication.
	flipped := Key{ID: "`" + key1.ID[1:], Secret: key1.Secret}        // key id byte 0: 'a' ^ 1
	shorter := Key{ID: key1.ID[:len(key1.ID)-1], Secret: key1.Secret} // key id length 13 ^ 1
	for _, f := range []struct {
		field string
		at    int
	}{
		{"magic", 0}, {"magic", 7}, {"version", 8}, {"chunk size", 10}, {"nonce prefix", 13}, {"nonce prefix", 19},
		{"key id length", 21}, {"key id", 22}, {"wrap nonce", 35}, {"wrapped key", 50}, {"wrap tag", hlen - 1},
	} {
		t.Run(fmt.Sprintf("flip %s byte %d", f.field, f.at), func(t *testing.T) {
			d := bytes.Clone(data)
			d[f.at] ^= 1
			check(t, d, key1, flipped, shorter)
		})
	}
	t.Run("wrong master key", func(t *testing.T) { check(t, data, Key{ID: key1.ID, Secret: key2.Secret}) })
}
