package digest

import (
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
)

// The SHA-256 of "abc" (FIPS 180-2, appendix B.1).
const (
	abcHex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	abc    = "sha256:" + abcHex
)

func TestSumAndForms(t *testing.T) {
	d := Sum([]byte("abc"))
	if d.String() != abc || d.Hex() != abcHex {
		t.Fatalf("Sum(abc) = %s / %s", d, d.Hex())
	}
	h := sha256.New()
	h.Write([]byte("ab"))
	h.Write([]byte("c"))
	if Of(h) != d {
		t.Errorf("Of(h) = %s, want %s", Of(h), d)
	}
	if d.IsZero() || !(SHA256{}).IsZero() {
		t.Error("IsZero is wrong")
	}
}

func TestParseRoundTrip(t *testing.T) {
	d, err := Parse(abc)
	if err != nil || d != Sum([]byte("abc")) || d.String() != abc {
		t.Fatalf("Parse(%q) = %s, %v", abc, d, err)
	}
	b, err := ParseHex(abcHex)
	if err != nil || b != d || b.Hex() != abcHex {
		t.Fatalf("ParseHex(%q) = %s, %v", abcHex, b, err)
	}
}

func TestParseRefuses(t *testing.T) {
	upper := strings.ToUpper(abcHex)
	for _, s := range []string{
		"", "sha256:", abcHex, // Parse needs the prefix
		"sha256:" + upper, "SHA256:" + abcHex, "sha512:" + abcHex,
		abc[:len(abc)-1], abc + "0", abc + "00",
		"sha256:zz" + abcHex[2:], " " + abc, abc + "\n",
	} {
		if d, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %s, want an error", s, d)
		} else if !strings.Contains(err.Error(), "is not sha256:<64 lowercase hex>") {
			t.Errorf("Parse(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", abc, upper, abcHex[:63], abcHex + "0", abcHex + "00", "zz" + abcHex[2:], abcHex + " "} {
		if d, err := ParseHex(s); err == nil {
			t.Errorf("ParseHex(%q) = %s, want an error", s, d)
		} else if !strings.Contains(err.Error(), "is not 64 lowercase hex digits") {
			t.Errorf("ParseHex(%q): %v", s, err)
		}
	}
}

func TestText(t *testing.T) {
	type doc struct {
		Root SHA256 `json:"root"`
	}
	b, err := json.Marshal(doc{Root: Sum([]byte("abc"))})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"root":"` + abc + `"}`; string(b) != want {
		t.Errorf("json.Marshal = %s, want %s", b, want)
	}
	var back doc
	if err := json.Unmarshal(b, &back); err != nil || back.Root != Sum([]byte("abc")) {
		t.Errorf("json.Unmarshal(%s) = %s, %v", b, back.Root, err)
	}
	for _, bad := range []string{`{"root":"` + abcHex + `"}`, `{"root":"sha256:` + strings.ToUpper(abcHex) + `"}`, `{"root":"sha256:00"}`, `{"root":12}`} {
		var d doc
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("json.Unmarshal(%s) accepted: %s", bad, d.Root)
		}
	}
	var d SHA256
	if err := d.UnmarshalText([]byte(abc)); err != nil || d.String() != abc {
		t.Errorf("UnmarshalText = %s, %v", d, err)
	}
}
