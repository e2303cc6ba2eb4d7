// Package decrypttest makes encrypted exports for tests, in the shapes of
// docs/encryption.md (encrypted files named NAME.enc or NAME.age, mode
// 0600, the plaintext removed, and the encrypted plaintext manifest
// manifests/plaintext.json.enc or .age), from a plaintext export directory,
// until run writes them itself. Only tests import it.
package decrypttest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"filippo.io/age"

	"github.com/stella-ops/stella-export/internal/agecrypt"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/envelope"
	"github.com/stella-ops/stella-export/internal/plaintext"
)

// Sealer encrypts one file: an envelope master key, or age recipients.
type Sealer struct {
	Key        *envelope.Key
	Recipients []age.Recipient
}

// Suffix is the suffix of the files s writes.
func (s Sealer) Suffix() string {
	if s.Key != nil {
		return plaintext.SuffixEnvelope
	}
	return plaintext.SuffixAge
}

// Seal encrypts src to dst.
func (s Sealer) Seal(dst io.Writer, src io.Reader) error {
	var w io.WriteCloser
	var err error
	if s.Key != nil {
		w, err = envelope.NewWriter(dst, *s.Key, rand.Reader)
	} else {
		w, err = agecrypt.Encrypt(dst, s.Recipients)
	}
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, src); err != nil {
		return err
	}
	return w.Close()
}

// EncryptDir encrypts, in place, every file below dir for which inScope
// (given its '/'-separated name) is true, and writes the plaintext
// manifest. It returns the manifest.
func EncryptDir(dir string, s Sealer, inScope func(string) bool) (*plaintext.Manifest, error) {
	var names []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if inScope(rel) {
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	man := &plaintext.Manifest{Format: plaintext.Format, Files: []plaintext.Entry{}}
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		out, err := os.OpenFile(p+s.Suffix(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		if err := s.Seal(out, bytes.NewReader(data)); err != nil {
			out.Close()
			return nil, err
		}
		if err := out.Close(); err != nil {
			return nil, err
		}
		if err := os.Remove(p); err != nil {
			return nil, err
		}
		man.Files = append(man.Files, plaintext.Entry{Encrypted: n + s.Suffix(), Name: n, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))})
	}
	b, err := canonjson.Marshal(man)
	if err != nil {
		return nil, err
	}
	mp := filepath.Join(dir, filepath.FromSlash(plaintext.Base)+s.Suffix())
	if err := os.MkdirAll(filepath.Dir(mp), 0o755); err != nil {
		return nil, err
	}
	out, err := os.OpenFile(mp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := s.Seal(out, bytes.NewReader(b)); err != nil {
		out.Close()
		return nil, err
	}
	return man, out.Close()
}
