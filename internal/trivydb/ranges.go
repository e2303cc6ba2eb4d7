package trivydb

import (
	"fmt"
	"slices"
	"strings"
)

// Reasons an advisory, or one affected entry of it, is left out.
const (
	ReasonWithdrawn            = "withdrawn"
	ReasonNoAffected           = "no-affected-package"
	ReasonUnsupportedEcosystem = "unsupported-ecosystem"
	ReasonGitOnly              = "git-ranges-only"
	ReasonNoVersions           = "no-version-ranges"
	ReasonMalformedRange       = "malformed-range"
	ReasonBadVersion           = "unparsable-version"
)

// skipError says why one affected entry gives no constraint.
type skipError struct {
	reason string
	detail string
}

func (e *skipError) Error() string { return e.reason + ": " + e.detail }

// constraints turns one affected entry into Trivy's VulnerableVersions and
// PatchedVersions for ecosystem e:
//
//	{introduced 0, fixed X}          "<X"
//	{introduced A, fixed X}          ">=A, <X"
//	{introduced 0, last_affected L}  "<=L"
//	{introduced A, last_affected L}  ">=A, <=L" ("=A" when A is L)
//	{introduced A}                   ">=A" (">=0" for every version)
//	versions [v] without a SEMVER or ECOSYSTEM range: "=v"
//
// Each range interval and each listed version is its own element (Trivy
// ORs the elements, a comma ANDs inside one). Every fixed version is also a
// PatchedVersions element. Events are read in array order: an introduced
// opens an interval, a fixed or last_affected closes the open one; limit
// events only bound GIT ranges, which Trivy cannot use, and are ignored.
// Go versions get their leading "v". The result is sorted and free of
// duplicates.
func constraints(e ecosystem, a Affected) (vulnerable, patched []string, err error) {
	ver := func(v string) (string, error) {
		if !e.version.MatchString(v) {
			return "", &skipError{ReasonBadVersion, fmt.Sprintf("%q", v)}
		}
		if e.goPrefix && v != "0" && !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		return v, nil
	}
	var usable, git bool
	for i, r := range a.Ranges {
		switch r.Type {
		case "GIT":
			git = true
			continue
		case "SEMVER", "ECOSYSTEM":
		default:
			return nil, nil, &skipError{ReasonMalformedRange, fmt.Sprintf("ranges[%d]: type %q", i, r.Type)}
		}
		usable = true
		open, from := false, ""
		for j, ev := range r.Events {
			switch {
			case ev.Introduced != "":
				if open { // a second introduced: the first interval stays open
					vulnerable = append(vulnerable, ">="+from)
				}
				v, err := ver(ev.Introduced)
				if err != nil {
					return nil, nil, err
				}
				open, from = true, v
			case ev.Fixed != "" || ev.LastAffected != "":
				if !open {
					return nil, nil, &skipError{ReasonMalformedRange, fmt.Sprintf("ranges[%d].events[%d]: no introduced before it", i, j)}
				}
				to, op := ev.Fixed, "<"
				if to == "" {
					to, op = ev.LastAffected, "<="
				}
				v, err := ver(to)
				if err != nil {
					return nil, nil, err
				}
				switch {
				case op == "<=" && v == from:
					vulnerable = append(vulnerable, "="+v)
				case from == "0":
					vulnerable = append(vulnerable, op+v)
				default:
					vulnerable = append(vulnerable, ">="+from+", "+op+v)
				}
				if op == "<" {
					patched = append(patched, v)
				}
				open = false
			case ev.Limit != "":
			default:
				return nil, nil, &skipError{ReasonMalformedRange, fmt.Sprintf("ranges[%d].events[%d]: empty event", i, j)}
			}
		}
		if open {
			vulnerable = append(vulnerable, ">="+from)
		}
	}
	if !usable {
		for _, v := range a.Versions {
			s, err := ver(v)
			if err != nil {
				return nil, nil, err
			}
			vulnerable = append(vulnerable, "="+s)
		}
	}
	if len(vulnerable) == 0 {
		if git {
			return nil, nil, &skipError{ReasonGitOnly, "only GIT ranges and no versions list"}
		}
		return nil, nil, &skipError{ReasonNoVersions, "no ranges and no versions list"}
	}
	return sortedSet(vulnerable), sortedSet(patched), nil
}

// sortedSet sorts s and removes duplicates in place.
func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Compact(s)
}

func sortStrings(s []string) { slices.Sort(s) }
