// Byte tables and eight-bytes-at-a-time scanning of plain runs.

package canonjson

import (
	"encoding/binary"
	"math/bits"
)

var scalarByte, stringStop, plainByte, structural [256]bool

func init() {
	for c := 0; c < 256; c++ {
		scalarByte[c] = c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '+' || c == '-' || c == '.'
		stringStop[c] = c == '"' || c == '\\'
		plainByte[c] = c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
		structural[c] = c == '"' || c == '{' || c == '[' || c == '}' || c == ']'
	}
}

// SWAR constants: test eight bytes at once.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// zeroBytes has the high bit set in (at least) the lowest byte of x that
// is zero; bytes above it may be false positives.
func zeroBytes(x uint64) uint64 { return (x - ones) & ^x & highs }

// plainRun returns the length of the prefix of b that a string copies as
// it is: ASCII from 0x20 on, except '"' and '\\'.
func plainRun(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		m := (x-0x20*ones)&^x&highs | zeroBytes(x^'"'*ones) | zeroBytes(x^'\\'*ones) | x&highs
		if m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(b) && plainByte[b[i]] {
		i++
	}
	return i
}

// quoteRun returns the length of the prefix of b without '"' or '\\'.
func quoteRun(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if m := zeroBytes(x^'"'*ones) | zeroBytes(x^'\\'*ones); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(b) && !stringStop[b[i]] {
		i++
	}
	return i
}
