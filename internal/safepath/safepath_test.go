package safepath

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		dir  bool
		ok   bool
	}{
		{"README.md", false, true},
		{"data/raw/a.jsonl.zst", false, true},
		{"data/", true, true},
		{"a b/ü.txt", false, true},
		{"..a", false, true},
		{"", false, false},
		{"/etc/passwd", false, false},
		{"../x", false, false},
		{"a/../x", false, false},
		{"./x", false, false},
		{"a/./x", false, false},
		{"a//x", false, false},
		{"a/", false, false},
		{"a", true, false},
		{"a\nb", false, false},
		{"a\\b", false, false},
		{"a\x00b", false, false},
		{"a\rb", false, false},
		{"a\x7fb", false, false},
		{"\xff", false, false},
		{strings.Repeat("a", MaxLen+1), false, false},
		{"../", true, false},
	}
	for _, tt := range tests {
		err := Check(tt.name, tt.dir)
		if (err == nil) != tt.ok {
			t.Errorf("Check(%q, %v) = %v, want ok=%v", tt.name, tt.dir, err, tt.ok)
		}
		if err != nil && (!errors.Is(err, ErrUnsafe) || exitcode.For(err) != exitcode.Invalid) {
			t.Errorf("Check(%q): error %v is not classified as unsafe input", tt.name, err)
		}
	}
}

func TestParents(t *testing.T) {
	if got, want := Parents("a/b/c.txt"), []string{"a/", "a/b/"}; !slices.Equal(got, want) {
		t.Errorf("Parents = %q, want %q", got, want)
	}
	if got := Parents("a/"); len(got) != 0 {
		t.Errorf("Parents(a/) = %q", got)
	}
}
