// Package version holds the exporter version stamped at build time with
//
//	-ldflags "-X github.com/stella-ops/stella-export/internal/version.Version=v1.2.3"
//
// It is written into export.json, so it is part of a bundle's bytes: builds
// of the same version give the same bundles. Builds without a stamp report
// Dev, never VCS data, which would change the bytes on every commit.
package version

// Dev is the version of unstamped builds (go build, go test).
const Dev = "0.0.0-dev"

// Version is set by the linker for releases.
var Version = ""

// String returns the stamped version or Dev.
func String() string {
	if Version == "" {
		return Dev
	}
	return Version
}
