package javadb

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

func collect(t *testing.T, budget int64, onConflict func(*ConflictError) error, files map[string]string) (*Collector, []Record, error) {
	t.Helper()
	c := NewCollector(context.Background(), t.TempDir(), budget)
	t.Cleanup(func() { c.Close() })
	c.OnConflict = onConflict
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := ParseIndex(strings.NewReader(files[n]), n, c.Add, nil); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.Records(context.Background())
	if err != nil {
		return c, nil, err
	}
	defer out.Close()
	var recs []Record
	for r, err := range out.All() {
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if out.Len() != len(recs) {
		t.Errorf("Len %d, yielded %d", out.Len(), len(recs))
	}
	return c, recs, nil
}

// other1 and other2 are good lines with another SHA-1 and one field
// changed.
func other1(field, value string) string {
	return strings.Replace(line(field, value), "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12", "1111111111111111111111111111111111111111", 1)
}

func other2(field, value string) string {
	return strings.Replace(line(field, value), "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12", "2222222222222222222222222222222222222222", 1)
}

// TestCollectorConflict: one SHA-1 for two coordinates names both lines.
func TestCollectorConflict(t *testing.T) {
	other := line("version", `"9.9"`)
	_, _, err := collect(t, 1<<20, nil, map[string]string{
		"java-index/a.jsonl": other1("version", `"0.1"`) + "\n" + good + "\n",
		"java-index/b.jsonl": line("sha1", `"0000000000000000000000000000000000000000"`) + "\n" + good + "\n" + other + "\n",
	})
	var ce *ConflictError
	if !errors.As(err, &ce) || exitcode.For(err) != exitcode.Invalid {
		t.Fatalf("err = %v (exit %d), want a *ConflictError, exit 3", err, exitcode.For(err))
	}
	// good appears in both files with the same coordinates (a repeat);
	// other gives its SHA-1 to org.example:lib:9.9.
	want := "java-index/b.jsonl:3: sha1 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12: org.example:lib:9.9:jar here, org.example:lib:1.0.0:jar at java-index/a.jsonl:2"
	if err.Error() != want {
		t.Errorf("err = %q\nwant %q", err, want)
	}

	// Another archive type is another artefact too.
	_, _, err = collect(t, 1<<20, nil, map[string]string{"x": good + "\n" + line("archive_type", `"aar"`)})
	if !errors.As(err, &ce) || ce.First.Pos.Line != 1 || ce.Second.Pos.Line != 2 {
		t.Errorf("jar and aar of one sha1: %v", err)
	}
}

// TestCollectorDedupe: an identical repeat is kept once, from its first
// line; the result is in Compare order whatever the budget.
func TestCollectorDedupe(t *testing.T) {
	files := map[string]string{
		"a.jsonl": other1("group_id", `"zz.last"`) + "\n" + good + "\n" + other2("version", `"0.5"`) + "\n",
		"b.jsonl": good + "\n" + good + "\n" + other2("version", `"0.5"`) + "\n",
	}
	for _, budget := range []int64{1 << 20, 1} {
		c, recs, err := collect(t, budget, nil, files)
		if err != nil {
			t.Fatal(err)
		}
		if c.Duplicates != 3 || c.Len() != 6 {
			t.Errorf("budget %d: Duplicates %d of %d, want 3 of 6", budget, c.Duplicates, c.Len())
		}
		if !slices.IsSortedFunc(recs, Compare) || len(recs) != 3 {
			t.Fatalf("budget %d: %v", budget, recs)
		}
		var got []string
		for _, r := range recs {
			got = append(got, r.String())
		}
		want := []string{"org.example:lib:0.5:jar", "org.example:lib:1.0.0:jar", "zz.last:lib:1.0.0:jar"}
		if !slices.Equal(got, want) {
			t.Errorf("budget %d: %v, want %v", budget, got, want)
		}
	}
}

// TestCollectorOnConflict: under --skip-invalid every record of a
// conflicting SHA-1 is left out and reported once; the rest is kept.
func TestCollectorOnConflict(t *testing.T) {
	var reported []string
	c, recs, err := collect(t, 1<<20, func(ce *ConflictError) error {
		reported = append(reported, ce.First.Pos.String()+" "+ce.Second.Pos.String())
		return nil
	}, map[string]string{
		"a": good + "\n" + line("version", `"2"`) + "\n" + line("version", `"3"`) + "\n" +
			line("sha1", `"1111111111111111111111111111111111111111"`) + "\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].SHA1[0] != 0x11 || c.Conflicts != 1 {
		t.Errorf("kept %v, conflicts %d", recs, c.Conflicts)
	}
	if !slices.Equal(reported, []string{"a:1 a:2"}) {
		t.Errorf("reported %v", reported)
	}

	stop := errors.New("stop")
	_, _, err = collect(t, 1<<20, func(*ConflictError) error { return stop }, map[string]string{"a": good + "\n" + line("version", `"2"`)})
	if !errors.Is(err, stop) {
		t.Errorf("hook error: %v", err)
	}
}

// TestCollectorRefuses records ParseIndex would not give.
func TestCollectorRefuses(t *testing.T) {
	c := NewCollector(context.Background(), t.TempDir(), 1<<20)
	defer c.Close()
	err := c.Add(Entry{Record{"g", "a", "1 2", sum("x"), Jar}, Pos{"f", 7}})
	var le *LineError
	if !errors.As(err, &le) || le.Field != "version" || !strings.HasPrefix(err.Error(), "f:7: version: ") {
		t.Errorf("invalid record: %v", err)
	}
	if err := c.Add(Entry{Record{"g", "a", "1", sum("x"), Jar}, Pos{"f\x00g", 1}}); err == nil {
		t.Error("a file name with NUL was taken")
	}
}

// TestCollectorSpillRemoved: the spill files go with Close.
func TestCollectorSpillRemoved(t *testing.T) {
	dir := t.TempDir()
	c := NewCollector(context.Background(), dir, 1)
	for i, r := range bigSample(200) {
		check(t, c.Add(Entry{r, Pos{"f", i + 1}}))
	}
	out, err := c.Records(context.Background())
	check(t, err)
	if entries, _ := os.ReadDir(dir); len(entries) == 0 {
		t.Fatal("nothing spilled with a budget of 1 byte")
	}
	n := 0
	for _, err := range out.All() {
		check(t, err)
		n++
	}
	if n != 200 {
		t.Errorf("%d records, want 200", n)
	}
	check(t, out.Close())
	check(t, c.Close())
	assertEmpty(t, dir)
}
