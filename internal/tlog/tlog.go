// Package tlog keeps an offline, append-only transparency log of exports.
//
// The log is a directory in the C2SP tlog-tiles layout written by
// tessera's POSIX driver: checkpoint, tile/<L>/<N>, tile/entries/<N>, and
// tessera's own state under .state. It can be copied across an air gap or
// served as static files. Checkpoints follow C2SP tlog-checkpoint and are
// signed notes (golang.org/x/mod/sumdb/note, Ed25519); the note's name is
// the log's origin. Proofs are RFC 6962 proofs built from the tiles by
// tessera's client package and checked with transparency-dev/merkle.
//
// An entry is one canonical JSON line describing a bundle (Entry). Each
// append hands back a Receipt per entry: the entry, its index, its
// inclusion proof and the signed checkpoint it was proven against.
//
// Nothing here reads the wall clock into an output: checkpoints carry no
// timestamp and Ed25519 signatures are deterministic, so the same entries
// appended to a new log with the same key give the same bytes.
package tlog

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
	"k8s.io/klog/v2"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// Size limits of what is read from a log directory or a receipt.
const (
	MaxCheckpoint  = 64 << 10
	maxTile        = layout.TileWidth * 32
	maxEntryBundle = layout.EntryBundleWidth * (2 + 1<<16)
	MaxReceipt     = 1 << 20
)

var quietOnce sync.Once

// quiet silences klog, which tessera logs through: the CLI owns stderr.
func quiet() {
	quietOnce.Do(func() {
		klog.LogToStderr(false)
		klog.SetOutput(io.Discard)
	})
}

// Entry is one log entry: what identifies an export bundle. Its canonical
// JSON (canonjson.Marshal) is the leaf data.
type Entry struct {
	ExportID     string `json:"exportId"`
	Tenant       string `json:"tenant,omitempty"`
	Profile      string `json:"profile,omitempty"`
	Root         string `json:"root"`   // sha256:<hex>, line 1 of checksums.txt
	SHA256       string `json:"sha256"` // bare hex of the archive bytes
	CreatedAtUTC string `json:"createdAtUtc,omitempty"`
	SigningKey   string `json:"signingKey,omitempty"` // sha256:<hex> of the bundle signer's PKIX key
}

// Receipt proves that an entry is in the log: BUNDLE.tlog.json.
type Receipt struct {
	Entry      Entry    `json:"entry"`
	Index      uint64   `json:"index"`
	Inclusion  [][]byte `json:"inclusionProof"` // base64 hashes, leaf to root
	Checkpoint string   `json:"checkpoint"`     // the signed note
}

// GenerateKey returns a new Ed25519 note signer key and its verifier key
// for the log named origin.
func GenerateKey(origin string) (skey, vkey string, err error) {
	if err := checkOrigin(origin); err != nil {
		return "", "", err
	}
	return note.GenerateKey(rand.Reader, origin)
}

func checkOrigin(origin string) error {
	if origin == "" || strings.ContainsAny(origin, "+ \t\r\n") || !isPrintable(origin) {
		return exitcode.Invalidf("origin %q: want a non-empty name without spaces or '+'", origin)
	}
	return nil
}

func isPrintable(s string) bool {
	for _, r := range s {
		if r < 0x21 || r == 0x7f {
			return false
		}
	}
	return true
}

// NewSigner parses a note signer key (the text of PREFIX.key).
func NewSigner(skey string) (note.Signer, error) {
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return nil, exitcode.Invalidf("not a note signer key: %v", err)
	}
	return s, nil
}

// NewVerifier parses a note verifier key (the text of PREFIX.vkey).
func NewVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, exitcode.Invalidf("not a note verifier key: %v", err)
	}
	return v, nil
}

// signerVerifier checks signatures by signing again: Ed25519 signatures
// are deterministic, so a checkpoint was signed by s when s reproduces the
// signature. It lets a log be opened with only its signer key.
type signerVerifier struct{ s note.Signer }

func (v signerVerifier) Name() string    { return v.s.Name() }
func (v signerVerifier) KeyHash() uint32 { return v.s.KeyHash() }
func (v signerVerifier) Verify(msg, sig []byte) bool {
	want, err := v.s.Sign(msg)
	return err == nil && string(want) == string(sig)
}

// SignerVerifier is a verifier for the checkpoints s signs.
func SignerVerifier(s note.Signer) note.Verifier { return signerVerifier{s} }

// OpenCheckpoint checks a signed checkpoint with v (note.Open) and parses
// it; its origin must be v's name.
func OpenCheckpoint(raw []byte, v note.Verifier) (*log.Checkpoint, error) {
	n, err := note.Open(raw, note.VerifierList(v))
	if err != nil {
		return nil, exitcode.Verifyf("checkpoint signature: %v (want a note signed by %s+%08x)", err, v.Name(), v.KeyHash())
	}
	cp := &log.Checkpoint{}
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return nil, exitcode.Invalidf("checkpoint: %v", err)
	}
	if cp.Origin != v.Name() {
		return nil, exitcode.Verifyf("checkpoint origin %q is not the key's %q", cp.Origin, v.Name())
	}
	return cp, nil
}

// Dir is a log directory.
type Dir string

func (d Dir) read(rel string, limit int64) ([]byte, error) {
	b, err := safefile.ReadAll(filepath.Join(string(d), filepath.FromSlash(rel)), limit)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// ReadCheckpoint returns the latest published checkpoint, unverified.
func (d Dir) ReadCheckpoint(context.Context) ([]byte, error) {
	return d.read(layout.CheckpointPath, MaxCheckpoint)
}

// ReadTile returns a hash tile, the partial one of width p when it
// exists, else the full tile (trimmed by callers).
func (d Dir) ReadTile(_ context.Context, l, i uint64, p uint8) ([]byte, error) {
	return d.partialOrFull(p, func(p uint8) string { return layout.TilePath(l, i, p) }, maxTile)
}

// ReadEntryBundle returns an entry bundle, like ReadTile.
func (d Dir) ReadEntryBundle(_ context.Context, i uint64, p uint8) ([]byte, error) {
	return d.partialOrFull(p, func(p uint8) string { return layout.EntriesPath(i, p) }, maxEntryBundle)
}

func (d Dir) partialOrFull(p uint8, path func(uint8) string, limit int64) ([]byte, error) {
	b, err := d.read(path(p), limit)
	if p != 0 && errors.Is(err, fs.ErrNotExist) {
		return d.read(path(0), limit)
	}
	return b, err
}

// Latest reads the latest checkpoint and checks it with v.
func (d Dir) Latest(ctx context.Context, v note.Verifier) (*log.Checkpoint, []byte, error) {
	raw, err := d.ReadCheckpoint(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, exitcode.Invalidf("%s: not a log directory (no checkpoint; run log init)", d)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read checkpoint: %w", err)
	}
	cp, err := OpenCheckpoint(raw, v)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(string(d), layout.CheckpointPath), err)
	}
	return cp, raw, nil
}

func options(s note.Signer) *tessera.AppendOptions {
	return tessera.NewAppendOptions().
		WithCheckpointSigner(s).
		WithCheckpointInterval(100*time.Millisecond).
		WithBatching(layout.EntryBundleWidth, 20*time.Millisecond).
		WithGarbageCollectionInterval(0) // keep partial tiles: older sizes stay provable
}

// Init creates the log in dir (made if missing) with an empty signed
// checkpoint. A directory that already holds a log is refused.
func Init(ctx context.Context, dir string, s note.Signer) ([]byte, error) {
	quiet()
	if err := checkOrigin(s.Name()); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(filepath.Join(dir, layout.CheckpointPath)); err == nil {
		return nil, exitcode.Conflictf("%s already holds a log", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, exitcode.WithCode(exitcode.IO, err)
	}
	if err := appendEntries(ctx, dir, s, nil, nil); err != nil {
		return nil, err
	}
	_, raw, err := Dir(dir).Latest(ctx, SignerVerifier(s))
	return raw, err
}

// Append adds entries, in order, to the log in dir signed by s and
// returns one receipt per entry, each proven against the checkpoint that
// covers them all. The log must exist and be s's (same origin and key).
func Append(ctx context.Context, dir string, s note.Signer, entries []Entry) ([]Receipt, error) {
	quiet()
	d := Dir(dir)
	if _, _, err := d.Latest(ctx, SignerVerifier(s)); err != nil {
		return nil, err
	}
	leaves := make([][]byte, len(entries))
	for i, e := range entries {
		b, err := canonjson.Marshal(e)
		if err != nil {
			return nil, err
		}
		leaves[i] = b
	}
	idx := make([]uint64, len(entries))
	if err := appendEntries(ctx, dir, s, leaves, idx); err != nil {
		return nil, err
	}
	cp, raw, err := d.Latest(ctx, SignerVerifier(s))
	if err != nil {
		return nil, err
	}
	pb, err := client.NewProofBuilder(ctx, cp.Size, d.ReadTile)
	if err != nil {
		return nil, err
	}
	out := make([]Receipt, len(entries))
	for i, e := range entries {
		p, err := pb.InclusionProof(ctx, idx[i])
		if err != nil {
			return nil, fmt.Errorf("inclusion proof of entry %d: %w", idx[i], err)
		}
		// Check what is handed out: the tiles just written prove the leaf.
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, idx[i], cp.Size, rfc6962.DefaultHasher.HashLeaf(leaves[i]), p, cp.Hash); err != nil {
			return nil, fmt.Errorf("inclusion proof of entry %d: %w", idx[i], err)
		}
		out[i] = Receipt{Entry: e, Index: idx[i], Inclusion: p, Checkpoint: string(raw)}
	}
	return out, nil
}

// appendEntries runs one tessera appender over dir: adds leaves, stores
// their indices in idx, and returns once a checkpoint covering them is
// published.
func appendEntries(ctx context.Context, dir string, s note.Signer, leaves [][]byte, idx []uint64) error {
	driver, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		return fmt.Errorf("open log %s: %w", dir, err)
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	a, shutdown, _, err := tessera.NewAppender(actx, driver, options(s))
	if err != nil {
		return exitcode.WithCode(exitcode.IO, fmt.Errorf("open log %s: %v", dir, err))
	}
	futures := make([]tessera.IndexFuture, len(leaves))
	for i, l := range leaves {
		futures[i] = a.Add(actx, tessera.NewEntry(l))
	}
	for i, f := range futures {
		in, err := f()
		if err != nil {
			return exitcode.WithCode(exitcode.IO, fmt.Errorf("append to log %s: %v", dir, err))
		}
		idx[i] = in.Index
	}
	if err := shutdown(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return exitcode.WithCode(exitcode.IO, fmt.Errorf("publish checkpoint of log %s: %v", dir, err))
	}
	return nil
}

// ConsistencyProof proves, from the tiles in d, that the tree of size
// from is a prefix of the tree of size to (to at most the latest size).
func (d Dir) ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	quiet()
	pb, err := client.NewProofBuilder(ctx, to, d.ReadTile)
	if err != nil {
		return nil, err
	}
	p, err := pb.ConsistencyProof(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("consistency proof %d to %d: %w", from, to, err)
	}
	return p, nil
}

// InclusionProof proves, from the tiles in d, that the leaf at index is
// in the tree of size size.
func (d Dir) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	quiet()
	pb, err := client.NewProofBuilder(ctx, size, d.ReadTile)
	if err != nil {
		return nil, err
	}
	return pb.InclusionProof(ctx, index)
}
