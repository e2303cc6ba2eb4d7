// Package detrand makes deterministic byte streams that stand in for
// crypto/rand where the same input must give the same bytes: tests, and
// checks that an encrypted export is reproducible
// (--deterministic-encryption-seed). Nothing else may use it: a stream is
// only as secret as its seed, and a seed used twice with the same label
// repeats every data key and nonce drawn from it.
//
// The stream for (seed, label) is the AES-256-CTR keystream, with an
// all-zero initial counter block, under the key
//
//	key = HKDF-SHA256(secret = SHA-256(seed), salt = "", info = "stella-export/detrand/v1" || 0x00 || label, 32 bytes)
//
// so two runs with the same seed file give identical bytes, while streams
// with different labels (one label per output file, such as its path in the
// bundle) share no bytes that matter: each file gets its own data key and
// nonces.
package detrand

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"io"
)

// info is the HKDF info prefix; the label follows a NUL byte.
const info = "stella-export/detrand/v1\x00"

// New returns the deterministic stream for seed and label. Its Read never
// fails and the stream does not end (it repeats after 2^132 bytes).
func New(seed []byte, label string) io.Reader {
	secret := sha256.Sum256(seed)
	key, err := hkdf.Key(sha256.New, secret[:], nil, info+label, 32)
	if err != nil {
		panic("detrand: " + err.Error()) // only for a key length HKDF cannot give
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("detrand: " + err.Error()) // only for a key that is not 32 bytes
	}
	return &stream{cipher.NewCTR(block, make([]byte, aes.BlockSize))}
}

type stream struct{ s cipher.Stream }

func (r *stream) Read(p []byte) (int, error) {
	clear(p)
	r.s.XORKeyStream(p, p)
	return len(p), nil
}
