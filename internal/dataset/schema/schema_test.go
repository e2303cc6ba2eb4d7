package schema

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

func TestSample(t *testing.T) {
	path := "../../../testdata/datasets/schemas/client.yaml"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(path, digest.Sum(b).String())
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "client" || s.SubjectID != "PersonalID" || len(s.Columns) != 13 || !s.Historical["DOB"] || len(s.Codes["Gender"]) != 9 ||
		len(s.DateSequences) != 1 || s.DateSequences[0] != (Sequence{"EntryDate", "ExitDate"}) {
		t.Errorf("schema %+v", s)
	}
	_, err = Load(path, "sha256:"+strings.Repeat("0", 64))
	var me *MismatchError
	if !errors.As(err, &me) || exitcode.For(err) != exitcode.Invalid {
		t.Errorf("mismatch: %v", err)
	}
}

func TestErrors(t *testing.T) {
	head := "name: t\nversion: \"1\"\n"
	for src, want := range map[string]string{
		"": "s.yaml: the schema is empty",
		"version: \"1\"\ncolumns: [{name: a, type: string}]": "s.yaml: name: missing",
		head: "s.yaml: columns: missing",
		head + "columns: [{name: a, type: money}]":                                                         `columns[0].type: column a: unknown type "money"`,
		head + "columns: [{name: a, type: int}, {name: a, type: int}]":                                     "columns[1].name: column a is listed twice",
		head + "columns: [{name: a, type: int, codes: [x]}]":                                               `columns[0].codes: column a: code "x" is not a int`,
		head + "columns: [{name: a, type: int, colour: red}]":                                              "field colour not found",
		head + "columns: [{name: a, type: int, historical: true}]":                                         "historical applies to date and timestamp columns",
		head + "columns: [{name: a, type: date}]\ndate_sequences: [[a, b]]":                                "date_sequences[0]: no column b",
		head + "columns: [{name: a, type: int, subject_id: true}, {name: b, type: int, subject_id: true}]": "a is the subject id already",
	} {
		_, err := Parse("s.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) || exitcode.For(err) != exitcode.Invalid {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	os.WriteFile(big, make([]byte, MaxSize+1), 0o644)
	if _, err := Load(big, ""); err == nil || exitcode.For(err) != exitcode.Invalid {
		t.Errorf("large schema: %v", err)
	}
}
