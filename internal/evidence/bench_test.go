package evidence

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkResolve measures plan's reading of a source of 2,000 OSV
// advisories of about 4 KiB each: hashing, extraction and the canonical
// JSON check every document gets.
func BenchmarkResolve(b *testing.B) {
	root := b.TempDir()
	var size int64
	for i := range 2000 {
		var aff []string
		for k := range 30 {
			aff = append(aff, fmt.Sprintf(`{"package":{"ecosystem":"npm","name":"pkg-%d-%d"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.%d"}]}]}`, i, k, k))
		}
		doc := fmt.Sprintf(`{"schema_version":"1.6.0","id":"GHSA-%04d","modified":"2025-01-01T00:00:00Z","summary":"%s","affected":[%s]}`,
			i, strings.Repeat("s", 200), strings.Join(aff, ","))
		size += int64(len(doc))
		write(b, root, fmt.Sprintf("acme/advisories/%02d/%d.json", i%50, i), doc)
	}
	cfg := Config{Source: root, Tenant: "acme", Workers: 1}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Resolve(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
	}
}
