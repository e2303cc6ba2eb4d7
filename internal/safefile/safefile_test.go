package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

func TestOpenRefusesSpecialFilesWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	reg := filepath.Join(dir, "file")
	if err := os.WriteFile(reg, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(reg, link); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, kind string
		open             func(string) (*os.File, error)
	}{
		{"fifo", fifo, "FIFO", Open},
		{"fifo nofollow", fifo, "FIFO", OpenNoFollow},
		{"directory", dir, "directory", Open},
		{"device", "/dev/null", "character device", Open},
		{"symlink nofollow", link, "symbolic link", OpenNoFollow},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				f, err := c.open(c.path)
				if f != nil {
					f.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				var nr *NotRegularError
				if !errors.As(err, &nr) || nr.Kind != c.kind {
					t.Fatalf("err = %v, want NotRegularError %s", err, c.kind)
				}
				if exitcode.For(err) != exitcode.Invalid {
					t.Fatalf("exit code %d", exitcode.For(err))
				}
				if !strings.Contains(err.Error(), c.path) {
					t.Fatalf("message %q does not name the path", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("open blocked")
			}
		})
	}
	f, err := Open(link)
	if err != nil {
		t.Fatalf("Open follows links: %v", err)
	}
	f.Close()
}

func TestOpenClearsNonblock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("hello"), 0o644)
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fl, err := fcntlFlags(f)
	if err != nil {
		t.Fatal(err)
	}
	if fl&syscall.O_NONBLOCK != 0 {
		t.Fatal("O_NONBLOCK still set")
	}
}

func fcntlFlags(f *os.File) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_GETFL, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func TestReadAllLimit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("12345"), 0o644)
	if b, err := ReadAll(p, 5); err != nil || string(b) != "12345" {
		t.Fatalf("at the limit: %q %v", b, err)
	}
	_, err := ReadAll(p, 4)
	var tl *TooLargeError
	if !errors.As(err, &tl) || exitcode.For(err) != exitcode.Invalid {
		t.Fatalf("over the limit: %v", err)
	}
	if !strings.Contains(err.Error(), "larger than 4 bytes") {
		t.Fatalf("message: %v", err)
	}
	// /dev/zero is endless and a device: refused before any read.
	if _, err := ReadAll("/dev/zero", 1<<20); !errors.As(err, new(*NotRegularError)) {
		t.Fatalf("/dev/zero: %v", err)
	}
	// An endless reader costs at most limit+1 bytes.
	if _, err := ReadFrom(zeros{}, "zeros", 1<<10); !errors.As(err, &tl) {
		t.Fatalf("endless reader: %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestReplaceable(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "f")
	os.WriteFile(reg, nil, 0o644)
	link := filepath.Join(dir, "l")
	os.Symlink(reg, link)
	for p, ok := range map[string]bool{
		reg: true, filepath.Join(dir, "absent"): true,
		dir: false, link: false, "/dev/null": false,
	} {
		err := Replaceable(p)
		if (err == nil) != ok {
			t.Errorf("Replaceable(%s) = %v, want ok=%v", p, err, ok)
		}
		if err != nil && exitcode.For(err) != exitcode.Conflict {
			t.Errorf("Replaceable(%s) exit %d", p, exitcode.For(err))
		}
	}
}

func TestPrivateWarningAndToken(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	os.WriteFile(p, []byte("k"), 0o600)
	f, _ := os.Open(p)
	defer f.Close()
	if w := PrivateWarning(f, p); w != "" {
		t.Fatalf("0600 warned: %s", w)
	}
	os.Chmod(p, 0o644)
	if w := PrivateWarning(f, p); !strings.Contains(w, "0644") {
		t.Fatalf("0644 not warned: %q", w)
	}
	if err := CheckToken("id", strings.Repeat("a", MaxToken)); err != nil {
		t.Fatal(err)
	}
	if err := CheckToken("id", strings.Repeat("a", MaxToken+1)); exitcode.For(err) != exitcode.Invalid {
		t.Fatalf("long token: %v", err)
	}
}
