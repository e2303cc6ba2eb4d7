package trivydb

import (
	"errors"
	"slices"
	"testing"
)

func ev(kv ...string) []Event {
	var out []Event
	for i := 0; i < len(kv); i += 2 {
		switch kv[i] {
		case "i":
			out = append(out, Event{Introduced: kv[i+1]})
		case "f":
			out = append(out, Event{Fixed: kv[i+1]})
		case "l":
			out = append(out, Event{LastAffected: kv[i+1]})
		case "x":
			out = append(out, Event{Limit: kv[i+1]})
		}
	}
	return out
}

func TestConstraints(t *testing.T) {
	tests := []struct {
		name       string
		eco        string
		ranges     []Range
		versions   []string
		vulnerable []string
		patched    []string
		reason     string
	}{
		{name: "introduced 0 fixed", eco: "npm", ranges: []Range{{"SEMVER", ev("i", "0", "f", "1.2.3")}},
			vulnerable: []string{"<1.2.3"}, patched: []string{"1.2.3"}},
		{name: "introduced fixed", eco: "PyPI", ranges: []Range{{"ECOSYSTEM", ev("i", "1.0", "f", "1.4.2")}},
			vulnerable: []string{">=1.0, <1.4.2"}, patched: []string{"1.4.2"}},
		{name: "last_affected from 0", eco: "Maven", ranges: []Range{{"ECOSYSTEM", ev("i", "0", "l", "2.17.0")}},
			vulnerable: []string{"<=2.17.0"}},
		{name: "introduced last_affected", eco: "RubyGems", ranges: []Range{{"ECOSYSTEM", ev("i", "5.0.0", "l", "5.2.1")}},
			vulnerable: []string{">=5.0.0, <=5.2.1"}},
		{name: "introduced equals last_affected", eco: "NuGet", ranges: []Range{{"ECOSYSTEM", ev("i", "4.1.0", "l", "4.1.0")}},
			vulnerable: []string{"=4.1.0"}},
		{name: "introduced only", eco: "crates.io", ranges: []Range{{"SEMVER", ev("i", "0.0.0-0")}},
			vulnerable: []string{">=0.0.0-0"}},
		{name: "introduced 0 only", eco: "Packagist", ranges: []Range{{"ECOSYSTEM", ev("i", "0")}},
			vulnerable: []string{">=0"}},
		{name: "several intervals in one range", eco: "Pub", ranges: []Range{{"ECOSYSTEM", ev("i", "0", "f", "1.1.0", "i", "2.0.0", "f", "2.0.5")}},
			vulnerable: []string{"<1.1.0", ">=2.0.0, <2.0.5"}, patched: []string{"1.1.0", "2.0.5"}},
		{name: "several ranges", eco: "Hex", ranges: []Range{{"SEMVER", ev("i", "1.0.0", "f", "1.0.9")}, {"SEMVER", ev("i", "1.1.0", "l", "1.1.3")}},
			vulnerable: []string{">=1.0.0, <1.0.9", ">=1.1.0, <=1.1.3"}, patched: []string{"1.0.9"}},
		{name: "two introduced in a row", eco: "npm", ranges: []Range{{"SEMVER", ev("i", "1.0.0", "i", "2.0.0", "f", "2.1.0")}},
			vulnerable: []string{">=1.0.0", ">=2.0.0, <2.1.0"}, patched: []string{"2.1.0"}},
		{name: "limit ignored", eco: "npm", ranges: []Range{{"SEMVER", ev("i", "0", "f", "3.0.0", "x", "4.0.0")}},
			vulnerable: []string{"<3.0.0"}, patched: []string{"3.0.0"}},
		{name: "go gets its v", eco: "Go", ranges: []Range{{"SEMVER", ev("i", "0", "f", "1.17.10", "i", "1.18.0-0", "f", "1.18.2")}},
			vulnerable: []string{"<v1.17.10", ">=v1.18.0-0, <v1.18.2"}, patched: []string{"v1.17.10", "v1.18.2"}},
		{name: "go pseudo-version", eco: "Go", ranges: []Range{{"SEMVER", ev("i", "0", "f", "0.0.0-20220412211240-33da011f77ad")}},
			vulnerable: []string{"<v0.0.0-20220412211240-33da011f77ad"}, patched: []string{"v0.0.0-20220412211240-33da011f77ad"}},
		{name: "go keeps an existing v", eco: "Go", ranges: []Range{{"SEMVER", ev("i", "v1.2.0", "f", "v1.3.0")}},
			vulnerable: []string{">=v1.2.0, <v1.3.0"}, patched: []string{"v1.3.0"}},
		{name: "versions list alone", eco: "PyPI", versions: []string{"1.0", "1.1", "1.0"},
			vulnerable: []string{"=1.0", "=1.1"}},
		{name: "versions list beside git range", eco: "npm", ranges: []Range{{"GIT", ev("i", "abc", "f", "def")}}, versions: []string{"2.0.1"},
			vulnerable: []string{"=2.0.1"}},
		{name: "versions list ignored beside ecosystem range", eco: "npm", ranges: []Range{{"SEMVER", ev("i", "0", "f", "2.0.0")}}, versions: []string{"1.9.9"},
			vulnerable: []string{"<2.0.0"}, patched: []string{"2.0.0"}},
		{name: "git only", eco: "npm", ranges: []Range{{"GIT", ev("i", "abc", "f", "def")}}, reason: ReasonGitOnly},
		{name: "nothing", eco: "npm", reason: ReasonNoVersions},
		{name: "fixed before introduced", eco: "npm", ranges: []Range{{"SEMVER", ev("f", "1.0.0")}}, reason: ReasonMalformedRange},
		{name: "unknown range type", eco: "npm", ranges: []Range{{"DATE", ev("i", "0")}}, reason: ReasonMalformedRange},
		{name: "empty event", eco: "npm", ranges: []Range{{"SEMVER", []Event{{}}}}, reason: ReasonMalformedRange},
		{name: "npm rejects four parts", eco: "npm", ranges: []Range{{"SEMVER", ev("i", "0", "f", "1.2.3.4")}}, reason: ReasonBadVersion},
		{name: "comma in a version", eco: "Maven", ranges: []Range{{"ECOSYSTEM", ev("i", "0", "f", "1.0,2.0")}}, reason: ReasonBadVersion},
		{name: "operator in a version", eco: "PyPI", versions: []string{"<1.0"}, reason: ReasonBadVersion},
		{name: "nuget four parts", eco: "NuGet", ranges: []Range{{"ECOSYSTEM", ev("i", "0", "f", "4.0.0.1")}},
			vulnerable: []string{"<4.0.0.1"}, patched: []string{"4.0.0.1"}},
		{name: "maven qualifier", eco: "Maven", ranges: []Range{{"ECOSYSTEM", ev("i", "2.0-beta9", "f", "2.15.0")}},
			vulnerable: []string{">=2.0-beta9, <2.15.0"}, patched: []string{"2.15.0"}},
		{name: "pypi epoch and post", eco: "PyPI", ranges: []Range{{"ECOSYSTEM", ev("i", "1!2.0", "f", "1!2.0.post1")}},
			vulnerable: []string{">=1!2.0, <1!2.0.post1"}, patched: []string{"1!2.0.post1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := lookupEcosystem(tt.eco)
			if !ok {
				t.Fatalf("ecosystem %q not supported", tt.eco)
			}
			vul, pat, err := constraints(e, Affected{Ranges: tt.ranges, Versions: tt.versions})
			if tt.reason != "" {
				var se *skipError
				if !errors.As(err, &se) || se.reason != tt.reason {
					t.Fatalf("err = %v, want reason %s", err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(vul, tt.vulnerable) || !slices.Equal(pat, tt.patched) {
				t.Errorf("got %q / %q, want %q / %q", vul, pat, tt.vulnerable, tt.patched)
			}
		})
	}
}

func TestEcosystems(t *testing.T) {
	tests := []struct{ osv, prefix, name, want string }{
		{"npm", "npm", "@Angular/Core", "@angular/core"},
		{"PyPI", "pip", "Django_Rest-Framework", "django-rest-framework"},
		{"Go", "go", "github.com/BurntSushi/toml", "github.com/BurntSushi/toml"},
		{"Maven", "maven", "org.apache.logging.log4j:log4j-core", "org.apache.logging.log4j:log4j-core"},
		{"Maven:https://repo.example/maven2", "maven", "Com.Example:Lib", "com.example:lib"},
		{"crates.io", "cargo", "Tokio", "tokio"},
		{"RubyGems", "rubygems", "Rails", "rails"},
		{"NuGet", "nuget", "Newtonsoft.Json", "newtonsoft.json"},
		{"Packagist", "composer", "Symfony/HTTP-Kernel", "symfony/http-kernel"},
		{"Pub", "pub", "HTTP", "http"},
		{"Hex", "erlang", "Plug", "plug"},
		{"Julia", "julia", "HTTP", "HTTP"},
		{"SwiftURL", "swift", "https://github.com/vapor/vapor.git", "github.com/vapor/vapor"},
	}
	for _, tt := range tests {
		e, ok := lookupEcosystem(tt.osv)
		if !ok {
			t.Errorf("%s: not supported", tt.osv)
			continue
		}
		if e.prefix != tt.prefix || e.normalise(tt.name) != tt.want {
			t.Errorf("%s %q: got %s %q, want %s %q", tt.osv, tt.name, e.prefix, e.normalise(tt.name), tt.prefix, tt.want)
		}
	}
	for _, osv := range []string{"Debian:12", "Alpine:v3.20", "OSS-Fuzz", "GIT", "Linux", ""} {
		if _, ok := lookupEcosystem(osv); ok {
			t.Errorf("%q: supported, want unsupported", osv)
		}
	}
}
