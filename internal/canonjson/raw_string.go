// Strings: RFC 8785 escaping, escape decoding and UTF-16 key comparison.

package canonjson

import (
	"cmp"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// appendStringBody reads the JSON string whose contents start at src[i]
// (after the opening quote) and appends it to dst: canonically escaped and
// with the closing quote when escape is set, decoded otherwise. It returns
// the index after the closing quote. When src ends first and final is not
// set, it returns errShort and the index of the first byte not consumed.
// Other errors are *SyntaxError with offsets relative to src.
func appendStringBody(dst, src []byte, i int, escape, final bool) ([]byte, int, error) {
	for {
		start := i
		i += plainRun(src[i:])
		dst = append(dst, src[start:i]...)
		if i >= len(src) {
			if !final {
				return dst, i, errShort
			}
			return dst, i, &SyntaxError{int64(i), "unexpected end of input in string"}
		}
		switch c := src[i]; {
		case c == '"':
			if escape {
				dst = append(dst, '"')
			}
			return dst, i + 1, nil
		case c == '\\':
			r, n, err := decodeEscape(src[i:], final)
			if err == errShort {
				return dst, i, err
			}
			if err != nil {
				return dst, i, rebase(err, int64(i))
			}
			if escape {
				dst = appendEscapedRune(dst, r)
			} else {
				dst = utf8.AppendRune(dst, r)
			}
			i += n
		case c < 0x20:
			return dst, i, &SyntaxError{int64(i), fmt.Sprintf("control character %s in string", quoteByte(c))}
		default:
			if !utf8.FullRune(src[i:]) {
				if !final {
					return dst, i, errShort
				}
				return dst, i, &SyntaxError{int64(i), "invalid UTF-8 in string"}
			}
			r, n := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && n == 1 {
				return dst, i, &SyntaxError{int64(i), "invalid UTF-8 in string"}
			}
			dst = append(dst, src[i:i+n]...)
			i += n
		}
	}
}

// decodeEscape decodes the escape sequence at b[0] ('\\').
func decodeEscape(b []byte, final bool) (rune, int, error) {
	if len(b) < 2 {
		if !final {
			return 0, 0, errShort
		}
		return 0, 0, &SyntaxError{0, "unexpected end of input in string"}
	}
	switch b[1] {
	case '"', '\\', '/':
		return rune(b[1]), 2, nil
	case 'b':
		return '\b', 2, nil
	case 'f':
		return '\f', 2, nil
	case 'n':
		return '\n', 2, nil
	case 'r':
		return '\r', 2, nil
	case 't':
		return '\t', 2, nil
	case 'u':
	default:
		return 0, 0, &SyntaxError{0, fmt.Sprintf("invalid escape \\%s in string", string(rune(b[1])))}
	}
	if len(b) < 6 && !final {
		return 0, 0, errShort
	}
	r := hex4(b[2:])
	if r < 0 {
		return 0, 0, &SyntaxError{0, "invalid \\u escape in string"}
	}
	if !utf16.IsSurrogate(r) {
		return r, 6, nil
	}
	if r >= 0xDC00 {
		return 0, 0, &SyntaxError{0, fmt.Sprintf("unpaired surrogate \\u%04x in string", r)}
	}
	if len(b) < 12 && !final {
		return 0, 0, errShort
	}
	if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
		if r2 := hex4(b[8:]); r2 >= 0xDC00 && r2 <= 0xDFFF {
			return utf16.DecodeRune(r, r2), 12, nil
		}
	}
	return 0, 0, &SyntaxError{0, fmt.Sprintf("unpaired surrogate \\u%04x in string", r)}
}

func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(v)
	}
	return r
}

const lowerHex = "0123456789abcdef"

// appendEscapedRune appends r as RFC 8785 section 3.2.2.2 serialises it
// inside a string.
func appendEscapedRune(dst []byte, r rune) []byte {
	switch r {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	if r < 0x20 {
		return append(dst, '\\', 'u', '0', '0', lowerHex[r>>4], lowerHex[r&0xf])
	}
	return utf8.AppendRune(dst, r)
}

// appendEscapedString appends the valid UTF-8 string s, quoted and
// escaped as RFC 8785 requires.
func appendEscapedString(dst, s []byte) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		start := i
		for i < len(s) && (plainByte[s[i]] || s[i] >= 0x80) {
			i++
		}
		dst = append(dst, s[start:i]...)
		if i < len(s) {
			dst = appendEscapedRune(dst, rune(s[i]))
			i++
		}
	}
	return append(dst, '"')
}

// compareUTF16 orders two valid UTF-8 strings by their UTF-16 code units,
// as RFC 8785 section 3.2.3 sorts object keys.
func compareUTF16[S ~string | ~[]byte](a, b S) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		return cmp.Compare(len(a), len(b))
	}
	for i > 0 && a[i]&0xc0 == 0x80 {
		i--
	}
	return cmp.Compare(utf16Rank(runeAt(a, i)), utf16Rank(runeAt(b, i)))
}

// utf16Rank maps code points to an order that agrees with comparing their
// UTF-16 encodings: supplementary characters (surrogate pairs, 0xD800...)
// sort between U+D7FF and U+E000.
func utf16Rank(r rune) rune {
	switch {
	case r < 0xd800:
		return r
	case r >= 0x10000:
		return 0xd800 + (r - 0x10000)
	default:
		return r + 0x100000
	}
}

// runeAt decodes the rune starting at s[i] of valid UTF-8.
func runeAt[S ~string | ~[]byte](s S, i int) rune {
	c := rune(s[i])
	switch {
	case c < 0x80:
		return c
	case c < 0xe0:
		return (c&0x1f)<<6 | rune(s[i+1]&0x3f)
	case c < 0xf0:
		return (c&0x0f)<<12 | rune(s[i+1]&0x3f)<<6 | rune(s[i+2]&0x3f)
	default:
		return (c&0x07)<<18 | rune(s[i+1]&0x3f)<<12 | rune(s[i+2]&0x3f)<<6 | rune(s[i+3]&0x3f)
	}
}
