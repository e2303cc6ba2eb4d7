package contract

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The checks below return "" for a valid value, or the reason it is not,
// fix included, in the words of a FieldError.

// maxExportIDLen is the longest export_id accepted, in bytes.
const maxExportIDLen = 200

const urnExample = "urn:stella:export:acme:weekly-advisories"

// checkURN accepts an RFC 8141 URN without r-, q- or f-components:
// "urn:" (any case), a namespace identifier of 2 to 32 letters, digits and
// '-' that neither starts nor ends with '-' and is not "urn", ':', then a
// namespace-specific string of RFC 3986 pchars and '/', not starting with
// '/', with '%' only as %XX.
func checkURN(s string) string {
	if len(s) > maxExportIDLen {
		return fmt.Sprintf("is %d bytes long; keep it to %d", len(s), maxExportIDLen)
	}
	if len(s) < 4 || !strings.EqualFold(s[:4], "urn:") {
		return fmt.Sprintf("%s is not a URN; write urn:<namespace>:<name>, e.g. %s", quote(s), urnExample)
	}
	nid, nss, ok := strings.Cut(s[4:], ":")
	if !ok {
		return fmt.Sprintf("%s has no name after the namespace; write urn:<namespace>:<name>, e.g. %s", quote(s), urnExample)
	}
	if strings.EqualFold(nid, "urn") {
		return fmt.Sprintf("%s repeats urn:; write urn:<namespace>:<name>, e.g. %s", quote(s), urnExample)
	}
	if len(nid) < 2 || len(nid) > 32 || nid[0] == '-' || nid[len(nid)-1] == '-' || strings.IndexFunc(nid, func(r rune) bool { return !isAlnum(r) && r != '-' }) >= 0 {
		return fmt.Sprintf("%s has an invalid namespace %s; a URN namespace is 2 to 32 letters, digits or '-', not starting or ending with '-' (e.g. stella)", quote(s), quote(nid))
	}
	if nss == "" {
		return fmt.Sprintf("%s has no name after the namespace; write urn:<namespace>:<name>, e.g. %s", quote(s), urnExample)
	}
	if nss[0] == '/' {
		return fmt.Sprintf("%s: the name after the namespace may not start with '/'", quote(s))
	}
	for i := 0; i < len(nss); i++ {
		c := nss[i]
		switch {
		case c == '%':
			if i+2 >= len(nss) || !isHex(nss[i+1]) || !isHex(nss[i+2]) {
				return fmt.Sprintf("%s has a '%%' that is not followed by two hex digits; write %%25 for a literal '%%'", quote(s))
			}
			i += 2
		case c == '?' || c == '#':
			return fmt.Sprintf("%s has a %q component; an export_id is a plain URN without ?+, ?= or # parts", quote(s), string(c))
		case !isPchar(c):
			return fmt.Sprintf("%s contains %s, which a URN cannot hold; use letters, digits and - . _ ~ : @ ! $ & ' ( ) * + , ; = /, or percent-encode it", quote(s), quoteChar(nss[i:]))
		}
	}
	return ""
}

func isAlnum(r rune) bool {
	return r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// isPchar reports whether c is an RFC 3986 pchar (other than a
// pct-encoded triplet) or '/'.
func isPchar(c byte) bool {
	if isAlnum(rune(c)) {
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0
}

// quoteChar quotes the first character of s, for messages.
func quoteChar(s string) string {
	r, _ := utf8.DecodeRuneInString(s)
	return fmt.Sprintf("%q", r)
}

// checkTenant accepts ^[a-z0-9][a-z0-9_-]{0,62}$.
func checkTenant(s string) string {
	if validTenant(s) {
		return ""
	}
	const rule = "a tenant is 1 to 63 lower-case letters, digits, '_' or '-', starting with a letter or digit"
	if l := strings.ToLower(s); l != s && validTenant(l) {
		return fmt.Sprintf("%s is not a tenant name: %s; write %s", quote(s), rule, l)
	}
	return fmt.Sprintf("%s is not a tenant name: %s", quote(s), rule)
}

func validTenant(s string) bool {
	if len(s) < 1 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// checkSnapshot accepts ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$: a policy
// snapshot id is a directory name under <source>/<tenant>/policy/.
func checkSnapshot(s string) string {
	ok := len(s) >= 1 && len(s) <= 128
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = isAlnum(rune(c)) || i > 0 && (c == '.' || c == '_' || c == '-')
	}
	if ok {
		return ""
	}
	return fmt.Sprintf("%s is not a policy snapshot id: it names a directory under <source>/<tenant>/policy/, 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. snap-2025-06)", quote(s))
}

// checkOutput accepts a bare file name of letters, digits, '.', '_' and
// '-' that starts with a letter or digit and ends in .tgz or .tar.gz.
func checkOutput(s string) string {
	if strings.ContainsAny(s, `/\`) {
		return fmt.Sprintf("%s is a path; output is a bare file name such as acme-weekly.tgz", quote(s))
	}
	if len(s) > 255 {
		return fmt.Sprintf("is %d bytes long; a file name has at most 255", len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(rune(c)) && c != '.' && c != '_' && c != '-' {
			return fmt.Sprintf("%s contains %s; use letters, digits, '.', '_' and '-' only", quote(s), quoteChar(s[i:]))
		}
	}
	if s == "" || !isAlnum(rune(s[0])) {
		return fmt.Sprintf("%s must start with a letter or digit, e.g. acme-weekly.tgz", quote(s))
	}
	if !strings.HasSuffix(s, ".tgz") && !strings.HasSuffix(s, ".tar.gz") {
		return fmt.Sprintf("%s must end in .tgz or .tar.gz, e.g. %s.tgz", quote(s), strings.TrimSuffix(s, ".tar"))
	}
	return ""
}

// checkPurlPrefix accepts "pkg:<type>" optionally followed by '/' and
// more of a purl: the type starts with a lower-case letter and holds
// lower-case letters, digits, '.', '+' and '-'; no whitespace or control
// characters anywhere. A version ("pkg:npm/lodash@4.17.21") is allowed.
func checkPurlPrefix(s string) string {
	const form = "write pkg:<type>[/<namespace>]/<name>[@<version>], or a prefix of one, e.g. pkg:npm/lodash or pkg:maven/org.apache.logging.log4j/"
	if s == "" {
		return "is empty; " + form
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
		return fmt.Sprintf("%s contains whitespace or a control character (%s); a purl has none: percent-encode it (a space is %%20)", quote(s), quoteChar(s[i:]))
	}
	if !strings.HasPrefix(s, "pkg:") {
		if len(s) >= 4 && strings.EqualFold(s[:4], "pkg:") {
			return fmt.Sprintf("%s: the purl scheme is lower case; write pkg:%s", quote(s), s[4:])
		}
		return fmt.Sprintf("%s is not a purl prefix; %s", quote(s), form)
	}
	rest := s[4:]
	if strings.HasPrefix(rest, "/") {
		return fmt.Sprintf("%s has '/' after pkg:; write pkg:%s", quote(s), strings.TrimLeft(rest, "/"))
	}
	typ, _, _ := strings.Cut(rest, "/")
	if typ == "" {
		return fmt.Sprintf("%s has no package type; %s", quote(s), form)
	}
	if l := strings.ToLower(typ); l != typ && validPurlType(l) {
		return fmt.Sprintf("%s: the purl type is lower case; write pkg:%s%s", quote(s), l, rest[len(typ):])
	}
	if !validPurlType(typ) {
		return fmt.Sprintf("%s has an invalid purl type %s: a type starts with a letter and holds a-z, 0-9, '.', '+' and '-' (e.g. npm, maven, golang)", quote(s), quote(typ))
	}
	return ""
}

func validPurlType(t string) bool {
	if t == "" || t[0] < 'a' || t[0] > 'z' {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '+' || c == '-') {
			return false
		}
	}
	return true
}

// parseTime reads an RFC 3339 time with whole seconds and returns it in
// UTC.
func parseTime(s string) (time.Time, string) {
	const example = "2025-01-01T00:00:00Z"
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if _, derr := time.Parse(time.DateOnly, s); derr == nil {
			return time.Time{}, fmt.Sprintf("%s is a date without a time; write %sT00:00:00Z", quote(s), s)
		}
		return time.Time{}, fmt.Sprintf("%s is not an RFC 3339 time; write e.g. %s", quote(s), example)
	}
	if strings.Contains(s, ".") {
		return time.Time{}, fmt.Sprintf("%s has fractional seconds; write whole seconds, e.g. %s", quote(s), t.UTC().Truncate(time.Second).Format(time.RFC3339))
	}
	return t.UTC(), ""
}

// quote quotes a value for a message, shortened when long.
func quote(s string) string {
	const maxLen = 80
	if len(s) > maxLen {
		cut := maxLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q...", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}
