// Package purge enforces retention and answers data subject requests over
// a tree of export directories (docs/dataset.md#retention-and-purge):
//
//   - Expired removes every export directory whose export.json has an
//     expiresAtUtc at or before now;
//   - Subject lists, and with Delete removes, every export directory whose
//     consent ledger entry names a data subject (hashed as the export hashed
//     it, runbook SOP-004).
//
// Only directories stella-export wrote are removed (the check of run
// --force); each is first renamed aside, so it disappears at once, then
// deleted. Every removal appends a purge entry to the purge ledger
// (canonical JSON lines) and, with an outbox, queues a
// stella.dataset.purge.v1 event. Symbolic links are never followed.
package purge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/dataset/export"
	"github.com/stella-ops/stella-export/internal/dataset/redact"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/notify"
	"github.com/stella-ops/stella-export/internal/run"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// Reasons of purge entries.
const (
	ReasonExpired = "RETENTION_EXPIRED"
	ReasonSubject = "DATA_SUBJECT_REQUEST"
)

// LedgerName is the purge ledger's default name, in the root.
const LedgerName = "purge-ledger.jsonl"

// EntryFormat is a purge entry's format string.
const EntryFormat = "stella-export/purge-entry/v1"

// Options configure Run.
type Options struct {
	Root string
	Now  time.Time
	// DryRun lists what would be removed, removing and recording nothing.
	DryRun bool
	// Subject, when set, selects the exports whose ledger names it instead
	// of the expired ones; they are removed only with Delete.
	Subject string
	Delete  bool
	// Hasher returns the hasher of a tenant's identifiers (Subject).
	Hasher func(tenant string) (*redact.Hasher, error)
	// Ledger is the purge ledger file; empty means Root/purge-ledger.jsonl.
	Ledger string
	// Outbox, when set, receives a purge event per removal.
	Outbox string
}

// Export is one export directory found.
type Export struct {
	Path      string `json:"path"` // below the root, slash-separated
	ExportID  string `json:"exportId"`
	Tenant    string `json:"tenant"`
	Profile   string `json:"profile"`
	ExpiresAt string `json:"expiresAtUtc,omitempty"`
	dir       string
}

// Entry is one purge ledger entry.
type Entry struct {
	Format    string `json:"format"`
	ExportID  string `json:"exportId"`
	Tenant    string `json:"tenant"`
	Path      string `json:"path"`
	Reason    string `json:"reason"`
	ExpiresAt string `json:"expiresAtUtc,omitempty"`
	PurgedAt  string `json:"purgedAt"`
	// Subject is the hashed subject of a data subject request.
	Subject string `json:"subject,omitempty"`
}

// Result is what Run found and did.
type Result struct {
	Selected []Export `json:"selected"`
	Removed  []string `json:"removed"`
	// Unchecked are exports whose ledger could not be searched for the
	// subject: no ledger, or hashed under another key.
	Unchecked []Unchecked `json:"unchecked"`
}

// Unchecked says why an export was not searched.
type Unchecked struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Run purges below opt.Root.
func Run(ctx context.Context, opt Options) (*Result, error) {
	exports, err := Find(ctx, opt.Root)
	if err != nil {
		return nil, err
	}
	res := &Result{Selected: []Export{}, Removed: []string{}, Unchecked: []Unchecked{}}
	reason := ReasonExpired
	for _, x := range exports {
		if opt.Subject == "" {
			if x.ExpiresAt == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339, x.ExpiresAt)
			if err != nil {
				return nil, exitcode.Invalidf("%s: export.json: expiresAtUtc %q is not an RFC 3339 time", x.dir, x.ExpiresAt)
			}
			if t.After(opt.Now) {
				continue
			}
			res.Selected = append(res.Selected, x)
			continue
		}
		reason = ReasonSubject
		found, why, err := names(x, opt)
		if err != nil {
			return nil, err
		}
		if why != "" {
			res.Unchecked = append(res.Unchecked, Unchecked{Path: x.Path, Reason: why})
		}
		if found {
			res.Selected = append(res.Selected, x)
		}
	}
	if opt.DryRun || (opt.Subject != "" && !opt.Delete) {
		return res, nil
	}
	ledger := opt.Ledger
	if ledger == "" {
		ledger = filepath.Join(opt.Root, LedgerName)
	}
	for _, x := range res.Selected {
		if err := ctx.Err(); err != nil {
			return res, context.Cause(ctx)
		}
		if err := remove(x.dir); err != nil {
			return res, err
		}
		res.Removed = append(res.Removed, x.Path)
		e := Entry{Format: EntryFormat, ExportID: x.ExportID, Tenant: x.Tenant, Path: x.Path, Reason: reason,
			ExpiresAt: x.ExpiresAt, PurgedAt: opt.Now.UTC().Format(time.RFC3339)}
		if opt.Subject != "" {
			h, err := opt.Hasher(x.Tenant)
			if err != nil {
				return res, err
			}
			e.Subject = h.Hash(opt.Subject)
		}
		if err := appendLedger(ledger, e); err != nil {
			return res, err
		}
		if opt.Outbox != "" {
			ev, err := notify.NewEvent(notify.EventPurge, x.ExportID, x.Tenant, e.PurgedAt, e)
			if err != nil {
				return res, err
			}
			if _, err := (notify.Outbox{Dir: opt.Outbox}).Put(ctx, ev); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// Find lists the export directories below root (export.json at their
// top), in path order, without descending into them or following links;
// names starting with '.' (staging and temporary directories) are skipped.
func Find(ctx context.Context, root string) ([]Export, error) {
	st, err := os.Lstat(root)
	if err != nil {
		return nil, fmt.Errorf("purge: %w", err)
	}
	if !st.IsDir() {
		return nil, exitcode.Usagef("--root %s is not a directory", root)
	}
	var out []Export
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if !d.IsDir() {
			return nil
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		m := filepath.Join(p, layout.Manifest)
		if fi, err := os.Lstat(m); err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		b, err := safefile.ReadAll(m, 64<<20)
		if err != nil {
			return err
		}
		var doc struct {
			Format    string `json:"format"`
			ExportID  string `json:"exportId"`
			Tenant    string `json:"tenant"`
			Profile   string `json:"profile"`
			ExpiresAt string `json:"expiresAtUtc"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return exitcode.Invalidf("%s: not an export.json: %v", m, err)
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, Export{Path: filepath.ToSlash(rel), ExportID: doc.ExportID, Tenant: doc.Tenant, Profile: doc.Profile,
			ExpiresAt: doc.ExpiresAt, dir: p})
		return filepath.SkipDir
	})
	if err != nil {
		return nil, fmt.Errorf("purge: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// names reports whether x's consent ledger names the subject; why says
// why it could not be searched.
func names(x Export, opt Options) (bool, string, error) {
	p := filepath.Join(x.dir, export.LedgerName)
	f, err := safefile.OpenNoFollow(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, "no " + export.LedgerName, nil
	}
	if err != nil {
		return false, "", err
	}
	defer f.Close()
	h, err := opt.Hasher(x.Tenant)
	if err != nil {
		return false, "", err
	}
	// the hash key id is near the top of the entry (keys sorted); the
	// subjects come before it only in name order, so read the whole
	// entry once, streaming, looking for both
	want := []byte(`"` + h.Hash(opt.Subject) + `"`)
	keyID := []byte(`"hashKeyId":` + quoteJSON(h.KeyID))
	found, sameKey, err := scan(f, want, keyID)
	if err != nil {
		return false, "", fmt.Errorf("read %s: %w", p, err)
	}
	if !sameKey {
		return false, "hashed under another key than " + h.KeyID, nil
	}
	return found, "", nil
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// scan looks for a and b in r, streaming with an overlap.
func scan(r io.Reader, a, b []byte) (bool, bool, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	over := max(len(a), len(b))
	buf := make([]byte, 0, 1<<17)
	var fa, fb bool
	chunk := make([]byte, 1<<16)
	for {
		n, err := br.Read(chunk)
		buf = append(buf, chunk[:n]...)
		fa = fa || bytes.Contains(buf, a)
		fb = fb || bytes.Contains(buf, b)
		if len(buf) > over {
			buf = append(buf[:0], buf[len(buf)-over:]...)
		}
		if errors.Is(err, io.EOF) {
			return fa, fb, nil
		}
		if err != nil {
			return false, false, err
		}
	}
}

// remove renames dir aside, after checking it is a directory stella-export
// wrote, then deletes it.
func remove(dir string) error {
	if err := run.CheckExportDir(dir); err != nil {
		return fmt.Errorf("purge %s: %w", dir, err)
	}
	var b [8]byte
	rand.Read(b[:])
	aside := filepath.Join(filepath.Dir(dir), ".purge-"+filepath.Base(dir)+"-"+hex.EncodeToString(b[:]))
	if err := os.Rename(dir, aside); err != nil {
		return fmt.Errorf("purge %s: %w", dir, err)
	}
	return os.RemoveAll(aside)
}

// appendLedger appends e as a canonical JSON line to the purge ledger, a
// regular file (not a link), created if needed.
func appendLedger(path string, e Entry) error {
	b, err := canonjson.MarshalLine(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return fmt.Errorf("purge ledger: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return exitcode.Invalidf("purge ledger %s: not a regular file", path)
	}
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("purge ledger: %w", err)
	}
	return f.Sync()
}
