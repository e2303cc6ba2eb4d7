package javadb

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

// sum is the SHA-1 of s, as an index would give for a file holding s.
func sum(s string) [20]byte { return sha1.Sum([]byte(s)) }

// sample is a small index: two artefacts of one group, an aar, and a
// group that sorts before the others.
func sample() []Record {
	return []Record{
		{"org.example", "lib", "1.0.0", sum("lib-1.0.0"), Jar},
		{"org.example", "lib", "1.1.0", sum("lib-1.1.0"), Jar},
		{"org.example", "lib", "2.0.0", sum("lib-2.0.0"), Jar},
		{"org.example", "android-ui", "3.1", sum("android-ui-3.1"), Aar},
		{"com.acme", "core", "0.9-SNAPSHOT", sum("core-0.9"), Jar},
		{"javax.servlet", "jstl", "1.2", sum("jstl-1.2"), Jar},
		{"jstl", "jstl", "1.2", sum("jstl-jstl-1.2"), Jar},
	}
}

func sorted(recs []Record) []Record {
	out := slices.Clone(recs)
	slices.SortFunc(out, Compare)
	return out
}

func seq(recs []Record) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

var pinned = Metadata{
	UpdatedAt:    time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	NextUpdate:   time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC),
	DownloadedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
}

func write(t *testing.T, recs []Record) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := Write(context.Background(), dir, seq(recs), pinned); err != nil {
		t.Fatal(err)
	}
	return dir
}

func open(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", uri(filepath.Join(dir, DBPath))+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSchema checks the file against trivy-java-db's pkg/db Init: the
// same CREATE statements in the same order, the columns, the indexes with
// their uniqueness and column order, the foreign key; and the settings the
// bytes depend on (page size, no free pages, rollback-journal header).
func TestSchema(t *testing.T) {
	dir := write(t, sorted(sample()))
	db := open(t, dir)

	rows, err := db.Query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var typ, name, tbl, q string
		if err := rows.Scan(&typ, &name, &tbl, &q); err != nil {
			t.Fatal(err)
		}
		got = append(got, q)
	}
	rows.Close()
	want := []string{
		"CREATE TABLE artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT)",
		"CREATE TABLE indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT, foreign key (artifact_id) references artifacts(id))",
		"CREATE UNIQUE INDEX artifacts_idx ON artifacts(artifact_id, group_id)",
		"CREATE INDEX indices_artifact_idx ON indices(artifact_id)",
		"CREATE UNIQUE INDEX indices_sha1_idx ON indices(sha1)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("sqlite_master:\n got %q\nwant %q", got, want)
	}

	for table, want := range map[string]string{
		"artifacts": "id INTEGER pk1|group_id TEXT pk0|artifact_id TEXT pk0",
		"indices":   "artifact_id INTEGER pk0|version TEXT pk0|sha1 BLOB pk0|archive_type TEXT pk0",
	} {
		var cols []string
		query(t, db, "SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid", []any{table}, func(s func(...any) error) {
			var name, typ string
			var pk int
			check(t, s(&name, &typ, &pk))
			cols = append(cols, fmt.Sprintf("%s %s pk%d", name, typ, pk))
		})
		if g := strings.Join(cols, "|"); g != want {
			t.Errorf("table_info(%s) = %s, want %s", table, g, want)
		}
	}

	for table, want := range map[string]string{
		"artifacts": "artifacts_idx unique=1 (artifact_id,group_id)",
		"indices":   "indices_artifact_idx unique=0 (artifact_id)|indices_sha1_idx unique=1 (sha1)",
	} {
		var idx []string
		query(t, db, "SELECT name, \"unique\" FROM pragma_index_list(?) ORDER BY name", []any{table}, func(s func(...any) error) {
			var name string
			var unique int
			check(t, s(&name, &unique))
			var cols []string
			query(t, db, "SELECT name FROM pragma_index_info(?) ORDER BY seqno", []any{name}, func(s func(...any) error) {
				var c string
				check(t, s(&c))
				cols = append(cols, c)
			})
			idx = append(idx, fmt.Sprintf("%s unique=%d (%s)", name, unique, strings.Join(cols, ",")))
		})
		if g := strings.Join(idx, "|"); g != want {
			t.Errorf("index_list(%s) = %s, want %s", table, g, want)
		}
	}

	var fk []string
	query(t, db, `SELECT "table", "from", "to" FROM pragma_foreign_key_list('indices')`, nil, func(s func(...any) error) {
		var tbl, from, to string
		check(t, s(&tbl, &from, &to))
		fk = append(fk, tbl+"."+to+" <- "+from)
	})
	if g := strings.Join(fk, "|"); g != "artifacts.id <- artifact_id" {
		t.Errorf("foreign keys of indices: %s", g)
	}
	var bad int
	query(t, db, "SELECT count(*) FROM pragma_foreign_key_check", nil, func(s func(...any) error) { check(t, s(&bad)) })
	if bad != 0 {
		t.Errorf("foreign_key_check: %d violations", bad)
	}

	for pragma, want := range map[string]int64{"page_size": 4096, "freelist_count": 0, "auto_vacuum": 0, "user_version": 0, "application_id": 0} {
		var v int64
		if err := db.QueryRow("PRAGMA " + pragma).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != want {
			t.Errorf("PRAGMA %s = %d, want %d", pragma, v, want)
		}
	}
	var ok string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check: %s, %v", ok, err)
	}
	var enc string
	if err := db.QueryRow("PRAGMA encoding").Scan(&enc); err != nil || enc != "UTF-8" {
		t.Errorf("PRAGMA encoding = %q, %v", enc, err)
	}

	raw, err := os.ReadFile(filepath.Join(dir, DBPath))
	if err != nil {
		t.Fatal(err)
	}
	// Header bytes 18 and 19: 1 = rollback journal (2 would be WAL, which
	// a reader could not open without a -shm file beside it).
	if raw[18] != 1 || raw[19] != 1 {
		t.Errorf("header read/write versions %d/%d, want 1/1 (no WAL)", raw[18], raw[19])
	}
	for _, f := range []string{DBPath, MetadataPath} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", f, fi.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "java-db"))
	if len(entries) != 2 {
		t.Errorf("java-db holds %d files, want trivy-java.db and metadata.json only", len(entries))
	}
}

// TestLookup runs the queries of trivy-java-db's pkg/db that Trivy's
// pkg/javadb calls: SelectIndexBySha1 (the jar's SHA-1, hex-decoded to a
// BLOB), SelectIndexByArtifactIDAndGroupID (Exists) and
// SelectIndexesByArtifactIDAndFileType (SearchByArtifactID).
func TestLookup(t *testing.T) {
	recs := sample()
	db := open(t, write(t, sorted(recs)))

	bySHA1 := `SELECT a.group_id, a.artifact_id, i.version, i.sha1, i.archive_type
		FROM indices i JOIN artifacts a ON a.id = i.artifact_id WHERE i.sha1 = ?`
	for _, r := range recs {
		hexSum := hex.EncodeToString(r.SHA1[:])
		key, _ := hex.DecodeString(hexSum) // what Trivy does with digest.Encoded()
		var g, a, v, typ string
		var blob []byte
		if err := db.QueryRow(bySHA1, key).Scan(&g, &a, &v, &blob, &typ); err != nil {
			t.Fatalf("sha1 %s: %v", hexSum, err)
		}
		got := Record{GroupID: g, ArtifactID: a, Version: v, ArchiveType: typ}
		copy(got.SHA1[:], blob)
		if got != r || len(blob) != 20 {
			t.Errorf("sha1 %s: got %v (%d bytes), want %v", hexSum, got, len(blob), r)
		}
		// Hex text is not what is stored: it must not match.
		if err := db.QueryRow(bySHA1, hexSum).Scan(&g, &a, &v, &blob, &typ); !errors.Is(err, sql.ErrNoRows) {
			t.Errorf("sha1 as hex text %s: %v, want no rows", hexSum, err)
		}
	}
	var typ string
	var n int
	if err := db.QueryRow("SELECT DISTINCT typeof(sha1), length(sha1) FROM indices").Scan(&typ, &n); err != nil || typ != "blob" || n != 20 {
		t.Errorf("sha1 column: %s of %d bytes, %v", typ, n, err)
	}

	exists := `SELECT a.group_id, a.artifact_id, i.version, i.sha1, i.archive_type
		FROM indices i JOIN artifacts a ON a.id = i.artifact_id WHERE a.group_id = ? AND a.artifact_id = ?`
	var g, a, v string
	var blob []byte
	if err := db.QueryRow(exists, "org.example", "lib").Scan(&g, &a, &v, &blob, &typ); err != nil || g != "org.example" || a != "lib" {
		t.Errorf("exists org.example:lib: %s:%s, %v", g, a, err)
	}
	if err := db.QueryRow(exists, "org.example", "nope").Scan(&g, &a, &v, &blob, &typ); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("exists org.example:nope: %v, want no rows", err)
	}

	byArtifact := `SELECT f_id.group_id, f_id.artifact_id, i.version, i.sha1, i.archive_type
		FROM indices i
		JOIN (SELECT a.id, a.group_id, a.artifact_id FROM indices i JOIN artifacts a on a.id = i.artifact_id
		      WHERE a.artifact_id = ? AND i.version = ? AND i.archive_type = ?) f_id ON f_id.id = i.artifact_id`
	var groups []string
	query(t, db, byArtifact, []any{"jstl", "1.2", "jar"}, func(s func(...any) error) {
		check(t, s(&g, &a, &v, &blob, &typ))
		groups = append(groups, g)
	})
	slices.Sort(groups)
	if !slices.Equal(groups, []string{"javax.servlet", "jstl"}) {
		t.Errorf("jstl 1.2 jar: groups %v", groups)
	}

	// Artifacts are numbered in Compare order, one row per group:artifact.
	var ids []string
	query(t, db, "SELECT id, group_id, artifact_id FROM artifacts ORDER BY id", nil, func(s func(...any) error) {
		var id int
		check(t, s(&id, &g, &a))
		ids = append(ids, fmt.Sprintf("%d=%s:%s", id, g, a))
	})
	want := []string{"1=com.acme:core", "2=javax.servlet:jstl", "3=jstl:jstl", "4=org.example:android-ui", "5=org.example:lib"}
	if !slices.Equal(ids, want) {
		t.Errorf("artifacts %v, want %v", ids, want)
	}
}

// TestDeterministic writes the same records several times, from inputs in
// different orders put in order by a Collector (in memory and spilled),
// and wants the same bytes every time; the golden digest catches a change
// of the bytes themselves (a new SQLite, a new setting).
func TestDeterministic(t *testing.T) {
	recs := bigSample(3000)
	ref := write(t, sorted(recs))
	refDB := readFile(t, filepath.Join(ref, DBPath))
	refMeta := readFile(t, filepath.Join(ref, MetadataPath))

	for i, budget := range []int64{1 << 30, 4 << 10} {
		shuffled := slices.Clone(recs)
		rand.New(rand.NewPCG(uint64(i), 7)).Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		c := NewCollector(context.Background(), t.TempDir(), budget)
		for j, r := range shuffled {
			check(t, c.Add(Entry{r, Pos{"x.jsonl", j + 1}}))
		}
		out, err := c.Records(context.Background())
		check(t, err)
		dir := t.TempDir()
		_, err = Write(context.Background(), dir, out.All(), pinned)
		check(t, err)
		out.Close()
		c.Close()
		if !bytes.Equal(readFile(t, filepath.Join(dir, DBPath)), refDB) {
			t.Errorf("budget %d: database bytes differ from a write of the same records", budget)
		}
		if !bytes.Equal(readFile(t, filepath.Join(dir, MetadataPath)), refMeta) {
			t.Errorf("budget %d: metadata.json differs", budget)
		}
	}

	small := write(t, sorted(sample()))
	got := fmt.Sprintf("%x  %s\n%x  %s\n",
		sha256.Sum256(readFile(t, filepath.Join(small, DBPath))), DBPath,
		sha256.Sum256(readFile(t, filepath.Join(small, MetadataPath))), MetadataPath)
	golden := filepath.Join("testdata", "golden", "sample.sha256")
	if *update {
		check(t, os.MkdirAll(filepath.Dir(golden), 0o755))
		check(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	if want := string(readFile(t, golden)); got != want {
		t.Errorf("digests of the sample's outputs changed (go test ./internal/javadb -update, and review why):\n got %s\nwant %s", got, want)
	}
}

func TestMetadata(t *testing.T) {
	b, err := MarshalMetadata(Metadata{
		UpdatedAt:    time.Date(2026, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600)),
		NextUpdate:   pinned.NextUpdate,
		DownloadedAt: pinned.DownloadedAt,
	})
	check(t, err)
	want := `{"Version":1,"NextUpdate":"2026-03-04T12:00:00Z","UpdatedAt":"2026-03-01T12:00:00Z","DownloadedAt":"2026-03-01T12:00:00Z"}` + "\n"
	if string(b) != want {
		t.Errorf("metadata.json:\n got %s\nwant %s", b, want)
	}
	// Read back as trivy-java-db's db.Metadata is.
	var m struct {
		Version                             int `json:",omitempty"`
		NextUpdate, UpdatedAt, DownloadedAt time.Time
	}
	check(t, json.NewDecoder(bytes.NewReader(b)).Decode(&m))
	if m.Version != SchemaVersion || !m.UpdatedAt.Equal(pinned.UpdatedAt) || !m.NextUpdate.Equal(pinned.NextUpdate) {
		t.Errorf("decoded %+v", m)
	}
}

// TestWriteRefusals: input Write cannot store as given stops it with the
// right code, and leaves java-db/ empty.
func TestWriteRefusals(t *testing.T) {
	a := Record{"org.a", "x", "1", sum("a"), Jar}
	b := Record{"org.b", "y", "1", sum("b"), Jar}
	sameSHA := Record{"org.c", "z", "1", sum("a"), Jar}
	cases := []struct {
		name string
		recs []Record
		code int
		msg  string
	}{
		{"out of order", []Record{b, a}, exitcode.Invalid, "record 2 (org.a:x:1:jar): out of order after org.b:y:1:jar"},
		{"twice", []Record{a, a}, exitcode.Invalid, "record 2 (org.a:x:1:jar): given twice"},
		{"same sha1", []Record{a, sameSHA}, exitcode.Invalid, "is stored already for another record"},
		{"same sha1, same artifact", []Record{a, {"org.a", "x", "2", sum("a"), Jar}}, exitcode.Invalid, "is stored already"},
		{"bad archive type", []Record{{"org.a", "x", "1", sum("a"), "war"}}, exitcode.Invalid, `archive_type: "war" is not one of jar, aar`},
		{"empty group", []Record{{"", "x", "1", sum("a"), Jar}}, exitcode.Invalid, "group_id: must not be empty"},
		{"NUL in version", []Record{{"g", "x", "1\x00", sum("a"), Jar}}, exitcode.Invalid, "version:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Write(context.Background(), dir, seq(tc.recs), pinned)
			if err == nil || exitcode.For(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v (exit %d), want exit %d with %q", err, exitcode.For(err), tc.code, tc.msg)
			}
			assertEmpty(t, filepath.Join(dir, "java-db"))
		})
	}

	t.Run("iterator error", func(t *testing.T) {
		dir := t.TempDir()
		boom := exitcode.Invalidf("boom")
		recs := func(yield func(Record, error) bool) { _ = yield(a, nil) && yield(Record{}, boom) }
		if _, err := Write(context.Background(), dir, recs, pinned); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
		assertEmpty(t, filepath.Join(dir, "java-db"))
	})

	t.Run("cancelled", func(t *testing.T) {
		dir := t.TempDir()
		ctx, cancel := context.WithCancelCause(context.Background())
		recs := func(yield func(Record, error) bool) {
			for i := range 5000 {
				if i == 2000 {
					cancel(exitcode.ErrInterrupted)
				}
				if !yield(Record{"g", "a", fmt.Sprintf("%05d", i), sum(fmt.Sprint(i)), Jar}, nil) {
					return
				}
			}
		}
		_, err := Write(ctx, dir, recs, pinned)
		if exitcode.For(err) != exitcode.Interrupted {
			t.Fatalf("err = %v (exit %d), want exit 130", err, exitcode.For(err))
		}
		assertEmpty(t, filepath.Join(dir, "java-db"))
	})

	t.Run("existing output", func(t *testing.T) {
		dir := write(t, []Record{a})
		before := readFile(t, filepath.Join(dir, DBPath))
		_, err := Write(context.Background(), dir, seq([]Record{b}), pinned)
		if exitcode.For(err) != exitcode.Conflict {
			t.Fatalf("err = %v (exit %d), want exit 5", err, exitcode.For(err))
		}
		if !bytes.Equal(readFile(t, filepath.Join(dir, DBPath)), before) {
			t.Error("the existing database was changed")
		}
		if entries, _ := os.ReadDir(filepath.Join(dir, "java-db")); len(entries) != 2 {
			t.Errorf("java-db holds %d files, want the 2 there before", len(entries))
		}
	})

	t.Run("existing metadata", func(t *testing.T) {
		dir := t.TempDir()
		check(t, os.MkdirAll(filepath.Join(dir, "java-db"), 0o755))
		check(t, os.WriteFile(filepath.Join(dir, MetadataPath), []byte("{}"), 0o644))
		_, err := Write(context.Background(), dir, seq([]Record{a}), pinned)
		if exitcode.For(err) != exitcode.Conflict {
			t.Fatalf("err = %v (exit %d), want exit 5", err, exitcode.For(err))
		}
		if _, err := os.Stat(filepath.Join(dir, DBPath)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("database left behind: %v", err)
		}
	})
}

// TestWriteEmpty: no records still make a valid database Trivy can open
// (every lookup finds nothing).
func TestWriteEmpty(t *testing.T) {
	dir := t.TempDir()
	st, err := Write(context.Background(), dir, seq(nil), pinned)
	if err != nil || st != (Stats{}) {
		t.Fatalf("Write: %+v, %v", st, err)
	}
	var n int
	if err := open(t, dir).QueryRow("SELECT count(*) FROM indices").Scan(&n); err != nil || n != 0 {
		t.Errorf("indices: %d rows, %v", n, err)
	}
}

// TestWriteOddPath: a directory name with URI syntax in it (?, #, %) is a
// plain name, not parameters.
func TestWriteOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?mode=ro#x%20y")
	check(t, os.Mkdir(dir, 0o755))
	st, err := Write(context.Background(), dir, seq(sorted(sample())), pinned)
	if err != nil || st.Indices != len(sample()) || st.Artifacts != 5 {
		t.Fatalf("Write: %+v, %v", st, err)
	}
	var n int
	if err := open(t, dir).QueryRow("SELECT count(*) FROM indices").Scan(&n); err != nil || n != len(sample()) {
		t.Errorf("indices: %d rows, %v", n, err)
	}
}

// bigSample makes n records over several groups and artifacts.
func bigSample(n int) []Record {
	out := make([]Record, n)
	for i := range out {
		out[i] = Record{
			GroupID:     fmt.Sprintf("org.g%d", i%37),
			ArtifactID:  fmt.Sprintf("a%d", i%101),
			Version:     fmt.Sprintf("1.%d", i),
			SHA1:        sum(fmt.Sprint("file", i)),
			ArchiveType: []string{Jar, Aar}[i%2],
		}
	}
	return out
}

func query(t *testing.T, db *sql.DB, q string, args []any, row func(scan func(...any) error)) {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	for rows.Next() {
		row(rows.Scan)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	check(t, err)
	return b
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind: %s", filepath.Join(dir, e.Name()))
	}
}
