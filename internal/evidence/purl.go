package evidence

import "strings"

// PurlType returns the lowercased type of a package URL ("pkg:npm/x" →
// "npm"), or "" when s is not a purl.
func PurlType(s string) string {
	if !strings.HasPrefix(s, "pkg:") {
		return ""
	}
	rest := strings.TrimLeft(s[4:], "/")
	i := strings.IndexByte(rest, '/')
	if i <= 0 {
		return ""
	}
	return strings.ToLower(rest[:i])
}

// normPurl lowercases the type segment, so that prefixes and purls compare
// the way the purl specification says types do.
func normPurl(s string) string {
	if !strings.HasPrefix(s, "pkg:") {
		return s
	}
	rest := strings.TrimLeft(s[4:], "/")
	i := strings.IndexByte(rest, '/')
	if i <= 0 {
		return "pkg:" + strings.ToLower(rest)
	}
	return "pkg:" + strings.ToLower(rest[:i]) + rest[i:]
}

// Product returns the purl without version, qualifiers and subpath: the
// package a document is about, whatever its version.
func Product(purl string) string {
	p := normPurl(purl)
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if i := strings.LastIndexByte(p, '@'); i > strings.LastIndexByte(p, '/') {
		p = p[:i]
	}
	return p
}

// MatchPrefix reports whether purl falls under the selector prefix: equal,
// or continuing at a component boundary ('@' version, '?' qualifiers, '#'
// subpath, '/' deeper namespace), or prefix itself ends in '/'. So
// "pkg:npm/lodash" matches "pkg:npm/lodash@4.17.21" but not
// "pkg:npm/lodash-es".
func MatchPrefix(purl, prefix string) bool {
	purl, prefix = normPurl(purl), normPurl(prefix)
	if !strings.HasPrefix(purl, prefix) {
		return false
	}
	if len(purl) == len(prefix) || strings.HasSuffix(prefix, "/") {
		return true
	}
	switch purl[len(prefix)] {
	case '@', '?', '#', '/':
		return true
	}
	return false
}

// osvPurl derives a purl for an OSV affected package that names no purl.
func osvPurl(ptype, name string) string {
	if ptype == "" || name == "" {
		return ""
	}
	switch ptype {
	case "maven":
		name = strings.Replace(name, ":", "/", 1)
	case "npm":
		if strings.HasPrefix(name, "@") {
			name = "%40" + name[1:]
		}
	case "pypi":
		name = strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	}
	return "pkg:" + ptype + "/" + name
}
