package partial

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The temporary names of stella-export carry the id of the process that
// made them, so that a later command can tell its own or a running
// command's temporaries from those a killed process (SIGKILL, a machine
// that lost power) left behind, and remove the latter (CleanStale):
//
//	.stella-export-<kind>-<pid>-<random>/   directories: spill (sorted runs,
//	                                        kept documents), stage (run's
//	                                        export directory), apply,
//	                                        objstore (a bundle on its way
//	                                        into an object store)
//	.<name>.<pid>-<random>.partial          an output file being written
//
// DirPattern and FilePattern give the patterns for os.MkdirTemp and
// os.CreateTemp.

// DirPrefix starts the name of every temporary directory.
const DirPrefix = ".stella-export-"

// tempKinds are the kinds of temporary directory.
var tempKinds = []string{"spill", "stage", "apply", "objstore"}

// DirPattern is the os.MkdirTemp pattern of a temporary directory of kind
// (spill, stage, apply or objstore) of this process.
func DirPattern(kind string) string {
	return DirPrefix + kind + "-" + strconv.Itoa(os.Getpid()) + "-"
}

// FilePattern is the os.CreateTemp pattern of the temporary file that
// becomes the output named base.
func FilePattern(base string) string {
	return "." + base + "." + strconv.Itoa(os.Getpid()) + "-*.partial"
}

// CleanStale removes from dir the temporary directories and files (named
// as DirPattern and FilePattern make them) of processes that no longer
// exist. Those of live processes, including this one, links, and names
// that only look alike are left alone; errors are ignored (what cannot be
// removed now is tried again next time). Where processes cannot be probed
// (not Unix) it removes nothing. dir "" means os.TempDir().
func CleanStale(dir string) {
	if dir == "" {
		dir = os.TempDir()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range entries {
		name := e.Name()
		var pid int
		var ok bool
		switch {
		case e.IsDir():
			pid, ok = dirPID(name)
		case e.Type().IsRegular():
			pid, ok = filePID(name)
		}
		if !ok || pid == self || alive(pid) {
			continue
		}
		os.RemoveAll(filepath.Join(dir, name))
	}
}

// dirPID parses the process id out of a temporary directory's name.
func dirPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, DirPrefix)
	if !ok {
		return 0, false
	}
	kind, rest, ok := strings.Cut(rest, "-")
	if !ok || !validKind(kind) {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	return parsePID(digits)
}

func validKind(kind string) bool {
	for _, k := range tempKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// filePID parses the process id out of a temporary output file's name,
// .<base>.<pid>-<random>.partial.
func filePID(name string) (int, bool) {
	rest, ok := strings.CutSuffix(name, ".partial")
	if !ok || !strings.HasPrefix(rest, ".") {
		return 0, false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 1 {
		return 0, false
	}
	digits, random, ok := strings.Cut(rest[i+1:], "-")
	if !ok || random == "" {
		return 0, false
	}
	return parsePID(digits)
}

func parsePID(digits string) (int, bool) {
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 || strconv.Itoa(pid) != digits {
		return 0, false
	}
	return pid, true
}
