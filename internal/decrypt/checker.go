package decrypt

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/plaintext"
)

// Checker decrypts the encrypted files of a bundle as verify streams them
// past (its Extract is verify.Options.Extract), hashing the plaintext and
// writing none of it anywhere; Finish then compares every plaintext with
// the plaintext manifest. Each file is decrypted in its own goroutine while
// verify hashes the ciphertext, one file at a time; memory is bounded by a
// chunk per file and the plaintext manifest.
type Checker struct {
	keys Keys

	mu      sync.Mutex
	results map[string]result
	manName string
	man     []byte
}

type result struct {
	sha  digest.SHA256
	size int64
	err  error
}

// NewChecker returns a Checker that decrypts with keys.
func NewChecker(keys Keys) *Checker {
	return &Checker{keys: keys, results: map[string]result{}}
}

// Extract returns a writer that decrypts the file name, for every file
// whose name has an encryption suffix, and nil for the others.
func (c *Checker) Extract(name string, _ int64) (io.WriteCloser, error) {
	if Suffix(name) == "" {
		return nil, nil
	}
	isMan := name == plaintext.Base+plaintext.SuffixEnvelope || name == plaintext.Base+plaintext.SuffixAge
	pr, pw := io.Pipe()
	w := &pipeWriter{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		var dst io.Writer = io.Discard
		var man *capped
		if isMan {
			man = &capped{limit: plaintext.MaxSize}
			dst = man
		}
		d, n, err := c.keys.Copy(context.Background(), dst, name, pr)
		// Whatever did not decrypt is still read, so that verify goes on
		// hashing the ciphertext.
		io.Copy(io.Discard, pr)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.results[name] = result{sha: d, size: n, err: err}
		if isMan {
			c.manName = name
			if err == nil {
				c.man = man.buf
			}
		}
	}()
	return w, nil
}

type pipeWriter struct {
	pw   *io.PipeWriter
	done chan struct{}
}

func (w *pipeWriter) Write(p []byte) (int, error) { return w.pw.Write(p) }

// Close ends the file and waits until its decryption has finished.
func (w *pipeWriter) Close() error {
	w.pw.Close()
	<-w.done
	return nil
}

// Problem is a file that did not decrypt or whose plaintext does not match
// the plaintext manifest.
type Problem struct {
	Path   string
	Detail string
}

// Finish compares what was decrypted with the plaintext manifest, once the
// bundle has been read: every listed file decrypted, with the SHA-256 and
// size listed. It returns how many files matched, the name of the plaintext
// manifest ("" when the bundle has none: it is not encrypted, and there is
// nothing to check) and the problems found. An error means a file could not
// be checked for want of a key (exit 4), or the manifest is malformed.
func (c *Checker) Finish() (matched int, manName string, problems []Problem, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.manName == "" {
		return 0, "", nil, nil
	}
	if r := c.results[c.manName]; r.err != nil {
		if exitcode.For(r.err) != exitcode.Verify {
			return 0, c.manName, nil, fileError(c.manName, r.err)
		}
		return 0, c.manName, []Problem{{c.manName, r.err.Error()}}, nil
	}
	man, err := plaintext.Parse(c.man, Suffix(c.manName))
	if err != nil {
		return 0, c.manName, nil, err
	}
	for _, e := range man.Files {
		r, ok := c.results[e.Encrypted]
		switch {
		case !ok:
			problems = append(problems, Problem{e.Encrypted, fmt.Sprintf("listed in %s, missing from the bundle", c.manName)})
		case r.err != nil && exitcode.For(r.err) != exitcode.Verify:
			return matched, c.manName, problems, fileError(e.Encrypted, r.err)
		case r.err != nil:
			problems = append(problems, Problem{e.Encrypted, r.err.Error()})
		default:
			if err := check(e, r.sha, r.size, c.manName); err != nil {
				problems = append(problems, Problem{e.Encrypted, err.Error()})
				continue
			}
			matched++
		}
	}
	return matched, c.manName, problems, nil
}
