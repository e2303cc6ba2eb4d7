package contract

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// Load reads and parses the contract file at path. A file that cannot be
// read gives an I/O error (exit 4) naming path; a file with mistakes gives
// Errors (exit 3).
func Load(path string) (*Contract, error) {
	data, err := readContract(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// readContract reads at most maxSize+1 bytes, so that Parse can refuse a
// file that is too large without reading all of it.
func readContract(path string) ([]byte, error) {
	// A FIFO or device named as a contract (or as a *.yaml in a directory
	// given to plan --check) is refused without blocking.
	f, err := safefile.Open(path)
	var nr *safefile.NotRegularError
	if errors.As(err, &nr) {
		return nil, fmt.Errorf("read contract %w", err) // its message starts with the path
	}
	if err != nil {
		return nil, fmt.Errorf("read contract %s: %w", path, bare(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read contract %s: %w", path, bare(err))
	}
	return data, nil
}

// bare drops the *fs.PathError around err, whose message would repeat
// the path ("read contract a.yaml: open a.yaml: ...").
func bare(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Check validates contracts for `plan --check`. Each path is a contract
// file or a directory, which stands for its *.yaml and *.yml files
// (not its subdirectories) in name order. It returns every mistake found,
// in order: each *FieldError of each file, and an error for each path
// that cannot be read. An empty result means every contract is valid.
func Check(paths []string) []error {
	var errs []error
	for _, path := range paths {
		files, err := contractFiles(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, file := range files {
			_, err := Load(file)
			var fes Errors
			switch {
			case err == nil:
			case errors.As(err, &fes):
				for _, fe := range fes {
					errs = append(errs, fe)
				}
			default:
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// contractFiles expands a directory to its contract files.
func contractFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read contract %s: %w", path, bare(err))
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("read contract directory %s: %w", path, bare(err))
	}
	var files []string
	for _, e := range entries { // sorted by name
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		files = append(files, filepath.Join(path, name))
	}
	if len(files) == 0 {
		return nil, exitcode.Invalidf("%s: no contract files (*.yaml, *.yml) in this directory", path)
	}
	return files, nil
}
