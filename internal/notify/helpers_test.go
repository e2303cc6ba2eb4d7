package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/portable"
)

const (
	sampleDir = "../../testdata/sample"
	goldenDir = "../../testdata/golden/notify"
)

// samplePortable builds the portable evidence export of testdata/sample
// (bundle evb-sample, export exp-sample, tenant acme, default times) in a
// temporary directory and returns its path.
func samplePortable(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "portable-bundle-v1.tgz")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bundle.WriteDir(context.Background(), f, bundle.DirConfig{Dir: sampleDir}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := portable.Export(context.Background(), portable.Config{
		Input: in, BundleID: "evb-sample", ExportID: "exp-sample", Tenant: "acme", OutDir: filepath.Join(dir, "out"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Path
}

// fakeClock is the relay's clock in tests: Sleep records the wait and moves
// the clock forward instead of waiting.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 11, 20, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// testPayload is a well-formed payload for export exp-<n>.
func testPayload(n int) *Payload {
	sum := sha256.Sum256([]byte(fmt.Sprint("artifact ", n)))
	id := fmt.Sprintf("exp-%d", n)
	return &Payload{
		Type: EventType, ExportID: id, BundleID: "evb-1", TenantID: "acme",
		ProfileID: "airgap-evidence", PortableVersion: "v1",
		RootHash: "sha256:" + hex.EncodeToString(sum[:]), ArtifactURI: ArtifactURI("", id, "evb-1"),
		ArtifactSHA256: hex.EncodeToString(sum[:]), CreatedAt: "2025-11-20T00:00:00Z",
		Metadata: Metadata{SourceURI: "/evidence/evb-1/portable", PortableSizeBytes: 100, ExportSizeBytes: 200},
	}
}

// fill emits n test payloads into a new outbox and returns it and their keys.
func fill(t testing.TB, n int) (Outbox, []string) {
	t.Helper()
	o := Outbox{Dir: filepath.Join(t.TempDir(), "outbox")}
	var keys []string
	for i := range n {
		res, err := o.Emit(context.Background(), testPayload(i), false)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, res.Key)
	}
	return o, keys
}

// states returns the state of every key: pending, sent, dlq, or a list of
// several when an entry is in more than one place.
func states(t testing.TB, o Outbox, keys []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, k := range keys {
		for _, st := range []string{StatePending, StateSent, StateDLQ} {
			if _, err := os.Stat(o.Path(st, k)); err == nil {
				if out[k] != "" {
					out[k] += "+"
				}
				out[k] += st
			}
		}
	}
	return out
}

func asProfile(err error, target **ProfileError) bool { return errors.As(err, target) }
