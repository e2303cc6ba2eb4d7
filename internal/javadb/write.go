package javadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strings"

	"github.com/mattn/go-sqlite3"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// schema is trivy-java-db's pkg/db (*DB).Init, statement for statement.
var schema = []string{
	"CREATE TABLE artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT)",
	"CREATE TABLE indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT, foreign key (artifact_id) references artifacts(id))",
	"CREATE UNIQUE INDEX artifacts_idx ON artifacts(artifact_id, group_id)",
	"CREATE INDEX indices_artifact_idx ON indices(artifact_id)",
	"CREATE UNIQUE INDEX indices_sha1_idx ON indices(sha1)",
}

// setup makes the scratch database: a fixed page size and encoding, no
// journal and no syncs (the scratch file is thrown away; the result is a
// fresh VACUUM INTO), a page cache capped at 16 MiB whatever the number of
// records, and temporary b-trees on disk.
var setup = []string{
	"PRAGMA page_size=4096",
	"PRAGMA encoding='UTF-8'",
	"PRAGMA auto_vacuum=NONE",
	"PRAGMA journal_mode=OFF",
	"PRAGMA synchronous=OFF",
	"PRAGMA locking_mode=EXCLUSIVE",
	"PRAGMA cache_size=-16384",
	"PRAGMA temp_store=FILE",
	"PRAGMA foreign_keys=ON",
}

// Stats counts what was stored.
type Stats struct {
	Artifacts int // rows of artifacts: distinct (group_id, artifact_id)
	Indices   int // rows of indices: artefact files
}

// Write writes DBPath and MetadataPath below the export directory dir,
// creating java-db/. records must come in Compare order with no two
// equal and no SHA-1 twice (a Collector's output is); a record out of
// order, invalid, or repeating a SHA-1 stops the write with exit 3. An
// existing output is never replaced (exit 5). On any error nothing is left
// behind.
func Write(ctx context.Context, dir string, records iter.Seq2[Record, error], meta Metadata) (Stats, error) {
	mb, err := MarshalMetadata(meta)
	if err != nil {
		return Stats{}, err
	}
	sub := filepath.Join(dir, filepath.FromSlash(filepath.Dir(DBPath)))
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return Stats{}, fmt.Errorf("java-db: %w", err)
	}
	dbPath := filepath.Join(dir, filepath.FromSlash(DBPath))
	st, err := WriteDB(ctx, dbPath, records)
	if err != nil {
		return Stats{}, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, filepath.FromSlash(MetadataPath)), mb, 0o644, false); err != nil {
		os.Remove(dbPath)
		return Stats{}, fmt.Errorf("java-db: write metadata: %w", err)
	}
	return st, nil
}

// WriteDB writes the database alone to path (which must not exist), from
// records in Compare order. See Write.
func WriteDB(ctx context.Context, path string, records iter.Seq2[Record, error]) (st Stats, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Stats{}, fmt.Errorf("java-db %s: %w", path, err)
	}
	out, err := atomicfile.Create(abs, false)
	if err != nil {
		return Stats{}, fmt.Errorf("java-db: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			out.Abort()
		}
	}()

	scratchFile, err := os.CreateTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".*.build")
	if err != nil {
		return Stats{}, fmt.Errorf("java-db: %w", err)
	}
	scratch := scratchFile.Name()
	scratchFile.Close()
	defer os.Remove(scratch)

	db, err := sql.Open("sqlite3", uri(scratch))
	if err != nil {
		return Stats{}, fmt.Errorf("java-db: open %s: %w", scratch, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("java-db: open %s: %w", scratch, exitcode.Cause(ctx, err))
	}
	defer conn.Close()

	for _, q := range append(append([]string{}, setup...), schema...) {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return Stats{}, fmt.Errorf("java-db: %s: %w", q, exitcode.Cause(ctx, err))
		}
	}
	if st, err = insert(ctx, conn, records); err != nil {
		return Stats{}, err
	}
	// VACUUM INTO wants a new or empty file: out is the empty temporary
	// file atomicfile made; it syncs and renames it at Commit.
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", out.TempName()); err != nil {
		return Stats{}, fmt.Errorf("java-db: vacuum into %s: %w", out.TempName(), exitcode.Cause(ctx, err))
	}
	if err := conn.Close(); err != nil {
		return Stats{}, fmt.Errorf("java-db: close %s: %w", scratch, err)
	}
	if err := db.Close(); err != nil {
		return Stats{}, fmt.Errorf("java-db: close %s: %w", scratch, err)
	}
	if err := out.Commit(); err != nil {
		return Stats{}, fmt.Errorf("java-db: %w", err)
	}
	committed = true
	return st, nil
}

// insert stores records in one transaction.
func insert(ctx context.Context, conn *sql.Conn, records iter.Seq2[Record, error]) (Stats, error) {
	var st Stats
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return st, fmt.Errorf("java-db: begin: %w", exitcode.Cause(ctx, err))
	}
	defer tx.Rollback()
	artStmt, err := tx.PrepareContext(ctx, "INSERT INTO artifacts(id, group_id, artifact_id) VALUES (?, ?, ?)")
	if err != nil {
		return st, fmt.Errorf("java-db: %w", err)
	}
	defer artStmt.Close()
	idxStmt, err := tx.PrepareContext(ctx, "INSERT INTO indices(artifact_id, version, sha1, archive_type) VALUES (?, ?, ?, ?)")
	if err != nil {
		return st, fmt.Errorf("java-db: %w", err)
	}
	defer idxStmt.Close()

	var prev Record
	for rec, err := range records {
		if err != nil {
			return st, err
		}
		if st.Indices%1024 == 0 && ctx.Err() != nil {
			return st, exitcode.Cause(ctx, ctx.Err())
		}
		if field, reason := rec.Validate(); field != "" {
			return st, exitcode.Invalidf("java-db: record %d (%s): %s: %s", st.Indices+1, rec, field, reason)
		}
		newArtifact := st.Indices == 0 || rec.GroupID != prev.GroupID || rec.ArtifactID != prev.ArtifactID
		if st.Indices > 0 {
			if c := Compare(prev, rec); c > 0 {
				return st, exitcode.Invalidf("java-db: record %d (%s): out of order after %s", st.Indices+1, rec, prev)
			} else if c == 0 {
				return st, exitcode.Invalidf("java-db: record %d (%s): given twice", st.Indices+1, rec)
			}
		}
		if newArtifact {
			st.Artifacts++
			if _, err := artStmt.ExecContext(ctx, st.Artifacts, rec.GroupID, rec.ArtifactID); err != nil {
				return st, fmt.Errorf("java-db: insert artifact %s:%s: %w", rec.GroupID, rec.ArtifactID, exitcode.Cause(ctx, err))
			}
		}
		if _, err := idxStmt.ExecContext(ctx, st.Artifacts, rec.Version, rec.SHA1[:], rec.ArchiveType); err != nil {
			var serr sqlite3.Error
			if errors.As(err, &serr) && serr.ExtendedCode == sqlite3.ErrConstraintUnique {
				return st, exitcode.Invalidf("java-db: record %d (%s): sha1 %x is stored already for another record", st.Indices+1, rec, rec.SHA1)
			}
			return st, fmt.Errorf("java-db: insert %s: %w", rec, exitcode.Cause(ctx, err))
		}
		st.Indices++
		prev = rec
	}
	if err := tx.Commit(); err != nil {
		return st, fmt.Errorf("java-db: commit: %w", exitcode.Cause(ctx, err))
	}
	return st, nil
}

// uri names path for sqlite3_open_v2 with URI filenames on (as
// go-sqlite3 opens): "file:" and the absolute path with %, ? and #
// escaped, so that no character of the path is read as a parameter.
func uri(abs string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return "file:" + r.Replace(abs)
}
