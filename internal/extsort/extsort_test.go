package extsort

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/stella-ops/stella-export/internal/partial"
)

// byKey compares the first 4 bytes only, so that equal keys with different
// payloads show whether the sort is stable.
func byKey(a, b []byte) int { return bytes.Compare(a[:4], b[:4]) }

func record(key uint32, seq int) []byte {
	b := binary.BigEndian.AppendUint32(nil, key)
	return append(b, fmt.Sprintf("seq-%08d", seq)...)
}

func collect(t *testing.T, s *Sorted) [][]byte {
	t.Helper()
	var out [][]byte
	for rec, err := range s.All() {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(rec))
	}
	return out
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestSortBudgets sorts the same records in memory, with a few spills and
// with hundreds of runs (several merge passes), and gets the same records
// in the same, stable order each time.
func TestSortBudgets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var recs [][]byte
	for i := range 20000 {
		recs = append(recs, record(rng.Uint32N(500), i))
	}
	want := slices.Clone(recs)
	slices.SortStableFunc(want, byKey)
	for _, budget := range []int64{1 << 30, 64 << 10, 1000} {
		t.Run(strconv.FormatInt(budget, 10), func(t *testing.T) {
			dir := t.TempDir()
			s := New(dir, budget, byKey)
			defer s.Close()
			for _, r := range recs {
				if err := s.Add(r); err != nil {
					t.Fatal(err)
				}
			}
			runs := len(s.runs)
			if budget == 1000 && runs <= MaxFanIn {
				t.Fatalf("%d runs, want more than %d to test multi-pass merges", runs, MaxFanIn)
			}
			out, err := s.Sort(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if out.Spilled() != (runs > 0) {
				t.Fatalf("spilled = %v with %d runs", out.Spilled(), runs)
			}
			if out.Len() != len(recs) {
				t.Fatalf("Len = %d, want %d", out.Len(), len(recs))
			}
			for pass := range 2 { // re-iterable
				got := collect(t, out)
				if !slices.EqualFunc(got, want, bytes.Equal) {
					t.Fatalf("pass %d: wrong order (budget %d, %d runs)", pass, budget, runs)
				}
			}
			// Breaking off an iteration releases the file.
			for range out.All() {
				break
			}
			if err := out.Close(); err != nil {
				t.Fatal(err)
			}
			if err := out.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if n := entries(t, dir); len(n) != 0 {
				t.Fatalf("left behind: %v", n)
			}
		})
	}
}

func TestEmpty(t *testing.T) {
	dir := t.TempDir()
	s := New(dir, 0, byKey)
	out, err := s.Sort(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 || len(collect(t, out)) != 0 || out.Spilled() {
		t.Fatal("empty input gave records")
	}
	out.Close()
	s.Close()
	if n := entries(t, dir); len(n) != 0 {
		t.Fatalf("left behind: %v", n)
	}
}

// TestCloseBeforeSort: an abandoned sorter (an error while adding) removes
// its runs.
func TestCloseBeforeSort(t *testing.T) {
	dir := t.TempDir()
	s := New(dir, 100, byKey)
	for i := range 100 {
		if err := s.Add(record(uint32(i), i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(entries(t, dir)) != 1 {
		t.Fatalf("want one spill directory, have %v", entries(t, dir))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := entries(t, dir); len(n) != 0 {
		t.Fatalf("left behind: %v", n)
	}
	if err := s.Add(record(1, 1)); err == nil {
		t.Fatal("Add after Close succeeded")
	}
}

func TestCancel(t *testing.T) {
	dir := t.TempDir()
	s := New(dir, 100, byKey)
	defer s.Close()
	for i := range 1000 {
		if err := s.Add(record(uint32(1000-i), i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("stop")
	cancel(stop)
	if _, err := s.Sort(ctx); !errors.Is(err, stop) {
		t.Fatalf("Sort after cancel: %v, want %v", err, stop)
	}
	s.Close()
	if n := entries(t, dir); len(n) != 0 {
		t.Fatalf("left behind: %v", n)
	}
}

// TestTrack: the spill directory is in the command's partial set while it
// exists, so a forced exit removes it, and leaves the set once closed.
func TestTrack(t *testing.T) {
	dir := t.TempDir()
	ctx, set := partial.NewContext(context.Background())
	s := New(dir, 100, byKey).Track(ctx)
	for i := range 100 {
		if err := s.Add(record(uint32(i), i)); err != nil {
			t.Fatal(err)
		}
	}
	out, err := s.Sort(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var removed []string
	set.Abandon(func(r []string) { removed = r })
	if len(removed) != 1 || filepath.Dir(removed[0]) != dir {
		t.Fatalf("Abandon removed %v, want the spill directory", removed)
	}
	if n := entries(t, dir); len(n) != 0 {
		t.Fatalf("left behind: %v", n)
	}
	for _, err := range out.All() {
		if err == nil {
			t.Fatal("iterating a removed spill file succeeded")
		}
	}
	out.Close()
}

func TestUntrackOnClose(t *testing.T) {
	dir := t.TempDir()
	ctx, set := partial.NewContext(context.Background())
	s := New(dir, 100, byKey).Track(ctx)
	for i := range 100 {
		s.Add(record(uint32(i), i))
	}
	out, err := s.Sort(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out.Close()
	s.Close()
	var removed []string
	set.Abandon(func(r []string) { removed = r })
	if len(removed) != 0 {
		t.Fatalf("still tracked after Close: %v", removed)
	}
}
