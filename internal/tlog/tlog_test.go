package tlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

func newKeys(t *testing.T, origin string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func entry(i int) Entry {
	return Entry{ExportID: fmt.Sprintf("exp-%05d", i), Tenant: "acme", Profile: "directory",
		Root: fmt.Sprintf("sha256:%064x", i), SHA256: fmt.Sprintf("%064x", i+1), CreatedAtUTC: "2025-01-02T03:04:05Z"}
}

// TestTenThousand appends 10,000 entries in batches that straddle tile
// boundaries, then checks every checkpoint against every later one, a
// sample of inclusion proofs, the tiles through tessera's client, and
// fsck before and after one byte of one tile changes.
func TestTenThousand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, v := newKeys(t, "example.org/stella-export/test")
	raw0, err := Init(ctx, dir, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(raw0, note.VerifierList(v)); err != nil {
		t.Fatalf("initial checkpoint does not open: %v", err)
	}
	if _, err := Init(ctx, dir, s); exitcode.For(err) != exitcode.Conflict {
		t.Fatalf("second init: %v, want exit 5", err)
	}

	sizes := []int{1, 2, 3, 255, 256, 257, 513, 1000, 4096, 9999, 10000}
	var cps []*log.Checkpoint
	var receipts []Receipt
	n := 0
	for _, size := range sizes {
		var es []Entry
		for ; n < size; n++ {
			es = append(es, entry(n))
		}
		rs, err := Append(ctx, dir, s, es)
		if err != nil {
			t.Fatalf("append to %d: %v", size, err)
		}
		for i, r := range rs {
			if r.Index != uint64(size-len(es)+i) {
				t.Fatalf("entry %s got index %d, want %d", r.Entry.ExportID, r.Index, size-len(es)+i)
			}
		}
		receipts = append(receipts, rs...)
		// Checkpoints open with note.Open and the verifier key alone.
		n, err := note.Open([]byte(rs[0].Checkpoint), note.VerifierList(v))
		if err != nil {
			t.Fatalf("checkpoint of size %d: note.Open: %v", size, err)
		}
		cp := &log.Checkpoint{}
		if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
			t.Fatal(err)
		}
		if cp.Size != uint64(size) {
			t.Fatalf("checkpoint size %d, want %d", cp.Size, size)
		}
		cps = append(cps, cp)
	}

	d := Dir(dir)
	for i, a := range cps {
		for _, b := range cps[i+1:] {
			p, err := d.ConsistencyProof(ctx, a.Size, b.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := Consistent(a, b, p); err != nil {
				t.Errorf("%d -> %d: %v", a.Size, b.Size, err)
			}
		}
	}

	for _, i := range []int{0, 1, 254, 255, 256, 511, 4095, 7777, 9998, 9999} {
		r := receipts[i]
		if _, err := r.Verify(v); err != nil {
			t.Errorf("receipt %d: %v", i, err)
		}
		// and against the final checkpoint, with a proof from the tiles
		last := cps[len(cps)-1]
		p, err := d.InclusionProof(ctx, r.Index, last.Size)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := canonjson.Marshal(r.Entry)
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, r.Index, last.Size, rfc6962.DefaultHasher.HashLeaf(leaf), p, last.Hash); err != nil {
			t.Errorf("entry %d in final tree: %v", i, err)
		}
	}

	// Tiles and entry bundles read back by tessera's own client.
	ff := client.FileFetcher{Root: dir}
	last := cps[len(cps)-1]
	hashes, err := client.FetchLeafHashes(ctx, ff.ReadTile, 0, last.Size, last.Size)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 300, 9999} {
		leaf, _ := canonjson.Marshal(entry(i))
		if got, want := hashes[i], rfc6962.DefaultHasher.HashLeaf(leaf); string(got) != string(want) {
			t.Errorf("leaf hash %d from tiles: %x, want %x", i, got, want)
		}
	}
	eb, err := client.GetEntryBundle(ctx, ff.ReadEntryBundle, 9999/layout.EntryBundleWidth, last.Size)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := canonjson.Marshal(entry(9999))
	if got := eb.Entries[len(eb.Entries)-1]; string(got) != string(leaf) {
		t.Errorf("last entry from bundle: %s, want %s", got, leaf)
	}

	if _, err := d.Fsck(ctx, v); err != nil {
		t.Fatalf("fsck of an intact log: %v", err)
	}
	// One byte of one tile changed: fsck names it.
	tile := layout.TilePath(0, 3, 0)
	p := filepath.Join(dir, tile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = d.Fsck(ctx, v)
	var te *TileError
	if !errors.As(err, &te) || te.Path != tile {
		t.Fatalf("fsck after changing %s: %v, want a TileError naming it", tile, err)
	}
	if exitcode.For(err) != exitcode.Verify {
		t.Errorf("exit code %d, want 1", exitcode.For(err))
	}
}

// TestRebuiltLog: the producer rebuilds the log without one entry (or
// with one replaced); an auditor holding the earlier checkpoint detects
// it, and the error names both roots.
func TestRebuiltLog(t *testing.T) {
	ctx := context.Background()
	s, v := newKeys(t, "example.org/rebuilt")
	build := func(es ...Entry) (Dir, []Receipt) {
		dir := t.TempDir()
		if _, err := Init(ctx, dir, s); err != nil {
			t.Fatal(err)
		}
		rs, err := Append(ctx, dir, s, es)
		if err != nil {
			t.Fatal(err)
		}
		return Dir(dir), rs
	}
	_, orig := build(entry(0), entry(1), entry(2))
	held, err := orig[2].Verify(v)
	if err != nil {
		t.Fatal(err)
	}

	for name, es := range map[string][]Entry{
		"removed":  {entry(0), entry(2), entry(3), entry(4)},
		"replaced": {entry(0), entry(9), entry(2)},
	} {
		t.Run(name, func(t *testing.T) {
			d, rs := build(es...)
			newer, err := rs[0].Verify(v) // the receipt itself is valid
			if err != nil {
				t.Fatal(err)
			}
			var p [][]byte
			if newer.Size != held.Size {
				if p, err = d.ConsistencyProof(ctx, held.Size, newer.Size); err != nil {
					t.Fatal(err)
				}
			}
			err = Consistent(held, newer, p)
			var sv *SplitViewError
			if !errors.As(err, &sv) {
				t.Fatalf("got %v, want a split view", err)
			}
			for _, root := range []string{RootString(held.Hash), RootString(newer.Hash)} {
				if !strings.Contains(err.Error(), root) {
					t.Errorf("%q does not name %s", err, root)
				}
			}
			if exitcode.For(err) != exitcode.Verify {
				t.Errorf("exit %d, want 1", exitcode.For(err))
			}
		})
	}
}

// TestAppendWrongKey: a log is only appended to with its own key.
func TestAppendWrongKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, _ := newKeys(t, "example.org/a")
	other, _ := newKeys(t, "example.org/a")
	if _, err := Init(ctx, dir, s); err != nil {
		t.Fatal(err)
	}
	if _, err := Append(ctx, dir, other, []Entry{entry(0)}); exitcode.For(err) != exitcode.Verify {
		t.Fatalf("append with another key: %v, want exit 1", err)
	}
}
