package contract

import "strings"

// suggest returns the candidate closest to s, or "" when none is close
// enough to be a likely typo. Letter case and the separators '_', '-',
// ':', '.' and ' ' are ignored, so "exportId", "json-raw" and "crates-io"
// find export_id, json:raw and crates.io.
func suggest(s string, candidates []string) string {
	key := fold(s)
	if key == "" || len(key) > 64 {
		return ""
	}
	best, bestDist := "", -1
	for _, c := range candidates {
		fc := fold(c)
		d := distance(key, fc)
		limit := max(len(key), len(fc)) / 3
		if limit < 1 {
			limit = 1
		}
		// A shortened name ("retention" for retention_days) is a
		// likely typo too.
		if d > limit && !(len(key) >= 4 && strings.HasPrefix(fc, key)) {
			continue
		}
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

func fold(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch r {
		case '_', '-', ':', '.', ' ':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// distance is the Levenshtein distance between a and b, by runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
