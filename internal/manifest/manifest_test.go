package manifest

import (
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/digest"
)

func TestExportCanonical(t *testing.T) {
	b, err := Bytes(Export{Format: Format, Profile: ProfileDirectory, ExportID: "e1", CreatedAtUTC: "2025-01-01T00:00:00Z",
		ExporterVersion: "1.0.0", FileCount: 2, PayloadBytes: 10, PayloadRoot: "sha256:ab"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"createdAtUtc":"2025-01-01T00:00:00Z","exportId":"e1","exporterVersion":"1.0.0","fileCount":2,"format":"stella-export/bundle/v1","payloadBytes":10,"payloadRoot":"sha256:ab","profile":"directory"}` + "\n"
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestTimestamp(t *testing.T) {
	tz := time.FixedZone("x", -5*3600)
	if got := Timestamp(time.Date(2025, 3, 4, 1, 2, 3, 999, tz)); got != "2025-03-04T06:02:03Z" {
		t.Fatalf("Timestamp = %s", got)
	}
}

func TestDerivedExportID(t *testing.T) {
	h, _ := digest.Parse("sha256:bfa01b440e811b7b436d08b97ad46663118bf5ed8417fc10902a4c6dde91c7a3")
	if got := DerivedExportID(h); got != "exp-bfa01b440e811b7b436d08b97ad46663" {
		t.Fatalf("DerivedExportID = %s", got)
	}
}

func TestCheckID(t *testing.T) {
	for _, ok := range []string{"e1", "urn:stella:export:1", "tenant-a", "B.1_2@x+y"} {
		if err := CheckID("id", ok); err != nil {
			t.Errorf("CheckID(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../x", "a/b", "-x", "a b", "é"} {
		if err := CheckID("id", bad); err == nil {
			t.Errorf("CheckID(%q) accepted", bad)
		}
	}
}
