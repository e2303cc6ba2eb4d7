// Package decrypt opens the encrypted files of an export
// (docs/encryption.md): one envelope (.enc) or age (.age) file at a time, a
// whole bundle or export directory into a plaintext tree, or, for verify,
// every encrypted file of a bundle as it streams past, with the plaintext
// only hashed.
//
// Guarantees:
//
//   - Plaintext is written only to a temporary file (mode 0600) and renamed
//     to its name after the last chunk authenticated and, for the files of
//     an export, after its SHA-256 and size matched the plaintext manifest.
//     On any failure nothing of the output is left: not the file, not the
//     directory.
//   - A file that does not decrypt (wrong key, altered, truncated, extended,
//     or not an encrypted file at all) fails verification (exit 1), naming
//     the file and the reason; age's "not an age file" and "malformed
//     header" (exit 3 in agecrypt) are re-classified as exit 1 here, since
//     the file was expected to be encrypted. A missing key (no keyring, an
//     unknown key id, no identity) keeps its environment class (exit 4).
//   - Bundles are hostile: they are verified in the same pass as they are
//     extracted (verify.Options.Extract), below an os.Root, and nothing is
//     decrypted before the whole bundle verified.
//
// The plaintext manifest (manifests/plaintext.json.enc or .age) is the list
// of the encrypted files; it is itself encrypted, so that the plaintext
// digests are never in the clear:
//
//	{"files":[{"encrypted":"data/x.json.enc","name":"data/x.json","sha256":"<64 hex>","size":N},...],
//	 "format":"stella-export/plaintext/v1"}
package decrypt

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"

	"github.com/stella-ops/stella-export/internal/agecrypt"
	"github.com/stella-ops/stella-export/internal/ctxio"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/envelope"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/plaintext"
)

// Modes, as export.json and provenance.json name them.
const (
	ModeEnvelope = "envelope"
	ModeAge      = "age"
)

// ErrNoMasterKey and ErrNoIdentity say that a file cannot be decrypted
// because no key of its kind was given: an environment error (exit 4).
var (
	ErrNoMasterKey = exitcode.WithCode(exitcode.IO, errors.New("an envelope file needs a master key, and none was given"))
	ErrNoIdentity  = exitcode.WithCode(exitcode.IO, errors.New("an age file needs an age identity, and none was given"))
)

// Keys are what encrypted files are opened with: master keys for envelope
// files (looked up by the key id in each header), age identities for age
// files. Either may be nil.
type Keys struct {
	Lookup     envelope.Lookup
	Identities []age.Identity
}

// Suffix returns the encryption suffix of name (plaintext.SuffixEnvelope or
// plaintext.SuffixAge), or "".
func Suffix(name string) string {
	switch {
	case strings.HasSuffix(name, plaintext.SuffixEnvelope):
		return plaintext.SuffixEnvelope
	case strings.HasSuffix(name, plaintext.SuffixAge):
		return plaintext.SuffixAge
	}
	return ""
}

// sniff tells the mode of a file without a known suffix from its first
// bytes.
func sniff(br *bufio.Reader) string {
	head, _ := br.Peek(len(envelope.Magic))
	switch {
	case string(head) == envelope.Magic:
		return plaintext.SuffixEnvelope
	case bytes.HasPrefix([]byte("age-encryption.org/"), head) && len(head) > 0,
		bytes.HasPrefix([]byte("-----BEGIN AGE ENCRYPTED FILE-----"), head) && len(head) > 0:
		return plaintext.SuffixAge
	}
	return ""
}

// Open returns a reader of the plaintext of the encrypted file read from
// src, whose name (for messages, and whose suffix gives the mode; a name
// without one is recognised by its first bytes) is name. The reader returns
// only authenticated plaintext, and io.EOF only at the authenticated end of
// the file; its errors and Open's are classified as the package doc says.
func (k Keys) Open(name string, src io.Reader) (io.Reader, error) {
	suffix := Suffix(name)
	if suffix == "" {
		br := bufio.NewReader(src)
		suffix, src = sniff(br), br
		if suffix == "" {
			return nil, exitcode.Verifyf("neither an envelope file (%q) nor an age file (age-encryption.org/v1): its name does not end in %s or %s either", envelope.Magic, plaintext.SuffixEnvelope, plaintext.SuffixAge)
		}
	}
	var r io.Reader
	var err error
	if suffix == plaintext.SuffixEnvelope {
		if k.Lookup == nil {
			return nil, ErrNoMasterKey
		}
		r, err = envelope.NewReader(src, k.Lookup)
	} else {
		if len(k.Identities) == 0 {
			return nil, ErrNoIdentity
		}
		r, err = agecrypt.Decrypt(src, k.Identities)
	}
	if err != nil {
		return nil, reclass(err)
	}
	return &reclassReader{r: r}, nil
}

// reclass makes the invalid-input errors of a file expected to be
// encrypted (a damaged header) failed verifications.
func reclass(err error) error {
	if err != nil && exitcode.For(err) == exitcode.Invalid {
		return exitcode.WithCode(exitcode.Verify, err)
	}
	return err
}

type reclassReader struct{ r io.Reader }

func (r *reclassReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = reclass(err)
	}
	return n, err
}

// Copy decrypts the encrypted file read from src (named name, as for Open)
// into dst and returns the plaintext's SHA-256 and size. dst has received
// only authenticated plaintext, but is complete only when the error is nil.
func (k Keys) Copy(ctx context.Context, dst io.Writer, name string, src io.Reader) (digest.SHA256, int64, error) {
	r, err := k.Open(name, ctxio.NewReader(ctx, src))
	if err != nil {
		return digest.SHA256{}, 0, err
	}
	h := sha256.New()
	buf := make([]byte, 256<<10)
	n, err := io.CopyBuffer(io.MultiWriter(dst, h), r, buf)
	if err != nil {
		if ctx.Err() != nil {
			return digest.SHA256{}, n, exitcode.Cause(ctx, err)
		}
		return digest.SHA256{}, n, err
	}
	return digest.Of(h), n, nil
}

// fileError names the encrypted file at fault.
func fileError(name string, err error) error {
	return fmt.Errorf("%s: %w", name, err)
}
