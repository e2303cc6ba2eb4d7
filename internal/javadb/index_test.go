package javadb

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

const good = `{"group_id":"org.example","artifact_id":"lib","version":"1.0.0","sha1":"2fd4e1c67a2d28fced849ee1bb76e7391b93eb12","archive_type":"jar"}`

func goodRecord() Record {
	r := Record{GroupID: "org.example", ArtifactID: "lib", Version: "1.0.0", ArchiveType: Jar}
	copy(r.SHA1[:], []byte{0x2f, 0xd4, 0xe1, 0xc6, 0x7a, 0x2d, 0x28, 0xfc, 0xed, 0x84, 0x9e, 0xe1, 0xbb, 0x76, 0xe7, 0x39, 0x1b, 0x93, 0xeb, 0x12})
	return r
}

func parseAll(t *testing.T, input string) ([]Entry, error) {
	t.Helper()
	var out []Entry
	err := ParseIndex(strings.NewReader(input), "idx/a.jsonl", func(e Entry) error { out = append(out, e); return nil }, nil)
	return out, err
}

// line replaces one field's text in the good line.
func line(field, value string) string {
	i := strings.Index(good, `"`+field+`":`)
	j := i + len(field) + 3
	k := j + 1 + strings.IndexByte(good[j+1:], '"') + 1
	return good[:j] + value + good[k:]
}

func TestParseIndexGood(t *testing.T) {
	cases := map[string]string{
		"one line, final newline":    good + "\n",
		"no final newline":           good,
		"CRLF":                       good + "\r\n",
		"spaces around":              "  " + good + " \t",
		"keys in another order":      `{"archive_type":"jar","sha1":"2fd4e1c67a2d28fced849ee1bb76e7391b93eb12","version":"1.0.0","artifact_id":"lib","group_id":"org.example"}`,
		"escaped key and value":      `{"group\u005fid":"org.ex\u0061mple","artifact_id":"lib","version":"1.0.0","sha1":"2fd4e1c67a2d28fced849ee1bb76e7391b93eb12","archive_type":"jar"}`,
		"whitespace inside the JSON": strings.ReplaceAll(good, ":", " : "),
	}
	for name, input := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := parseAll(t, input)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Record != goodRecord() || got[0].Pos != (Pos{"idx/a.jsonl", 1}) {
				t.Errorf("got %+v", got)
			}
		})
	}

	got, err := parseAll(t, good+"\n"+line("version", `"1.0.1"`)+"\n"+line("archive_type", `"aar"`)+"\n")
	if err != nil || len(got) != 3 || got[2].Pos.Line != 3 || got[1].Version != "1.0.1" || got[2].ArchiveType != Aar {
		t.Errorf("three lines: %+v, %v", got, err)
	}
	if got, err := parseAll(t, ""); err != nil || len(got) != 0 {
		t.Errorf("empty file: %+v, %v", got, err)
	}
	// A reader that returns one byte at a time sees the same.
	var n int
	err = ParseIndex(iotest.OneByteReader(strings.NewReader(good+"\n"+good)), "x", func(Entry) error { n++; return nil }, nil)
	if err != nil || n != 2 {
		t.Errorf("one byte at a time: %d records, %v", n, err)
	}
}

// TestParseIndexRefusals: each bad line is a *LineError (exit 3) naming
// file:line, the field, and why.
func TestParseIndexRefusals(t *testing.T) {
	cases := []struct {
		name, input, want string
	}{
		{"not JSON", `group_id=x`, `idx/a.jsonl:1: not valid JSON: invalid character 'g' looking for beginning of value`},
		{"array", `["a"]`, `idx/a.jsonl:1: not a JSON object`},
		{"string", `"a"`, `idx/a.jsonl:1: not a JSON object`},
		{"truncated", good[:40], `idx/a.jsonl:1: not valid JSON: unexpected end of line`},
		{"missing comma", strings.Replace(good, `,"version"`, ` "version"`, 1), `idx/a.jsonl:1: not valid JSON: invalid character '"' after object key:value pair`},
		{"two objects", good + good, `idx/a.jsonl:1: data after the JSON object`},
		{"trailing garbage", good + ` x`, `idx/a.jsonl:1: data after the JSON object`},
		{"trailing comma", strings.TrimSuffix(good, "}") + `,}`, `idx/a.jsonl:1: not valid JSON: invalid character '}' looking for beginning of object key string`},
		{"duplicate key", strings.TrimSuffix(good, "}") + `,"version":"2"}`, `idx/a.jsonl:1: version: given twice`},
		{"duplicate key, escaped", strings.TrimSuffix(good, "}") + `,"sha\u0031":"2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"}`, `idx/a.jsonl:1: sha1: given twice`},
		{"unknown field", strings.TrimSuffix(good, "}") + `,"classifier":"sources"}`, `idx/a.jsonl:1: classifier: unknown field; a line has group_id, artifact_id, version, sha1 and archive_type only`},
		{"camel case", strings.Replace(good, `"group_id"`, `"groupId"`, 1), `idx/a.jsonl:1: groupId: unknown field`},
		{"missing group_id", `{"artifact_id":"lib","version":"1","sha1":"2fd4e1c67a2d28fced849ee1bb76e7391b93eb12","archive_type":"jar"}`, `idx/a.jsonl:1: group_id: required`},
		{"missing archive_type", `{"group_id":"g","artifact_id":"lib","version":"1","sha1":"2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"}`, `idx/a.jsonl:1: archive_type: required`},
		{"empty object", `{}`, `idx/a.jsonl:1: group_id: required`},
		{"number", line("version", `1.0`), `idx/a.jsonl:1: version: must be a string`},
		{"null", line("sha1", `null`), `idx/a.jsonl:1: sha1: must be a string`},
		{"object", line("group_id", `{"a":"b"}`), `idx/a.jsonl:1: group_id: must be a string`},
		{"sha1 upper case", line("sha1", `"2FD4E1C67A2D28FCED849EE1BB76E7391B93EB12"`), `idx/a.jsonl:1: sha1: "2FD4E1C67A2D28FCED849EE1BB76E7391B93EB12" is not 40 lowercase hex digits`},
		{"sha1 short", line("sha1", `"2fd4e1c67a2d28fced849ee1bb76e7391b93eb1"`), `sha1: "2fd4e1c67a2d28fced849ee1bb76e7391b93eb1" is not 40 lowercase hex digits`},
		{"sha1 not hex", line("sha1", `"2fd4e1c67a2d28fced849ee1bb76e7391b93ebzz"`), `is not 40 lowercase hex digits`},
		{"sha256 given", line("sha1", `"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"`), `is not 40 lowercase hex digits`},
		{"archive type war", line("archive_type", `"war"`), `idx/a.jsonl:1: archive_type: "war" is not one of jar, aar`},
		{"archive type JAR", line("archive_type", `"JAR"`), `archive_type: "JAR" is not one of jar, aar`},
		{"empty group", line("group_id", `""`), `idx/a.jsonl:1: group_id: must not be empty`},
		{"space in artifact", line("artifact_id", `"my lib"`), `idx/a.jsonl:1: artifact_id: "my lib" has " "; only A-Z a-z 0-9 _ - . are allowed`},
		{"colon in group", line("group_id", `"org:x"`), `group_id: "org:x" has ":"`},
		{"slash in version", line("version", `"1.0/../x"`), `idx/a.jsonl:1: version: "1.0/../x" has "/"; \ / : " < > | ? * are not allowed`},
		{"tab in version", line("version", `"1.0\t"`), `version: "1.0\t" has whitespace or a control character (U+0009)`},
		{"NUL in version", line("version", `"1\u0000"`), `version: "1\x00" has whitespace or a control character (U+0000)`},
		{"lone surrogate", line("version", `"1\ud800"`), `has the replacement character U+FFFD`},
		{"empty version", line("version", `""`), `version: must not be empty`},
		{"long version", line("version", `"`+strings.Repeat("9", 1025)+`"`), `version: longer than 1024 bytes`},
		{"invalid UTF-8", line("version", "\"1\xff\""), `idx/a.jsonl:1: not valid UTF-8`},
		{"blank line", "\n", `idx/a.jsonl:1: blank line; each line must be one JSON object`},
		{"blank line with spaces", " \t\r\n", `idx/a.jsonl:1: blank line`},
		{"too long", `{"group_id":"` + strings.Repeat("a", MaxLine) + `"}`, fmt.Sprintf("idx/a.jsonl:1: line longer than %d bytes", MaxLine)},
		{"second line bad", good + "\n" + `{}` + "\n" + good, `idx/a.jsonl:2: group_id: required`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseAll(t, tc.input)
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *LineError", err)
			}
			if exitcode.For(err) != exitcode.Invalid {
				t.Errorf("exit %d, want 3", exitcode.For(err))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q\nwant %q", err, tc.want)
			}
		})
	}
}

// TestParseIndexSkip: with an invalid hook every bad line is reported
// with its number and the good ones still come through, a line too long
// for the buffer included; the hook's error stops the parse.
func TestParseIndexSkip(t *testing.T) {
	input := strings.Join([]string{
		good,
		`{}`,
		`{"group_id":"` + strings.Repeat("x", 3*MaxLine) + `"}`,
		line("version", `"2.0"`),
		``,
		line("version", `"3.0"`),
	}, "\n")
	var got []string
	var bad []string
	err := ParseIndex(strings.NewReader(input), "f", func(e Entry) error {
		got = append(got, fmt.Sprintf("%d:%s", e.Pos.Line, e.Version))
		return nil
	}, func(le *LineError) error {
		bad = append(bad, fmt.Sprintf("%d:%s", le.Line, le.Field))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if g := strings.Join(got, " "); g != "1:1.0.0 4:2.0 6:3.0" {
		t.Errorf("records %s", g)
	}
	if b := strings.Join(bad, " "); b != "2:group_id 3: 5:" {
		t.Errorf("invalid lines %s", b)
	}

	stop := errors.New("stop")
	n := 0
	err = ParseIndex(strings.NewReader(input), "f", func(Entry) error { n++; return nil }, func(*LineError) error { return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("hook error: %v after %d records, want stop after 1", err, n)
	}
	boom := errors.New("emit failed")
	if err := ParseIndex(strings.NewReader(input), "f", func(Entry) error { return boom }, nil); !errors.Is(err, boom) {
		t.Errorf("emit error: %v", err)
	}
	readErr := errors.New("disk gone")
	err = ParseIndex(io.MultiReader(strings.NewReader(good+"\n"), iotest.ErrReader(readErr)), "f", func(Entry) error { return nil }, nil)
	if !errors.Is(err, readErr) || !strings.Contains(err.Error(), "read f: disk gone") {
		t.Errorf("read error: %v", err)
	}
}

// FuzzParseIndex: no input panics, and every record that comes through is
// valid and round-trips.
func FuzzParseIndex(f *testing.F) {
	f.Add(good + "\n" + good)
	f.Add(`{"group_id":"a","group_id":"b"}`)
	f.Add("{}\n\n\r\n")
	f.Fuzz(func(t *testing.T, input string) {
		_ = ParseIndex(strings.NewReader(input), "f", func(e Entry) error {
			if field, reason := e.Validate(); field != "" {
				t.Fatalf("emitted an invalid record %v: %s: %s", e.Record, field, reason)
			}
			return nil
		}, func(*LineError) error { return nil })
	})
}
