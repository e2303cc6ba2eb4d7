package trivydb

import (
	"strings"

	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"
)

// Severity levels as Trivy stores them (trivy-db pkg/types: the index is the
// VendorSeverity value, the name is the Severity string).
var severityNames = []string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

const (
	sevUnknown = iota
	sevLow
	sevMedium
	sevHigh
	sevCritical
)

// Severities lists Trivy's severity names from lowest to highest.
func Severities() []string { return append([]string(nil), severityNames...) }

// cvss is what one advisory says about scores.
type cvss struct {
	V3Vector  string  `json:"V3Vector,omitempty"`
	V3Score   float64 `json:"V3Score,omitempty"`
	V40Vector string  `json:"V40Vector,omitempty"`
	V40Score  float64 `json:"V40Score,omitempty"`
}

// severityWord maps a database_specific.severity word to a level.
func severityWord(s string) int {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "LOW":
		return sevLow
	case "MODERATE", "MEDIUM":
		return sevMedium
	case "HIGH":
		return sevHigh
	case "CRITICAL":
		return sevCritical
	}
	return sevUnknown
}

// scoreLevel is the CVSS qualitative rating of a score (trivy-db
// vulnsrc/vulnerability scoreToSeverity).
func scoreLevel(score float64) int {
	switch {
	case score >= 9.0:
		return sevCritical
	case score >= 7.0:
		return sevHigh
	case score >= 4.0:
		return sevMedium
	case score > 0:
		return sevLow
	}
	return sevUnknown
}

// parseCVSS reads the CVSS_V3 and CVSS_V4 entries of an OSV severity array;
// an unparsable vector is ignored (as trivy-db does). v3 scores are base
// scores computed from the vector.
func parseCVSS(list []Severity) cvss {
	var c cvss
	for _, s := range list {
		vec := strings.TrimSuffix(strings.TrimSpace(s.Score), "/")
		switch s.Type {
		case "CVSS_V3":
			switch {
			case strings.HasPrefix(vec, "CVSS:3.0/"):
				if v, err := gocvss30.ParseVector(vec); err == nil {
					c.V3Vector, c.V3Score = vec, v.BaseScore()
				}
			case strings.HasPrefix(vec, "CVSS:3.1/"):
				if v, err := gocvss31.ParseVector(vec); err == nil {
					c.V3Vector, c.V3Score = vec, v.BaseScore()
				}
			}
		case "CVSS_V4":
			if v, err := gocvss40.ParseVector(vec); err == nil {
				c.V40Vector, c.V40Score = vec, v.Score()
			}
		}
	}
	return c
}

// severityOf is an advisory's level: database_specific.severity when it is
// one of LOW, MODERATE/MEDIUM, HIGH, CRITICAL; else the rating of the CVSS
// v4 score; else of the v3 base score; else UNKNOWN.
func severityOf(word string, c cvss) int {
	if s := severityWord(word); s != sevUnknown {
		return s
	}
	if s := scoreLevel(c.V40Score); s != sevUnknown {
		return s
	}
	return scoreLevel(c.V3Score)
}
