package export

import (
	"database/sql"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// twin writes testCSV into a SQLite database at dir/db.sqlite, the
// integer and real columns typed, the dates as DATE (which go-sqlite3
// reads as times) and as TEXT.
func twin(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	must(t, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE client (PersonalID TEXT, SSN TEXT, Gender INTEGER, DV INTEGER, Income REAL, EntryDate DATE, ExitDate TEXT, Extra BLOB)`)
	must(t, err)
	recs, err := csv.NewReader(strings.NewReader(testCSV)).ReadAll()
	must(t, err)
	for _, r := range recs[1:] {
		args := make([]any, len(r)+1)
		for i, v := range r {
			if v != "" {
				args[i] = v
			}
		}
		args[len(r)] = []byte{0, 1}
		_, err := db.Exec(`INSERT INTO client VALUES (?, ?, CAST(? AS INTEGER), CAST(? AS INTEGER), CAST(? AS REAL), ?, ?, ?)`, args...)
		must(t, err)
	}
}

func TestSQLiteTwin(t *testing.T) {
	csvRun, err := run(t, "format: jsonl", "")
	if err != nil {
		t.Fatal(err)
	}
	want := string(csvRun.files["data/part-00001.jsonl"])
	for _, ref := range []string{"sqlite:db.sqlite?table=client", `"sqlite:db.sqlite?query=SELECT * FROM client ORDER BY rowid"`} {
		f, err := runWith(t, "format: jsonl", "", ref, func(dir string) { twin(t, filepath.Join(dir, "db.sqlite")) })
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if got := string(f.files["data/part-00001.jsonl"]); got != want {
			t.Errorf("%s:\n%s\nwant (the CSV twin's):\n%s", ref, got, want)
		}
		if !strings.HasPrefix(f.res.SourceDigest, "sha256:") {
			t.Errorf("source digest %q", f.res.SourceDigest)
		}
	}
}

func TestSQLiteErrors(t *testing.T) {
	mk := func(dir string) { twin(t, filepath.Join(dir, "db.sqlite")) }
	for ref, want := range map[string]string{
		"sqlite:db.sqlite?table=nope":                            "no such table: nope",
		`"sqlite:db.sqlite?query=SELECT PersonalID FROM client"`: "the query's result has no column SSN of the schema",
		`"sqlite:db.sqlite?query=SELECT 'x' AS PersonalID, 1 AS SSN, 'a' AS Gender, 1 AS DV, 1 AS Income, '2024-01-01' AS EntryDate, NULL AS ExitDate"`: `row 1: column Gender: "a" is not an integer`,
	} {
		_, err := runWith(t, "format: jsonl", "", ref, mk)
		if err == nil || !strings.Contains(err.Error(), want) || exitcode.For(err) != exitcode.Invalid {
			t.Errorf("%s: %v (exit %d), want %q (exit 3)", ref, err, exitcode.For(err), want)
		}
	}
	// not a database: exit 3, the file named
	_, err := runWith(t, "format: jsonl", "", "sqlite:db.sqlite?table=client", func(dir string) {
		must(t, os.WriteFile(filepath.Join(dir, "db.sqlite"), []byte(strings.Repeat("not a database ", 100)), 0o644))
	})
	if err == nil || !strings.Contains(err.Error(), "file is not a database") || exitcode.For(err) != exitcode.Invalid {
		t.Errorf("not a database: %v", err)
	}
	// read-only: the source is not changed by a run
	dir := t.TempDir()
	p := filepath.Join(dir, "db.sqlite")
	twin(t, p)
	before, _ := os.ReadFile(p)
	if _, err := runWith(t, "format: jsonl", "", "sqlite:"+p+"?table=client", func(string) {}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(p)
	if string(before) != string(after) {
		t.Error("the SQLite source changed")
	}
}
