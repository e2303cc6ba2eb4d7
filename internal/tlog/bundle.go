package tlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/verify"
)

// EntryFor describes a verified bundle: its root and SHA-256 from the
// report, the export id, tenant, profile and createdAtUtc from its
// export.json, and signingKey (a key fingerprint, or empty).
func EntryFor(rep *verify.Report, signingKey string) (Entry, error) {
	if rep.Root == "" || rep.SHA256 == "" {
		return Entry{}, exitcode.Invalidf("not a bundle: no checksums.txt root")
	}
	var m struct {
		ExportID     string `json:"exportId"`
		Tenant       string `json:"tenant"`
		Profile      string `json:"profile"`
		CreatedAtUTC string `json:"createdAtUtc"`
	}
	if doc := rep.Document(layout.Manifest); doc != nil {
		if err := json.Unmarshal(doc, &m); err != nil {
			return Entry{}, exitcode.Invalidf("%s: %v", layout.Manifest, err)
		}
	}
	if m.ExportID == "" {
		m.ExportID = rep.ExportID
	}
	if m.Profile == "" {
		m.Profile = rep.Profile
	}
	if m.ExportID == "" {
		return Entry{}, exitcode.Invalidf("%s: no exportId", layout.Manifest)
	}
	return Entry{ExportID: m.ExportID, Tenant: m.Tenant, Profile: m.Profile, Root: rep.Root,
		SHA256: rep.SHA256, CreatedAtUTC: m.CreatedAtUTC, SigningKey: signingKey}, nil
}

// Audit is what an auditor checks a bundle's receipt with.
type Audit struct {
	Name     string // the receipt's file name, for the report
	Receipt  *Receipt
	Verifier note.Verifier
	// Held is a checkpoint the auditor holds (raw note), optional.
	Held []byte
	// Proof is a carried consistency proof (log prove) between the
	// receipt's checkpoint and Held, optional.
	Proof *Proof
	// Log is the log directory to build that proof from, optional.
	Log Dir
}

// Check checks that the receipt describes the verified bundle, that its
// entry is in the log by its inclusion proof and signed checkpoint, and,
// given a held checkpoint, that the two are views of one append-only log.
// Errors that are verdicts (exit 1) are in the LogCheck; the error
// returned is for what could not be checked (exit 3, 4).
func (a Audit) Check(ctx context.Context, rep *verify.Report) (*verify.LogCheck, error) {
	r := a.Receipt
	lc := &verify.LogCheck{Receipt: a.Name, Index: r.Index, Status: "failed"}
	fail := func(format string, args ...any) (*verify.LogCheck, error) {
		lc.Detail = fmt.Sprintf(format, args...)
		return lc, nil
	}
	cp, err := r.Verify(a.Verifier)
	if cp == nil {
		if c, perr := parseUnverified(r.Checkpoint); perr == nil {
			lc.Origin, lc.Size, lc.Root = c.Origin, c.Size, RootString(c.Hash)
		}
	} else {
		lc.Origin, lc.Size, lc.Root = cp.Origin, cp.Size, RootString(cp.Hash)
	}
	if err != nil {
		if exitcode.For(err) == exitcode.Verify {
			return fail("%v", err)
		}
		return nil, err
	}
	if r.Entry.Root != rep.Root {
		return fail("receipt's entry has root %s, the bundle %s", r.Entry.Root, rep.Root)
	}
	if r.Entry.SHA256 != rep.SHA256 {
		return fail("receipt's entry has sha256 %s, the bundle %s", r.Entry.SHA256, rep.SHA256)
	}
	if rep.ExportID != "" && r.Entry.ExportID != rep.ExportID {
		return fail("receipt's entry has export id %s, the bundle %s", r.Entry.ExportID, rep.ExportID)
	}
	if a.Held != nil {
		held, err := OpenCheckpoint(a.Held, a.Verifier)
		if err != nil {
			if exitcode.For(err) == exitcode.Verify {
				return fail("held checkpoint: %v", err)
			}
			return nil, fmt.Errorf("held checkpoint: %w", err)
		}
		lc.NewerSize, lc.NewerRoot = held.Size, RootString(held.Hash)
		if err := a.consistent(ctx, cp, held); err != nil {
			if exitcode.For(err) == exitcode.Verify {
				return fail("%v", err)
			}
			return nil, err
		}
	}
	lc.Status = "verified"
	return lc, nil
}

func (a Audit) consistent(ctx context.Context, x, y *log.Checkpoint) error {
	small, large := x, y
	if small.Size > large.Size {
		small, large = large, small
	}
	var p [][]byte
	switch {
	case small.Size == large.Size || small.Size == 0:
	case a.Proof != nil:
		if a.Proof.From != small.Size || a.Proof.To != large.Size {
			return exitcode.Invalidf("the consistency proof is from size %d to %d, not %d to %d", a.Proof.From, a.Proof.To, small.Size, large.Size)
		}
		p = a.Proof.Consistency
	case a.Log != "":
		var err error
		if p, err = a.Log.ConsistencyProof(ctx, small.Size, large.Size); err != nil {
			return fmt.Errorf("log %s: %w", a.Log, err)
		}
	default:
		return exitcode.Usagef("checkpoints of sizes %d and %d need a consistency proof: --log DIR or --consistency FILE", small.Size, large.Size)
	}
	return Consistent(small, large, p)
}

func parseUnverified(raw string) (*log.Checkpoint, error) {
	n, err := note.Open([]byte(raw), note.VerifierList())
	var unk *note.UnverifiedNoteError
	if err != nil && !asUnverified(err, &unk) {
		return nil, err
	}
	text := ""
	if unk != nil {
		text = unk.Note.Text
	} else {
		text = n.Text
	}
	c := &log.Checkpoint{}
	_, err = c.Unmarshal([]byte(text))
	return c, err
}

func asUnverified(err error, target **note.UnverifiedNoteError) bool { return errors.As(err, target) }
