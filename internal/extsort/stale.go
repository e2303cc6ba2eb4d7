package extsort

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CleanStale removes the spill directories in dir (DirPrefix<pid>-<random>)
// of processes that no longer exist: left behind by a process killed
// without a chance to clean up. Directories of live processes, including
// this one, and anything that is not a directory are left alone; errors
// are ignored (a directory that cannot be removed now is tried again next
// time). Where processes cannot be probed (not Unix) it does nothing.
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
		pid, ok := spillPID(e.Name())
		if !ok || pid == self || !e.IsDir() || e.Type()&os.ModeSymlink != 0 {
			continue
		}
		if alive(pid) {
			continue
		}
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// spillPID parses the process id out of a spill directory's name.
func spillPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, DirPrefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 || strconv.Itoa(pid) != digits {
		return 0, false
	}
	return pid, true
}
