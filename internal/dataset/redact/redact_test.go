package redact

import (
	"bytes"
	"testing"
)

func TestHasher(t *testing.T) {
	salt := bytes.Repeat([]byte{1}, 16)
	a, err := NewHasher(salt, "acme", "k")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewHasher(salt, "globex", "k")
	c, _ := NewHasher(bytes.Repeat([]byte{2}, 16), "acme", "k")
	if a.Hash("C1") == b.Hash("C1") || a.Hash("C1") == c.Hash("C1") || len(a.Hash("C1")) != 64 {
		t.Error("hashes do not depend on tenant and salt alone")
	}
	// the key is HMAC(salt, domain || NUL || tenant); the vector is from
	// Python's hmac: k = hmac.new(b"\x01"*16, b"stella-export/dataset-hash/v1\x00acme", sha256).digest();
	// hmac.new(k, b"C1", sha256).hexdigest()
	if got := a.Hash("C1"); got != "69c5daa8748e920ef68178a7b76d6e0d006f6b6cbd56a2eb4eb733b322a5cccc" {
		t.Errorf("Hash(C1) = %s", got)
	}
	if _, err := NewHasher(salt[:15], "acme", "k"); err == nil {
		t.Error("a 15-byte salt was accepted")
	}
}
