package partial

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// deadPID returns the id of a process that has exited: free until reused,
// which a test cannot rule out but which only keeps what it names.
func deadPID(t *testing.T) int {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestCleanStale(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("processes are not probed")
	}
	dir := t.TempDir()
	dead, self := deadPID(t), os.Getpid()
	mkdir := func(name string) {
		if err := os.MkdirAll(filepath.Join(dir, name, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string) {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	gone := []string{
		fmt.Sprintf(".stella-export-spill-%d-abc", dead),
		fmt.Sprintf(".stella-export-stage-%d-1f2e", dead),
		fmt.Sprintf(".stella-export-apply-%d-9", dead),
		fmt.Sprintf(".stella-export-objstore-%d-77", dead),
	}
	for _, n := range gone {
		mkdir(n)
	}
	gone = append(gone, fmt.Sprintf(".out.tgz.%d-123456.partial", dead), fmt.Sprintf(".plan.json.%d-1.partial", dead))
	write(gone[4])
	write(gone[5])
	kept := []string{
		fmt.Sprintf(".stella-export-spill-%d-abc", self), // this process
		fmt.Sprintf(".stella-export-other-%d-abc", dead), // not a kind of ours
		".stella-export-spill-notapid-x",
		".stella-export-stage-0123-x",
		"unrelated",
		fmt.Sprintf("out.tgz.%d-1.partial", dead), // no leading dot: not ours
		fmt.Sprintf(".out.tgz.%d-.partial", dead), // no random part
		fmt.Sprintf(".out.tgz.%d-1.partial.keep", dead),
		fmt.Sprintf(".out.tgz.%d-1.partial", self),
	}
	for _, n := range kept[:5] {
		mkdir(n)
	}
	for _, n := range kept[5:] {
		write(n)
	}
	// A file named like a directory and a link named like a file stay.
	odd := []string{fmt.Sprintf(".stella-export-spill-%d-file", dead), fmt.Sprintf(".x.%d-1.partial", dead)}
	write(odd[0])
	if err := os.Symlink("unrelated", filepath.Join(dir, odd[1])); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, odd...)

	CleanStale(dir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	slices.Sort(kept)
	if !slices.Equal(got, kept) {
		t.Fatalf("after CleanStale:\n got %q\nwant %q", got, kept)
	}
	if _, err := os.Stat(filepath.Join(dir, "unrelated", "x")); err != nil {
		t.Fatal("the link's target was touched")
	}
}

func TestPatterns(t *testing.T) {
	d, err := os.MkdirTemp(t.TempDir(), DirPattern("stage"))
	if err != nil {
		t.Fatal(err)
	}
	if pid, ok := dirPID(filepath.Base(d)); !ok || pid != os.Getpid() {
		t.Errorf("dirPID(%q) = %d, %v", filepath.Base(d), pid, ok)
	}
	f, err := os.CreateTemp(t.TempDir(), FilePattern("export.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if pid, ok := filePID(filepath.Base(f.Name())); !ok || pid != os.Getpid() {
		t.Errorf("filePID(%q) = %d, %v", filepath.Base(f.Name()), pid, ok)
	}
}
