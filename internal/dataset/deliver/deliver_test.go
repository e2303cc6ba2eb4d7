package deliver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

func TestSnowflakeDDL(t *testing.T) {
	cols := []table.Column{{Name: "PersonalID", Type: table.String}, {Name: "n", Type: table.Int}, {Name: `od"d`, Type: table.Timestamp}}
	got := SnowflakeDDL("client", "snowflake://@stage/p/", "csv", "gzip", cols)
	want := `CREATE EXTERNAL TABLE IF NOT EXISTS "client" (
  "PersonalID" VARCHAR AS (VALUE:c1::VARCHAR),
  "n" NUMBER(38,0) AS (VALUE:c2::NUMBER(38,0)),
  "od""d" TIMESTAMP_TZ AS (VALUE:c3::TIMESTAMP_TZ)
)
LOCATION = @stage/p/data/
PATTERN = '.*part-[0-9]+[.]csv.*'
FILE_FORMAT = (TYPE = CSV SKIP_HEADER = 1 FIELD_OPTIONALLY_ENCLOSED_BY = '"' EMPTY_FIELD_AS_NULL = TRUE COMPRESSION = GZIP);
`
	if got != want {
		t.Errorf("DDL:\n%s\nwant:\n%s", got, want)
	}
	got = SnowflakeDDL("client", "@stage", "jsonl", "none", cols[:1])
	want = `CREATE EXTERNAL TABLE IF NOT EXISTS "client" (
  "PersonalID" VARCHAR AS (VALUE:"PersonalID"::VARCHAR)
)
LOCATION = @stage/data/
PATTERN = '.*part-[0-9]+[.]jsonl.*'
FILE_FORMAT = (TYPE = JSON COMPRESSION = NONE);
`
	if got != want {
		t.Errorf("JSON DDL:\n%s\nwant:\n%s", got, want)
	}
}

func TestLocal(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "x")
	os.MkdirAll(filepath.Join(src, "data"), 0o755)
	os.WriteFile(filepath.Join(src, "data", "part-00001.csv"), []byte("a\n"), 0o644)
	os.WriteFile(filepath.Join(src, "_SUCCESS"), []byte("ok\n"), 0o644)
	dest := filepath.Join(dir, "dest", "2024", "01")
	got, err := Local(context.Background(), src, dest)
	if err != nil || got != filepath.Join(dest, "x") {
		t.Fatalf("Local: %s %v", got, err)
	}
	if b, err := os.ReadFile(filepath.Join(got, "data", "part-00001.csv")); err != nil || string(b) != "a\n" {
		t.Errorf("copy: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(got, "_SUCCESS")); err != nil {
		t.Error(err)
	}
	_, err = Local(context.Background(), src, dest)
	var ce *ConflictError
	if !errors.As(err, &ce) || exitcode.For(err) != exitcode.Conflict {
		t.Errorf("second delivery: %v", err)
	}
	// a bundle file
	os.WriteFile(filepath.Join(dir, "x.tgz"), []byte("tgz"), 0o644)
	if got, err := Local(context.Background(), filepath.Join(dir, "x.tgz"), dest); err != nil || filepath.Base(got) != "x.tgz" {
		t.Errorf("bundle: %s %v", got, err)
	}
	if _, err := Local(context.Background(), filepath.Join(dir, "x.tgz"), dest); !errors.As(err, &ce) {
		t.Errorf("bundle again: %v", err)
	}
	// a symbolic link inside the export is refused, nothing delivered
	os.Symlink("/etc/passwd", filepath.Join(src, "data", "link"))
	if _, err := Local(context.Background(), src, filepath.Join(dir, "d2")); err == nil || exitcode.For(err) != exitcode.Invalid {
		t.Errorf("link: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "d2", "x")); err == nil {
		t.Error("a refused delivery left its target")
	}
}
