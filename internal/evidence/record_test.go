package evidence

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/digest"
)

func randomDoc(rng *rand.Rand, i int) *Doc {
	pick := func(ss ...string) string { return ss[rng.IntN(len(ss))] }
	d := &Doc{
		Type:    Types[rng.IntN(len(Types))],
		Tenant:  pick("acme", "globex", "a", ""),
		Subject: pick("", "pkg:npm/x", "pkg:npm/x\x00y", "pkg:npm/xy", "é"),
		ID:      pick("A", "B", "A\x00", "", "GHSA-1"),
		Path:    fmt.Sprintf("acme/x/%d.json", i),
		SHA256:  digest.Sum([]byte{byte(i), byte(i >> 8)}).String(),
		Size:    rng.Int64N(1 << 40),
		Format:  pick("osv", "openvex", ""),
	}
	if rng.IntN(2) == 0 {
		d.Time = time.Unix(rng.Int64N(4e9)-1e9, rng.Int64N(1e9)).UTC()
	}
	for range rng.IntN(3) {
		d.Ecosystems = append(d.Ecosystems, pick("npm", "pypi"))
	}
	for range rng.IntN(3) {
		d.Products = append(d.Products, pick("pkg:npm/x", "pkg:pypi/y", ""))
	}
	return d
}

// TestRecordRoundTrip: a record decodes to the document it was made of,
// and records compare as Less compares documents (NUL bytes and prefixes
// included, where a separator-based encoding would go wrong).
func TestRecordRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var docs []*Doc
	var recs [][]byte
	for i := range 2000 {
		d := randomDoc(rng, i)
		rec, err := AppendRecord(nil, d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, d) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, d)
		}
		docs = append(docs, d)
		recs = append(recs, rec)
	}
	for i := range 5000 {
		a, b := rng.IntN(len(docs)), rng.IntN(len(docs))
		if i%7 == 0 {
			b = a
		}
		want := sign(Less(docs[a], docs[b]))
		if got := sign(CompareRecords(recs[a], recs[b])); got != want {
			t.Fatalf("CompareRecords(%v, %v) = %d, Less = %d", docs[a], docs[b], got, want)
		}
	}
}

func sign(c int) int { return min(max(c, -1), 1) }

func TestRecordRefused(t *testing.T) {
	d := &Doc{Type: Advisory, Tenant: "a", Path: "a/b.json", SHA256: "sha256:xyz"}
	if _, err := AppendRecord(nil, d); err == nil {
		t.Error("a malformed digest was encoded")
	}
	d.SHA256, d.Type = digest.Sum(nil).String(), "other"
	if _, err := AppendRecord(nil, d); err == nil {
		t.Error("an unknown type was encoded")
	}
	d.Type = VEX
	rec, _ := AppendRecord(nil, d)
	for n := range len(rec) {
		if _, err := DecodeRecord(rec[:n]); err == nil {
			t.Fatalf("a record cut at %d of %d bytes decoded", n, len(rec))
		}
	}
	if _, err := DecodeRecord(append(rec, 0)); err == nil {
		t.Error("a record with trailing bytes decoded")
	}
}

// manySource writes n small advisories in an order unlike plan order
// (ids descending as paths ascend), some sharing ids, some invalid.
func manySource(t testing.TB, n int) string {
	root := t.TempDir()
	for i := range n {
		id := fmt.Sprintf("GHSA-%06d", n-i)
		if i%97 == 5 {
			id = fmt.Sprintf("GHSA-%06d", n-i+1) // a duplicate of the previous
		}
		body := osv(id, "2024-03-01T00:00:00Z", fmt.Sprintf("npm|p%d", i%13))
		if i%101 == 7 {
			body = `{"id":` // invalid
		}
		write(t, root, fmt.Sprintf("acme/advisories/%02d/%06d.json", i%7, i), body)
	}
	return root
}

// TestResolveBudget: a budget small enough to spill hundreds of runs
// gives the same documents, totals, invalid list (in walk order) and
// duplicate decisions as the default budget, with one worker or several,
// and leaves no spill files behind once closed.
func TestResolveBudget(t *testing.T) {
	root := manySource(t, 3000)
	resolve := func(budget int64, workers int) (*Result, string) {
		spill := t.TempDir()
		r, err := Resolve(context.Background(), Config{Source: root, Tenant: "acme", SkipInvalid: true, Workers: workers,
			Spill: Spill{Dir: spill, Budget: budget}})
		if err != nil {
			t.Fatal(err)
		}
		return r, spill
	}
	want, _ := resolve(0, 2)
	defer want.Close()
	if want.Docs.Spilled() {
		t.Fatal("the default budget spilled 3000 small documents")
	}
	wantDocs := docList(t, want)
	if len(want.Invalid) == 0 || !slices.ContainsFunc(want.Invalid, func(in Invalid) bool { return strings.Contains(in.Reason, "duplicate") }) {
		t.Fatalf("the source should have invalid and duplicate documents: %v", want.Invalid)
	}
	for _, workers := range []int{1, 3} {
		got, spill := resolve(4096, workers)
		if !got.Docs.Spilled() {
			t.Fatal("a 4 KiB budget did not spill")
		}
		if n, _ := os.ReadDir(spill); len(n) == 0 {
			t.Fatal("no spill directory while the result is open")
		}
		if !reflect.DeepEqual(docList(t, got), wantDocs) || !reflect.DeepEqual(got.Invalid, want.Invalid) ||
			got.Bytes != want.Bytes || !reflect.DeepEqual(got.ByType, want.ByType) || !reflect.DeepEqual(got.Excluded, want.Excluded) {
			t.Fatalf("workers %d: a small budget gave another result (%d docs, want %d)", workers, got.Docs.Len(), want.Docs.Len())
		}
		got.Close()
		if n, _ := os.ReadDir(spill); len(n) != 0 {
			t.Fatalf("left behind: %v", n)
		}
	}
	var bytes int64
	for _, d := range wantDocs {
		bytes += d.Size
	}
	if bytes != want.Bytes || want.ByType[Advisory] != len(wantDocs) {
		t.Fatalf("totals %d bytes %v, documents say %d bytes, %d", want.Bytes, want.ByType, bytes, len(wantDocs))
	}
}

// TestResolveFailureCleans: a refused source (invalid documents without
// SkipInvalid) removes what was spilled.
func TestResolveFailureCleans(t *testing.T) {
	root := manySource(t, 500)
	spill := t.TempDir()
	_, err := Resolve(context.Background(), Config{Source: root, Tenant: "acme", Spill: Spill{Dir: spill, Budget: 2048}})
	if err == nil {
		t.Fatal("invalid documents accepted")
	}
	if n, _ := os.ReadDir(spill); len(n) != 0 {
		t.Fatalf("left behind: %v", n)
	}
}
