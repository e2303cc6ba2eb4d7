package envelope

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stella-ops/stella-export/internal/detrand"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json and testdata/vector-*.enc")

// The test vectors of docs/encryption.md#test-vectors. Each vector's
// plaintext is Size bytes, byte i being i mod 251; its random bytes come
// from detrand.New(vectorSeed, Label).
type vector struct {
	Name            string `json:"name"`
	Size            int    `json:"plaintextSize"`
	PlaintextSHA256 string `json:"plaintextSha256"`
	MasterKeyID     string `json:"masterKeyId"`
	MasterKey       string `json:"masterKey"`
	Label           string `json:"detrandLabel"`
	DataKey         string `json:"dataKey"`
	NoncePrefix     string `json:"noncePrefix"`
	WrapNonce       string `json:"wrapNonce"`
	PayloadKey      string `json:"payloadKey"`
	File            string `json:"file"`
	FileSHA256      string `json:"fileSha256"`
}

const (
	vectorSeed  = "stella-export envelope test vectors"
	vectorKeyID = "alias/vectors/v1"
)

var vectorSizes = map[string]int{"empty": 0, "small": 13, "one-full-chunk": ChunkSize, "two-chunks": ChunkSize + 1}

func vectorKey() Key {
	k := Key{ID: vectorKeyID, Secret: make([]byte, KeySize)}
	for i := range k.Secret {
		k.Secret[i] = byte(i)
	}
	return k
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// makeVector encrypts vector name and records its intermediate values.
func makeVector(t *testing.T, name string) (vector, []byte) {
	k := vectorKey()
	p := plaintext(vectorSizes[name])
	label := "vector " + name
	var buf bytes.Buffer
	w, err := NewWriter(&buf, k, detrand.New([]byte(vectorSeed), label))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(p)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	h, dataKey, err := open(bytes.NewReader(data), only(k))
	if err != nil {
		t.Fatal(err)
	}
	payloadKey, err := hkdf.Key(sha256.New, dataKey, data[:20], "stella-export/enc/v1 payload", 32)
	if err != nil {
		t.Fatal(err)
	}
	return vector{
		Name:            name,
		Size:            len(p),
		PlaintextSHA256: sha(p),
		MasterKeyID:     k.ID,
		MasterKey:       hex.EncodeToString(k.Secret),
		Label:           label,
		DataKey:         hex.EncodeToString(dataKey),
		NoncePrefix:     hex.EncodeToString(h.NoncePrefix[:]),
		WrapNonce:       hex.EncodeToString(h.WrappedKey[:WrapNonceSize]),
		PayloadKey:      hex.EncodeToString(payloadKey),
		File:            "vector-" + name + ".enc",
		FileSHA256:      sha(data),
	}, data
}

func readVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestVectors: the committed vectors decrypt, and encrypting their
// plaintexts again with the same master key and random stream gives the
// same bytes and intermediate values. With -update, rewrites them.
func TestVectors(t *testing.T) {
	if *update {
		var vs []vector
		for _, name := range []string{"empty", "small", "one-full-chunk", "two-chunks"} {
			v, data := makeVector(t, name)
			if err := os.WriteFile(filepath.Join("testdata", v.File), data, 0o644); err != nil {
				t.Fatal(err)
			}
			vs = append(vs, v)
		}
		b, _ := json.MarshalIndent(vs, "", "  ")
		if err := os.WriteFile(filepath.Join("testdata", "vectors.json"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vs := readVectors(t)
	if len(vs) != len(vectorSizes) {
		t.Fatalf("%d vectors, want %d", len(vs), len(vectorSizes))
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", v.File))
			if err != nil {
				t.Fatal(err)
			}
			if sha(data) != v.FileSHA256 {
				t.Fatalf("%s: SHA-256 %s, want %s", v.File, sha(data), v.FileSHA256)
			}
			got, err := decrypt(data, only(vectorKey()))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != v.Size || sha(got) != v.PlaintextSHA256 || !bytes.Equal(got, plaintext(v.Size)) {
				t.Fatalf("decrypts to %d bytes with SHA-256 %s, want %d bytes, %s", len(got), sha(got), v.Size, v.PlaintextSHA256)
			}
			again, data2 := makeVector(t, v.Name)
			if again != v || !bytes.Equal(data2, data) {
				t.Fatalf("encrypting again gives\n%+v\nwant\n%+v", again, v)
			}
		})
	}
}
