package checksums

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

const specFile = `root sha256:bfa01b440e811b7b436d08b97ad46663118bf5ed8417fc10902a4c6dde91c7a3
9e8b62f81ea5c66fa06ee53da032751386b37702153070c0e14dd1d316282fa7  README.md
e346432021b04179518d9614f3560ccd71354a4ee101ddcb893d6959a9d6301c  export.json
a8076d3d28d21e02012b20eaf7dbf75409a6277134439025f282e368e3305abf  verify-export.sh
`

func TestSpecVectorRoundTrip(t *testing.T) {
	f, err := Parse(strings.NewReader(specFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) != 3 || f.Index("export.json") != 1 || f.Index("nope") != -1 {
		t.Fatalf("parsed %+v", f)
	}
	g, err := Build(f.Entries)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(g.Bytes()); got != specFile {
		t.Fatalf("Build().Bytes() =\n%s\nwant\n%s", got, specFile)
	}
}

func TestParseRejects(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(specFile, "\n"), "\n")
	join := func(l ...string) string { return strings.Join(l, "\n") + "\n" }
	tests := []struct {
		name, in string
		code     int
	}{
		{"empty", "", exitcode.Invalid},
		{"no final LF", strings.TrimSuffix(specFile, "\n"), exitcode.Invalid},
		{"CRLF", strings.ReplaceAll(specFile, "\n", "\r\n"), exitcode.Invalid},
		{"blank line", join(lines[0], lines[1], "", lines[2]), exitcode.Invalid},
		{"bad root prefix", join("Root "+lines[0][5:], lines[1]), exitcode.Invalid},
		{"upper hex root", join(strings.ToUpper(lines[0]), lines[1]), exitcode.Invalid},
		{"unsorted", join(lines[0], lines[2], lines[1], lines[3]), exitcode.Invalid},
		{"duplicate", join(lines[0], lines[1], lines[1]), exitcode.Invalid},
		{"one space", join(lines[0], strings.Replace(lines[1], "  ", " ", 1)), exitcode.Invalid},
		{"binary marker", join(lines[0], strings.Replace(lines[1], "  ", " *", 1)), exitcode.Invalid},
		{"traversal", join(lines[0], lines[1][:66]+"../etc/passwd"), exitcode.Invalid},
		{"absolute", join(lines[0], lines[1][:66]+"/etc/passwd"), exitcode.Invalid},
		{"self", join(lines[0], lines[1][:66]+"checksums.txt"), exitcode.Invalid},
		{"lying root", join("root sha256:"+strings.Repeat("0", 64), lines[1], lines[2], lines[3]), exitcode.Verify},
		{"dropped line", join(lines[0], lines[1], lines[2]), exitcode.Verify},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.in))
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		if got := exitcode.For(err); got != tt.code {
			t.Errorf("%s: %v gives exit %d, want %d", tt.name, err, got, tt.code)
		}
	}
}

func TestParseTooLarge(t *testing.T) {
	r := repeatBytes('a', MaxSize+10)
	_, err := Parse(r)
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want *ParseError", err)
	}
}

type repeatReader struct {
	b    byte
	left int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.left)
	for i := range p[:n] {
		p[i] = r.b
	}
	r.left -= n
	return n, nil
}

func repeatBytes(b byte, n int) *repeatReader { return &repeatReader{b: b, left: n} }

func FuzzParse(f *testing.F) {
	f.Add([]byte(specFile))
	f.Add([]byte("root sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"))
	f.Add([]byte("root sha256:00\n"))
	f.Add([]byte(strings.ReplaceAll(specFile, "README.md", "../README.md")))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(bytes.NewReader(data))
		if err != nil {
			if exitcode.For(err) != exitcode.Invalid && exitcode.For(err) != exitcode.Verify && exitcode.For(err) != exitcode.IO {
				t.Fatalf("unexpected classification %d for %v", exitcode.For(err), err)
			}
			return
		}
		// Anything accepted must round-trip to the same bytes.
		again, err := Build(file.Entries)
		if err != nil {
			t.Fatalf("accepted file does not rebuild: %v", err)
		}
		if !bytes.Equal(again.Bytes(), data) {
			t.Fatalf("accepted file does not round-trip:\n%q\n%q", data, again.Bytes())
		}
	})
}

// Reader streams exactly Bytes' content, whatever the read size, and Size
// is its length.
func TestReaderSizes(t *testing.T) {
	var entries []Entry
	for i := range 300 {
		entries = append(entries, Entry{Path: fmt.Sprintf("dir/file-%04d.json", i), Digest: sha256.Sum256([]byte{byte(i)})})
	}
	f, err := Build(entries)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	want.WriteString("root " + f.Root.String() + "\n")
	for _, e := range entries {
		want.WriteString(e.Line() + "\n")
	}
	if f.Size() != int64(want.Len()) {
		t.Errorf("Size %d, want %d", f.Size(), want.Len())
	}
	for _, chunk := range []int{1, 7, 64, 4096, 1 << 20} {
		var got bytes.Buffer
		r := f.Reader()
		buf := make([]byte, chunk)
		for {
			n, err := r.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("read in %d-byte chunks: content differs", chunk)
		}
	}
}
