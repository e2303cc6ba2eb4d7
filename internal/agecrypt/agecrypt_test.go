package agecrypt

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/failio"
)

// A fixed identity made by age-keygen 1.1.1, and its fingerprint from
// printf %s "$pub" | sha256sum.
const (
	vecIdentity    = "AGE-SECRET-KEY-1HK0JUE7SGT2V0DKEGTC853X545WGP0HV5TWM5XQ93055RYGY7QDQMR737H"
	vecRecipient   = "age1rvk06jrk7lr8ndsd0z8j3x84e0775ee803zew0899yuj0ug3699qs26575"
	vecFingerprint = "sha256:4cfe3596473e96597746c5efd0afc2a9757814890a29e783a0d539ab1bfadf75"
)

const chunk = 64 << 10

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

func plaintext(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>16)
	}
	return b
}

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
	return p
}

func encrypt(t *testing.T, rcpts []age.Recipient, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := Encrypt(&buf, rcpts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decrypt(ids []age.Identity, file []byte) ([]byte, error) {
	r, err := Decrypt(bytes.NewReader(file), ids)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func vecIDs(t testing.TB) []age.Identity {
	id, err := age.ParseX25519Identity(vecIdentity)
	if err != nil {
		t.Fatal(err)
	}
	return []age.Identity{id}
}

func TestRoundTrip(t *testing.T) {
	rs, err := ParseRecipients([]string{vecRecipient})
	if err != nil {
		t.Fatal(err)
	}
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	pqrs, err := ParseRecipients([]string{pq.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, chunk - 1, chunk, chunk + 1, 1<<20 + 3} {
		plain := plaintext(n)
		for _, tt := range []struct {
			rcpts []age.Recipient
			ids   []age.Identity
		}{{AgeRecipients(rs), vecIDs(t)}, {AgeRecipients(pqrs), []age.Identity{pq}}} {
			file := encrypt(t, tt.rcpts, plain)
			got, err := decrypt(tt.ids, file)
			if err != nil {
				t.Fatalf("%d bytes: %v", n, err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("%d bytes: plaintext differs", n)
			}
		}
	}
	// Fresh randomness each time: no deterministic mode.
	if bytes.Equal(encrypt(t, AgeRecipients(rs), []byte("x")), encrypt(t, AgeRecipients(rs), []byte("x"))) {
		t.Fatal("two encryptions gave the same bytes")
	}
}

func TestParseRecipients(t *testing.T) {
	dir := t.TempDir()
	other, _ := age.GenerateX25519Identity()
	otherText := other.Recipient().String()
	file := writeFile(t, dir, "tenant.recipients", "# tenant a\n\n"+otherText+"\n# again\n"+vecRecipient+"\n", 0o644)
	rs, err := ParseRecipients([]string{vecRecipient, file})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("%d recipients, want 2 (one duplicate dropped)", len(rs))
	}
	if rs[0].Text != vecRecipient || rs[0].Fingerprint != vecFingerprint || rs[0].Source != vecRecipient {
		t.Fatalf("first recipient %+v", rs[0])
	}
	if rs[1].Text != otherText || rs[1].Fingerprint != Fingerprint(otherText) || rs[1].Source != file+":3" {
		t.Fatalf("second recipient %+v", rs[1])
	}
	if Fingerprint(vecRecipient) != vecFingerprint {
		t.Fatal("Fingerprint does not match sha256sum")
	}

	pq, _ := age.GenerateHybridIdentity()
	fifo := filepath.Join(dir, "fifo")
	syscall.Mkfifo(fifo, 0o644)
	for _, tt := range []struct {
		name  string
		specs []string
		file  string // content of a recipients file added to specs
		code  int
		want  string
	}{
		{name: "none", code: exitcode.Invalid, want: "recipients: none given"},
		{name: "bad recipient", specs: []string{"age1notreally"}, code: exitcode.Invalid, want: "recipient age1notreally: malformed recipient"},
		{name: "upper case", specs: []string{strings.ToUpper(vecRecipient)}, code: exitcode.Invalid, want: "unknown recipient type"},
		{name: "two lines", specs: []string{vecRecipient + "\n" + vecRecipient}, code: exitcode.Invalid, want: "more than one line"},
		{name: "secret key", specs: []string{vecIdentity}, code: exitcode.Invalid, want: "an age identity (a secret key) was given where a recipient"},
		{name: "ssh", specs: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIx"}, code: exitcode.Invalid, want: "SSH recipients are not supported"},
		{name: "missing file", specs: []string{filepath.Join(dir, "missing")}, code: exitcode.IO, want: "no such file"},
		{name: "directory", specs: []string{dir}, code: exitcode.Invalid, want: "is a directory"},
		{name: "fifo", specs: []string{fifo}, code: exitcode.Invalid, want: "is a FIFO"},
		{name: "empty file", file: "# nobody\n\n", code: exitcode.Invalid, want: "no recipients (only blank lines and comments)"},
		{name: "garbage line", file: vecRecipient + "\nhello\n", code: exitcode.Invalid, want: ":2: unknown recipient type"},
		{name: "secret in file", file: "# key\n" + vecIdentity + "\n", code: exitcode.Invalid, want: ":2: an age identity (a secret key)"},
		{name: "crlf", file: vecRecipient + "\r\n", code: exitcode.Invalid, want: ":1: more than one line"},
		{name: "too large", file: strings.Repeat("#\n", MaxRecipientsFile), code: exitcode.Invalid, want: "larger than 1 MiB"},
		{name: "mixed pq", specs: []string{vecRecipient, pq.Recipient().String()}, code: exitcode.Invalid, want: "is post-quantum (age1pq1...) and " + vecRecipient + " is not"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			specs := tt.specs
			if tt.file != "" {
				specs = append(specs, writeFile(t, t.TempDir(), "r", tt.file, 0o644))
			}
			done := make(chan error, 1)
			go func() { _, err := ParseRecipients(specs); done <- err }()
			select {
			case err := <-done:
				wantCode(t, err, tt.code, tt.want)
				if strings.Contains(err.Error(), vecIdentity[16:]) {
					t.Fatalf("error shows a secret key: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("ParseRecipients blocked")
			}
		})
	}
	many := make([]string, MaxRecipients+1)
	for i := range many {
		id, _ := age.GenerateX25519Identity()
		many[i] = id.Recipient().String()
	}
	_, err = ParseRecipients(many)
	wantCode(t, err, exitcode.Invalid, "more than 1000")
}

func TestParseIdentityFile(t *testing.T) {
	dir := t.TempDir()
	keygen := "# created: 2026-11-29T15:06:19Z\n# public key: " + vecRecipient + "\n" + vecIdentity + "\n"
	p := writeFile(t, dir, "id.txt", keygen, 0o600)
	var warnings []string
	warn := func(s string) { warnings = append(warnings, s) }
	ids, err := ParseIdentityFile(p, warn)
	if err != nil || len(ids) != 1 || len(warnings) != 0 {
		t.Fatalf("ids %d, warnings %v, err %v", len(ids), warnings, err)
	}
	os.Chmod(p, 0o644)
	if _, err := ParseIdentityFile(p, warn); err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "chmod 600") {
		t.Fatalf("group-readable: warnings %v, err %v", warnings, err)
	}
	if _, err := ParseIdentityFile(p, nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, content, want string }{
		{"empty", "# nothing\n", "no identities found"},
		{"recipient", vecRecipient + "\n", "error at line 1: unknown identity type"},
		{"mangled", vecIdentity[:40] + "\n", "error at line 1"},
		{"encrypted", "age-encryption.org/v1\n-> scrypt x 18\n", "passphrase-protected identity files are not supported"},
		{"armored", "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n", "passphrase-protected"},
		{"too large", strings.Repeat("#\n", MaxIdentityFile), "larger than 64 KiB"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseIdentityFile(writeFile(t, t.TempDir(), "id", tt.content, 0o600), nil)
			wantCode(t, err, exitcode.Invalid, tt.want)
			if strings.Contains(err.Error(), vecIdentity[16:40]) {
				t.Fatalf("error shows key material: %v", err)
			}
		})
	}
	_, err = ParseIdentityFile(filepath.Join(dir, "missing"), nil)
	wantCode(t, err, exitcode.IO, "identity file")
}

// header returns the length of the age header of file (up to and
// including the MAC line).
func header(t *testing.T, file []byte) int {
	i := bytes.Index(file, []byte("\n---"))
	if i < 0 {
		t.Fatal("no MAC line")
	}
	return i + 1 + bytes.IndexByte(file[i+1:], '\n') + 1
}

// Every alteration of an age file fails with a classified error, and the
// reader never returns plaintext of a chunk that did not authenticate.
func TestTamper(t *testing.T) {
	rs, _ := ParseRecipients([]string{vecRecipient})
	rcpts := AgeRecipients(rs)
	plain := plaintext(3*chunk - 5) // three chunks
	file := encrypt(t, rcpts, plain)
	h := header(t, file)
	body := h + 16 // after the header and the 16-byte nonce
	const sealed = chunk + 16
	other := encrypt(t, rcpts, plain)
	oh := header(t, other)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(file)) }
	flip := func(off int) []byte { return edit(func(b []byte) []byte { b[off] ^= 1; return b }) }
	macLine := bytes.LastIndex(file[:h], []byte("--- "))
	newMAC := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	stanzaBody := bytes.Index(file, []byte("\n")) + 1
	stanzaBody += bytes.Index(file[stanzaBody:], []byte("\n")) + 1 // first line of the stanza's body

	wrong, _ := age.GenerateX25519Identity()
	for _, tt := range []struct {
		name string
		file []byte
		ids  []age.Identity
		code int
		want string
		// plaintext of the chunks before the damage may be returned; never more
		good int
	}{
		{name: "wrong identity", file: file, ids: []age.Identity{wrong}, code: exitcode.Verify, want: "no identity matches any of the file's 1 recipient (wrong identity, or the header was altered)"},
		{name: "stanza body", file: edit(func(b []byte) []byte {
			if b[stanzaBody] == 'A' {
				b[stanzaBody] = 'B'
			} else {
				b[stanzaBody] = 'A'
			}
			return b
		}), code: exitcode.Verify, want: "no identity matches"},
		{name: "header mac", file: edit(func(b []byte) []byte {
			return append(append(append([]byte{}, b[:macLine]...), "--- "+newMAC+"\n"...), b[h:]...)
		}), code: exitcode.Verify, want: "bad header MAC"},
		{name: "nonce", file: flip(h + 3), code: exitcode.Verify, want: "failed to decrypt and authenticate payload chunk"},
		{name: "first chunk", file: flip(body + 10), code: exitcode.Verify, want: "failed to decrypt and authenticate"},
		{name: "second chunk", file: flip(body + sealed + 10), code: exitcode.Verify, want: "failed to decrypt and authenticate", good: chunk},
		{name: "last chunk", file: flip(len(file) - 1), code: exitcode.Verify, want: "failed to decrypt and authenticate", good: 2 * chunk},
		{name: "dropped last chunk", file: file[:body+2*sealed], code: exitcode.Verify, want: "age:", good: 2 * chunk},
		{name: "truncated mid-chunk", file: file[:body+sealed+100], code: exitcode.Verify, want: "failed to decrypt and authenticate", good: chunk},
		{name: "truncated nonce", file: file[:h+5], code: exitcode.Verify, want: "truncated"},
		{name: "truncated header", file: file[:h-10], code: exitcode.Verify, want: "truncated header"},
		{name: "appended", file: append(bytes.Clone(file), 0), code: exitcode.Verify, want: "failed to decrypt and authenticate", good: 2 * chunk},
		{name: "appended chunk", file: append(bytes.Clone(file), file[body:body+sealed]...), code: exitcode.Verify, want: "failed to decrypt and authenticate", good: 2 * chunk},
		{name: "swapped chunks", file: edit(func(b []byte) []byte {
			c0 := bytes.Clone(b[body : body+sealed])
			copy(b[body:], b[body+sealed:body+2*sealed])
			copy(b[body+sealed:], c0)
			return b
		}), code: exitcode.Verify, want: "failed to decrypt and authenticate"},
		{name: "another file's header", file: append(bytes.Clone(other[:oh]), file[h:]...), code: exitcode.Verify, want: "failed to decrypt and authenticate"},
		{name: "empty", file: nil, code: exitcode.Invalid, want: "not an age file: parsing age header: file is empty"},
		{name: "not age", file: []byte("hello world\n"), code: exitcode.Invalid, want: "not an age file"},
		{name: "intro", file: flip(2), code: exitcode.Invalid, want: "not an age file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ids := tt.ids
			if ids == nil {
				ids = vecIDs(t)
			}
			r, err := Decrypt(bytes.NewReader(tt.file), ids)
			var got []byte
			if err == nil {
				got, err = io.ReadAll(r)
				// The error sticks.
				if n, err2 := r.Read(make([]byte, 10)); n != 0 || err2 == nil || err2.Error() != err.Error() {
					t.Fatalf("read after the error: %d, %v", n, err2)
				}
			}
			wantCode(t, err, tt.code, tt.want)
			if len(got) > tt.good || !bytes.Equal(got, plain[:len(got)]) {
				t.Fatalf("returned %d bytes of plaintext, at most %d authenticated", len(got), tt.good)
			}
		})
	}
}

var errDisk = errors.New("disk on fire")

type failingReader struct {
	r     io.Reader
	after int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errDisk
	}
	if len(p) > f.after {
		p = p[:f.after]
	}
	n, err := f.r.Read(p)
	f.after -= n
	return n, err
}

// Errors of the input and the output are not mistaken for tampering: they
// keep their identity and class.
func TestIOErrors(t *testing.T) {
	rs, _ := ParseRecipients([]string{vecRecipient})
	file := encrypt(t, AgeRecipients(rs), plaintext(3*chunk))
	h := header(t, file)
	for _, after := range []int{0, 10, h + 3, h + 16 + 100, len(file) - 1} {
		r, err := Decrypt(&failingReader{r: bytes.NewReader(file), after: after}, vecIDs(t))
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if !errors.Is(err, errDisk) || exitcode.For(err) != exitcode.IO {
			t.Fatalf("failing after %d bytes: exit %d, %v", after, exitcode.For(err), err)
		}
	}
	for _, after := range []int{0, 10, 300} {
		w, err := Encrypt(&failio.Writer{After: after, Err: errDisk}, AgeRecipients(rs))
		if err == nil {
			_, err = w.Write(plaintext(2 * chunk))
			if err == nil {
				err = w.Close()
			}
		}
		if !errors.Is(err, errDisk) || exitcode.For(err) != exitcode.IO {
			t.Fatalf("writer failing after %d bytes: exit %d, %v", after, exitcode.For(err), err)
		}
	}
	_, err := Encrypt(io.Discard, nil)
	wantCode(t, err, exitcode.Invalid, "no recipients")
	_, err = Decrypt(bytes.NewReader(file), nil)
	wantCode(t, err, exitcode.Invalid, "no identities")
}
