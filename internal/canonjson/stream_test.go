package canonjson

import (
	"bytes"
	"errors"
	"testing"
)

// TestWriteObjectSeq: an array given as a sequence streams the same bytes
// as one given by index, and an error from the sequence is returned.
func TestWriteObjectSeq(t *testing.T) {
	items := []any{map[string]int{"b": 1, "a": 2}, "x\u2028", 3}
	head := map[string]string{"z": "last", "a": "first"}
	var byIndex, bySeq bytes.Buffer
	if err := WriteObject(&byIndex, head, map[string]Array{"m": {Len: len(items), Item: func(i int) any { return items[i] }}}); err != nil {
		t.Fatal(err)
	}
	seq := func(yield func(any, error) bool) {
		for _, v := range items {
			if !yield(v, nil) {
				return
			}
		}
	}
	if err := WriteObject(&bySeq, head, map[string]Array{"m": {Seq: seq}}); err != nil {
		t.Fatal(err)
	}
	want := `{"a":"first","m":[{"a":2,"b":1},"x` + "\u2028" + `",3],"z":"last"}` + "\n"
	if byIndex.String() != want || bySeq.String() != want {
		t.Errorf("by index %s by sequence %s want %s", byIndex.String(), bySeq.String(), want)
	}
	boom := errors.New("boom")
	err := WriteObject(&bytes.Buffer{}, head, map[string]Array{"m": {Seq: func(yield func(any, error) bool) { yield(nil, boom) }}})
	if !errors.Is(err, boom) {
		t.Errorf("error from the sequence: %v, want %v", err, boom)
	}
}

// TestCompareKeys: keys order by UTF-16 code units, not UTF-8 bytes.
func TestCompareKeys(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"a", "b", -1}, {"ab", "a", 1}, {"\U0001F600", "\uff61", -1}, {"\uff61", "\U0001F600", 1}, {"x", "x", 0}} {
		if got := CompareKeys([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("CompareKeys(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestAppendString: AppendString writes what Marshal writes for a string,
// invalid UTF-8 included.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain/path.json", "q\"b\\s\n\t\x01\x7f", "<&>", "caf\u00e9 \u2028 \U0001F600", "bad\xff\xfe utf8"} {
		want, err := Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, Marshal gives %s", s, got, want)
		}
	}
}

// TestWriteObjectNested: an Object member is written in key order as a
// streamed object, its own arrays included, equal to Marshal's output.
func TestWriteObjectNested(t *testing.T) {
	head := map[string]string{"z": "last", "a": "first"}
	inner := &Object{Head: map[string]any{"mode": "age", "b": []int{2}}, Arrays: map[string]Array{"files": {Len: 2, Item: func(i int) any { return map[string]int{"n": i} }}}}
	var buf bytes.Buffer
	if err := WriteObject(&buf, head, map[string]Array{"enc": {Object: inner}, "m": {Len: 0}}); err != nil {
		t.Fatal(err)
	}
	want, err := MarshalLine(map[string]any{"z": "last", "a": "first", "m": []int{},
		"enc": map[string]any{"mode": "age", "b": []int{2}, "files": []any{map[string]int{"n": 0}, map[string]int{"n": 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(want) {
		t.Errorf("got %s want %s", buf.String(), want)
	}
}
