//go:build unix

package bundle

import (
	"context"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// TestDirSourceSwapped lists a directory, then swaps a file for a FIFO
// (which would block the read for ever) or a symbolic link, as a racing
// process could between the listing and the reading: Write must refuse it
// at once, with exit 3, instead of hanging or following the link.
func TestDirSourceSwapped(t *testing.T) {
	for _, tc := range []struct {
		name   string
		follow bool
		swap   func(t *testing.T, path string)
		want   string
	}{
		{"fifo", false, func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "is a FIFO, not a regular file"},
		{"fifo with --follow-links", true, func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "is a FIFO, not a regular file"},
		{"symlink", false, func(t *testing.T, p string) {
			if err := os.Symlink("b.txt", p); err != nil {
				t.Fatal(err)
			}
		}, "is a symbolic link, not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a := filepath.Join(dir, "a.txt")
			for _, n := range []string{"a.txt", "b.txt"} {
				if err := os.WriteFile(filepath.Join(dir, n), []byte("hello\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tree, err := DirSources(dir, tc.follow)
			if err != nil {
				t.Fatal(err)
			}
			// The swap comes once the walk has looked at a.txt and before
			// it is opened.
			srcs := afterListing{tree, "a.txt", func() {
				if err := os.Remove(a); err != nil {
					t.Fatal(err)
				}
				tc.swap(t, a)
			}}
			done := make(chan error, 1)
			go func() {
				_, err := Write(context.Background(), io.Discard, srcs, func(Summary) (Docs, error) {
					return Docs{Manifest: []byte("{}\n"), Readme: []byte("r\n")}, nil
				}, Options{})
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				// Unblock the stuck open so the goroutine can end.
				if f, err := os.OpenFile(a, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				t.Fatal("Write still blocked after 10s")
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || exitcode.For(err) != exitcode.Invalid {
				t.Fatalf("err %v (exit %d), want %q and exit 3", err, exitcode.For(err), tc.want)
			}
		})
	}
}

// afterListing runs fn once, when the walk of t yields name, before
// passing it on.
type afterListing struct {
	t    Sources
	name string
	fn   func()
}

func (s afterListing) All() iter.Seq2[Source, error] {
	return func(yield func(Source, error) bool) {
		for src, err := range s.t.All() {
			if src.Name == s.name && s.fn != nil {
				s.fn()
				s.fn = nil
			}
			if !yield(src, err) {
				return
			}
		}
	}
}
