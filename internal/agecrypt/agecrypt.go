// Package agecrypt encrypts and decrypts standard age files
// (https://age-encryption.org/v1) with filippo.io/age, for the age mode of
// stella-export's encryption: every file it writes opens with
// `age -d -i IDENTITY FILE`, and it opens every file `age -r`/`age -R` made
// for X25519 (age1...) or post-quantum hybrid (age1pq1...) recipients.
//
// Recipients are given as strings, each an age recipient or the path of a
// recipients file in age's format (one recipient per line; blank lines and
// lines starting with # are ignored). SSH keys, plugins and tagged
// recipients are not supported. Each recipient has a fingerprint for
// provenance: "sha256:" and the lower-case hex SHA-256 of its canonical
// string (the Bech32 form age prints, lower case), as
// `printf %s age1... | sha256sum` computes it.
//
// age draws its file key and nonce from crypto/rand, so encrypting the same
// bytes twice gives different files; there is no deterministic mode.
//
// Errors are classified for exitcode: a file that no identity opens, an
// altered header or payload, a truncated file or trailing data fail
// verification (exit 1); input that is not an age file, malformed
// recipients and identity files are invalid (exit 3); errors of the
// underlying reader or writer keep their own class (I/O, exit 4).
package agecrypt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// MaxRecipientsFile bounds a recipients file.
const MaxRecipientsFile = safefile.MaxConfig

// MaxIdentityFile bounds an identity file.
const MaxIdentityFile = safefile.MaxSecret

// MaxRecipients bounds the recipients of one file (age itself refuses
// headers of more than 20,000 stanzas).
const MaxRecipients = 1000

// Recipient is one parsed recipient.
type Recipient struct {
	Text        string        // canonical recipient string, age1...
	Fingerprint string        // "sha256:" + hex SHA-256 of Text
	Source      string        // where it came from: the argument, or FILE:LINE
	Age         age.Recipient // for Encrypt
}

// Fingerprint is the provenance fingerprint of the recipient string text:
// "sha256:" followed by the lower-case hex SHA-256 of text.
func Fingerprint(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseRecipients parses specs, each an age recipient (a string starting
// with age1) or the path of a recipients file, in order. A recipient given
// twice is kept once, where it first appears. An empty result, a mix of
// post-quantum and classic recipients (age refuses to encrypt to both) and
// anything malformed are invalid (exit 3); an unreadable file keeps its
// error's class.
func ParseRecipients(specs []string) ([]Recipient, error) {
	var out []Recipient
	seen := map[string]bool{}
	add := func(r Recipient) error {
		if seen[r.Text] {
			return nil
		}
		if len(out) == MaxRecipients {
			return exitcode.Invalidf("recipients: more than %d", MaxRecipients)
		}
		seen[r.Text] = true
		out = append(out, r)
		return nil
	}
	for _, spec := range specs {
		if looksLikeRecipient(spec) {
			r, err := parseOne(show(spec), spec)
			if err != nil {
				return nil, exitcode.Invalidf("recipient %s", err)
			}
			if err := add(r); err != nil {
				return nil, err
			}
			continue
		}
		if err := refuseNonRecipient("recipient", spec); err != nil {
			return nil, err
		}
		rs, err := parseFile(spec)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if err := add(r); err != nil {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		return nil, exitcode.Invalidf("recipients: none given")
	}
	var pq, classic string
	for _, r := range out {
		if _, ok := r.Age.(*age.HybridRecipient); ok {
			pq = r.Source
		} else {
			classic = r.Source
		}
	}
	if pq != "" && classic != "" {
		return nil, exitcode.Invalidf("recipients: %s is post-quantum (age1pq1...) and %s is not: age does not encrypt to both, since the file would not be post-quantum secure", pq, classic)
	}
	return out, nil
}

// AgeRecipients returns the age recipients of rs, for Encrypt.
func AgeRecipients(rs []Recipient) []age.Recipient {
	out := make([]age.Recipient, len(rs))
	for i, r := range rs {
		out[i] = r.Age
	}
	return out
}

// show is s for messages: as it is when it is short printable ASCII,
// else quoted and cut.
func show(s string) string {
	for _, c := range []byte(s) {
		if c < 0x21 || c > 0x7e || len(s) > 128 {
			return fmt.Sprintf("%.128q", s)
		}
	}
	return s
}

func looksLikeRecipient(s string) bool {
	return len(s) >= 4 && strings.EqualFold(s[:4], "age1")
}

// refuseNonRecipient refuses what is neither a recipient nor a file name
// age would take: SSH keys and secret keys (whose text is never echoed).
func refuseNonRecipient(what, s string) error {
	switch {
	case strings.HasPrefix(s, "AGE-SECRET-KEY-"), strings.HasPrefix(s, "AGE-PLUGIN-"):
		return exitcode.Invalidf("%s: an age identity (a secret key) was given where a recipient (age1..., a public key) belongs", what)
	case strings.HasPrefix(s, "ssh-"), strings.HasPrefix(s, "ecdsa-sha2-"), strings.HasPrefix(s, "sk-ssh-"):
		return exitcode.Invalidf("%s %.40q: SSH recipients are not supported; use an age1... recipient (age-keygen -y IDENTITY prints one)", what, s)
	}
	return nil
}

// parseOne parses one recipient string, naming it src in messages.
func parseOne(src, s string) (Recipient, error) {
	if strings.ContainsAny(s, "\r\n") {
		return Recipient{}, fmt.Errorf("%s: more than one line", src)
	}
	rs, err := age.ParseRecipients(strings.NewReader(s))
	if err != nil || len(rs) != 1 {
		msg := "not a recipient"
		if err != nil {
			msg = strings.TrimPrefix(err.Error(), "error at line 1: ")
		}
		return Recipient{}, fmt.Errorf("%s: %s", src, msg)
	}
	text := s
	if st, ok := rs[0].(fmt.Stringer); ok {
		text = st.String()
	}
	return Recipient{Text: text, Fingerprint: Fingerprint(text), Source: src, Age: rs[0]}, nil
}

// parseFile reads a recipients file.
func parseFile(path string) ([]Recipient, error) {
	data, err := safefile.ReadAll(path, MaxRecipientsFile)
	if err != nil {
		return nil, fmt.Errorf("recipients file %w", err)
	}
	var out []Recipient
	for i, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		src := fmt.Sprintf("%s:%d", path, i+1)
		if err := refuseNonRecipient("recipients file "+src, line); err != nil {
			return nil, err
		}
		r, err := parseOne(src, line)
		if err != nil {
			return nil, exitcode.Invalidf("recipients file %s", err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, exitcode.Invalidf("recipients file %s: no recipients (only blank lines and comments)", path)
	}
	return out, nil
}

// ParseIdentityFile reads the age identities (AGE-SECRET-KEY-1...,
// AGE-SECRET-KEY-PQ-1..., as age-keygen writes them) in the file at path.
// When group or others may read it, warn (if not nil) gets one line
// saying so. Passphrase-protected identity files are refused with a hint.
func ParseIdentityFile(path string, warn func(string)) ([]age.Identity, error) {
	f, err := safefile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("identity file %w", err)
	}
	defer f.Close()
	if w := safefile.PrivateWarning(f, path); w != "" && warn != nil {
		warn(w)
	}
	data, err := safefile.ReadFrom(f, path, MaxIdentityFile)
	if err != nil {
		return nil, fmt.Errorf("identity file %w", err)
	}
	if bytes.HasPrefix(data, []byte("age-encryption.org/")) || bytes.HasPrefix(data, []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
		return nil, exitcode.Invalidf("identity file %s: passphrase-protected identity files are not supported; decrypt it first (age -d -o PLAIN %s)", path, path)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		// age's messages never include key material.
		return nil, exitcode.Invalidf("identity file %s: %s", path, err)
	}
	return ids, nil
}

// Encrypt returns a writer that encrypts what is written to it as an age
// file for rcpts onto dst; Close writes the last chunk (and does not close
// dst). Memory is bounded by one 64 KiB chunk.
func Encrypt(dst io.Writer, rcpts []age.Recipient) (io.WriteCloser, error) {
	if len(rcpts) == 0 {
		return nil, exitcode.Invalidf("age: no recipients")
	}
	tw := &tracked{w: dst}
	w, err := age.Encrypt(tw, rcpts...)
	if err != nil {
		if tw.err != nil && errors.Is(err, tw.err) {
			return nil, fmt.Errorf("age: %w", err)
		}
		return nil, exitcode.Invalidf("age: %s", err)
	}
	return w, nil
}

// Decrypt reads the age header from src, unwraps its file key with one of
// ids, and returns a reader of the plaintext. The reader returns only
// plaintext of chunks that authenticated, and io.EOF only after the
// authenticated last chunk with nothing after it; any other failure is
// an error classified as described in the package documentation, which
// the reader keeps returning. Memory is bounded by one 64 KiB chunk.
func Decrypt(src io.Reader, ids []age.Identity) (io.Reader, error) {
	if len(ids) == 0 {
		return nil, exitcode.Invalidf("age: no identities to decrypt with")
	}
	tr := &tracked{r: src}
	r, err := age.Decrypt(tr, ids...)
	if err != nil {
		return nil, classify(tr, err, true)
	}
	return &reader{r: r, src: tr}, nil
}

// classify maps an error of age onto exitcode's classes.
func classify(tr *tracked, err error, header bool) error {
	var nomatch *age.NoIdentityMatchError
	switch {
	case tr.err != nil && errors.Is(err, tr.err):
		return fmt.Errorf("age: %w", err)
	case errors.As(err, &nomatch):
		n := len(nomatch.StanzaTypes)
		return exitcode.Verifyf("age: no identity matches any of the file's %d recipient%s (wrong identity, or the header was altered)", n, plural(n))
	case header && strings.HasPrefix(err.Error(), "failed to read header: "):
		// age's header parser: a file that does not start with an age
		// intro line is not an age file; one cut short in its header is
		// truncated; other malformations are invalid input.
		msg := strings.TrimPrefix(err.Error(), "failed to read header: ")
		switch {
		case strings.Contains(msg, "intro") || strings.Contains(msg, "file is empty"):
			return exitcode.Invalidf("age: not an age file: %s", msg)
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(msg, "EOF"):
			return exitcode.Verifyf("age: truncated header: %s", msg)
		}
		return exitcode.Invalidf("age: malformed header: %s", msg)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return exitcode.Verifyf("age: truncated file: %s", err)
	}
	return exitcode.Verifyf("age: %s", err)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// reader classifies the payload errors of age's reader.
type reader struct {
	r   io.Reader
	src *tracked
	err error
}

func (r *reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = classify(r.src, err, false)
		r.err = err
	}
	return n, err
}

// tracked remembers the first error of the reader or writer it wraps, so
// that errors of the input or output are told from age's own.
type tracked struct {
	r   io.Reader
	w   io.Writer
	err error
}

func (t *tracked) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

func (t *tracked) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil && t.err == nil {
		t.err = err
	}
	return n, err
}
