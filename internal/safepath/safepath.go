// Package safepath decides which entry names a bundle may carry
// (docs/format.md#entry-names): relative, '/'-separated, no "./" prefix, no "." or ".."
// component, no empty component, valid UTF-8, and no byte that cannot
// round-trip through `sha256sum` text format (newline, backslash, NUL, and
// the other ASCII control characters).
package safepath

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// MaxLen is the longest path accepted, in bytes.
const MaxLen = 4096

// ErrUnsafe is wrapped by every *Error.
var ErrUnsafe = errors.New("unsafe path")

// Error describes why Name is refused.
type Error struct {
	Name   string
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("unsafe path %q: %s", clip(e.Name), e.Reason)
}

func (e *Error) Unwrap() []error { return []error{ErrUnsafe, exitcode.ErrInvalid} }

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// Check returns nil when name is a safe file path, or, when dir is true, a
// safe directory path (which must end in '/').
func Check(name string, dir bool) error {
	bad := func(reason string) error { return &Error{Name: name, Reason: reason} }
	if name == "" {
		return bad("empty name")
	}
	if len(name) > MaxLen {
		return bad(fmt.Sprintf("longer than %d bytes", MaxLen))
	}
	if !utf8.ValidString(name) {
		return bad("not valid UTF-8")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == 0:
			return bad("contains a NUL byte")
		case c == '\n':
			return bad("contains a newline")
		case c == '\\':
			return bad("contains a backslash")
		case c < 0x20 || c == 0x7f:
			return bad(fmt.Sprintf("contains control character %#02x", c))
		}
	}
	if name[0] == '/' {
		return bad("absolute path")
	}
	body := name
	if dir {
		if !strings.HasSuffix(name, "/") {
			return bad("directory name without trailing '/'")
		}
		body = strings.TrimSuffix(name, "/")
	} else if strings.HasSuffix(name, "/") {
		return bad("file name ends in '/'")
	}
	for _, c := range strings.Split(body, "/") {
		switch c {
		case "":
			return bad("empty path component")
		case ".":
			return bad("'.' component")
		case "..":
			return bad("'..' component")
		}
	}
	return nil
}

// Parents returns the directory entries ("a/", "a/b/") that must precede
// name in an archive, outermost first.
func Parents(name string) []string {
	var out []string
	for i := 0; i < len(name)-1; i++ {
		if name[i] == '/' {
			out = append(out, name[:i+1])
		}
	}
	return out
}
