package commands

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/rogpeppe/go-internal/testscript"
)

var datasetCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"noraw": cmdNoRaw,
}

// noraw SOURCE.csv COLUMN,... PATH...: no value of the named columns of
// SOURCE.csv appears in any file below each PATH (a directory or a .tgz
// bundle), gzip and zstd files decompressed too: hashed identifiers
// leave no raw value anywhere in an export.
func cmdNoRaw(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: noraw SOURCE.csv COLUMN,... PATH...")
	}
	f, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	ts.Check(err)
	var raw []string
	for _, col := range strings.Split(args[1], ",") {
		i := slices.Index(recs[0], col)
		if i < 0 {
			ts.Fatalf("noraw: no column %s in %s", col, args[0])
		}
		for _, r := range recs[1:] {
			if r[i] != "" {
				raw = append(raw, r[i])
			}
		}
	}
	if len(raw) == 0 {
		ts.Fatalf("noraw: no values to look for")
	}
	check := func(name string, data []byte) {
		data = expand(ts, name, data)
		for _, v := range raw {
			if bytes.Contains(data, []byte(v)) {
				ts.Fatalf("noraw: %s holds the raw value %q", name, v)
			}
		}
	}
	for _, p := range args[2:] {
		p = ts.MkAbs(p)
		if strings.HasSuffix(p, ".tgz") {
			f, err := os.Open(p)
			ts.Check(err)
			gz, err := gzip.NewReader(f)
			ts.Check(err)
			tr := tar.NewReader(gz)
			n := 0
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				ts.Check(err)
				data, err := io.ReadAll(tr)
				ts.Check(err)
				check(p+":"+h.Name, data)
				n++
			}
			f.Close()
			ts.Logf("noraw: %d entries of %s, %d values", n, p, len(raw))
			continue
		}
		n := 0
		ts.Check(filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			check(path, data)
			n++
			return nil
		}))
		ts.Logf("noraw: %d files below %s, %d values", n, p, len(raw))
	}
}

// expand decompresses gzip and zstd content.
func expand(ts *testscript.TestScript, name string, data []byte) []byte {
	switch {
	case strings.HasSuffix(name, ".gz"):
		gz, err := gzip.NewReader(bytes.NewReader(data))
		ts.Check(err)
		out, err := io.ReadAll(gz)
		ts.Check(err)
		return out
	case strings.HasSuffix(name, ".zst"):
		zr, err := zstd.NewReader(bytes.NewReader(data))
		ts.Check(err)
		defer zr.Close()
		out, err := io.ReadAll(zr)
		ts.Check(err)
		return out
	}
	return data
}
