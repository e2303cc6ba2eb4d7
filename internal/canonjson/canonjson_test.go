package canonjson

import (
	"strings"
	"testing"
)

func TestCanonicalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{` { "a" : [ 1 , 2 , { "z":null,"y":true } ] } `, `{"a":[1,2,{"y":true,"z":null}]}`},
		{`"<>&\u2028"`, "\"<>&\u2028\""},
		{`"\u0001\u001f\b\f\n\r\t\"\\/"`, `"\u0001\u001f\b\f\n\r\t\"\\/"`},
		{`"é😀"`, `"é😀"`},
		// RFC 8785 3.2.3: keys sort by UTF-16 code units, so U+1F600 (a
		// surrogate pair, 0xD83D) sorts before U+FB33 but after U+00E9.
		{`{"\ufb33":1,"😀":2,"é":3,"a":4}`, `{"a":4,"é":3,"😀":2,"דּ":1}`},
		{`-0`, `0`},
		{`9007199254740991`, `9007199254740991`},
		{`[]`, `[]`},
		{`{}`, `{}`},
	}
	for _, tt := range tests {
		got, err := Canonicalize([]byte(tt.in))
		if err != nil {
			t.Errorf("Canonicalize(%s): %v", tt.in, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("Canonicalize(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestCanonicalizeRejects(t *testing.T) {
	for _, in := range []string{
		`1.5`, `1e3`, `9007199254740992`, `{"a":1,"a":2}`, `{"a":1} x`, `[1,`, "\"\xff\"", ``,
		strings.Repeat("[", 300) + strings.Repeat("]", 300),
	} {
		if got, err := Canonicalize([]byte(in)); err == nil {
			t.Errorf("Canonicalize(%q) = %s, want error", in, got)
		}
	}
}

func TestMarshalLine(t *testing.T) {
	v := struct {
		Z string `json:"z"`
		A int    `json:"a"`
	}{"x<y", 3}
	got, err := MarshalLine(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\"a\":3,\"z\":\"x<y\"}\n"; string(got) != want {
		t.Fatalf("MarshalLine = %q, want %q", got, want)
	}
}
