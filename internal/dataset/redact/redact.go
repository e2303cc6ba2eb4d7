// Package redact applies a DatasetExport's redaction to rows
// (docs/dataset.md#redaction): dropped columns leave the output, masked
// columns hold "***", hashed columns hold the lower-case hex HMAC-SHA-256
// of the value's text form under the tenant's hash key, and rows matching
// suppress_where (VAWA-protected records) are left out and counted.
//
// The hash key is HMAC-SHA-256(salt, "stella-export/dataset-hash/v1\x00" +
// tenant): one salt serves several tenants without their hashes being
// comparable. A plain SHA-256 of an id is guessable by hashing every
// possible id; without the salt the HMAC is not.
//
// hash_mode presets add to the contract's lists: HASH_ALL_SSN hashes the
// schema's subject id column and every column named SSN (any case);
// HASH_VAWA_ONLY keeps the rows suppress_where selects instead of
// suppressing them, with those identifier columns hashed in those rows
// only; HASH_NONE adds nothing.
package redact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	gohash "hash"
	"io"
	"slices"
	"strings"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/dataset/schema"
	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// Mask is what a masked value becomes.
const Mask = "***"

// MinSaltBytes is the shortest salt accepted.
const MinSaltBytes = 16

// Hasher computes salted hashes of identifiers. It is not safe for
// concurrent use.
type Hasher struct {
	mac   gohash.Hash
	sum   []byte
	KeyID string // where the salt came from: a keyring key id, or the environment variable's name and a fingerprint
}

// NewHasher derives tenant's hash key from salt.
func NewHasher(salt []byte, tenant, keyID string) (*Hasher, error) {
	if len(salt) < MinSaltBytes {
		return nil, exitcode.Invalidf("hash salt %s: want at least %d bytes, got %d", keyID, MinSaltBytes, len(salt))
	}
	m := hmac.New(sha256.New, salt)
	m.Write([]byte("stella-export/dataset-hash/v1\x00" + tenant))
	return &Hasher{mac: hmac.New(sha256.New, m.Sum(nil)), KeyID: keyID}, nil
}

// Hash returns the hex HMAC of s.
func (h *Hasher) Hash(s string) string {
	h.mac.Reset()
	io.WriteString(h.mac, s)
	h.sum = h.mac.Sum(h.sum[:0])
	return hex.EncodeToString(h.sum)
}

type op int

const (
	keep op = iota
	mask
	hash
)

// Plan is a redaction resolved against a schema.
type Plan struct {
	In  *schema.Schema
	Out table.Schema

	src     []int // output column -> input column
	ops     []op  // by output column
	inOps   []op  // by input column; dropped columns are hashed in reports
	cond    []cond
	vawa    bool  // HASH_VAWA_ONLY
	idCols  []int // HASH_VAWA_ONLY: input columns hashed in matching rows
	hasher  *Hasher
	summary Summary
}

type cond struct {
	col  int
	text string
}

// Summary is the redaction's account in manifest.json.
type Summary struct {
	Dropped           []string          `json:"dropped"`
	Masked            []string          `json:"masked"`
	Hashed            []string          `json:"hashed"`
	HashMode          string            `json:"hashMode,omitempty"`
	HashKeyID         string            `json:"hashKeyId,omitempty"`
	SuppressWhere     map[string]string `json:"suppressWhere,omitempty"`
	SuppressedRows    int64             `json:"suppressedRows"`
	VAWAProtectedRows int64             `json:"vawaProtectedRows"`
}

// NeedsHasher reports whether the contract hashes anything, so a salt is
// needed; the subject id of the ledger is hashed whenever the schema has
// one.
func NeedsHasher(s *schema.Schema, d *contract.Dataset) bool {
	return len(d.Redaction.Hash) > 0 || s.SubjectID != "" || d.HashMode == contract.HashAllSSN || d.HashMode == contract.HashVAWAOnly
}

// New resolves c's redaction against s. Every column named must be in
// the schema (exit 3, naming the contract field). h may be nil when
// NeedsHasher is false.
func New(c *contract.Contract, s *schema.Schema, h *Hasher) (*Plan, error) {
	d := c.Dataset
	r := d.Redaction
	p := &Plan{In: s, hasher: h, inOps: make([]op, len(s.Columns)), vawa: d.HashMode == contract.HashVAWAOnly}
	dropped := make([]bool, len(s.Columns))
	set := func(field string, names []string, f func(i int) error) error {
		for k, n := range names {
			i := s.Index(n)
			if i < 0 {
				return exitcode.Invalidf("%s: %s[%d]: no column %s in schema %s", c.Where(fmt.Sprintf("%s[%d]", field, k)), field, k, n, s.Name)
			}
			if err := f(i); err != nil {
				return exitcode.Invalidf("%s: %s[%d]: %v", c.Where(fmt.Sprintf("%s[%d]", field, k)), field, k, err)
			}
		}
		return nil
	}
	taken := func(i int) error {
		if dropped[i] || p.inOps[i] != keep {
			return fmt.Errorf("column %s is redacted twice; name it in one of drop, mask and hash", s.Columns[i].Name)
		}
		return nil
	}
	if err := set("redaction.drop", r.Drop, func(i int) error {
		if err := taken(i); err != nil {
			return err
		}
		dropped[i] = true
		p.inOps[i] = hash
		return nil
	}); err != nil {
		return nil, err
	}
	if err := set("redaction.mask", r.Mask, func(i int) error {
		if err := taken(i); err != nil {
			return err
		}
		p.inOps[i] = mask
		return nil
	}); err != nil {
		return nil, err
	}
	if err := set("redaction.hash", r.Hash, func(i int) error {
		if err := taken(i); err != nil {
			return err
		}
		p.inOps[i] = hash
		return nil
	}); err != nil {
		return nil, err
	}
	if d.HashMode == contract.HashAllSSN || p.vawa {
		for i, col := range s.Columns {
			if col.Name != s.SubjectID && !strings.EqualFold(col.Name, "ssn") {
				continue
			}
			if p.vawa {
				p.idCols = append(p.idCols, i)
			} else if p.inOps[i] == keep && !dropped[i] {
				p.inOps[i] = hash
			}
		}
	}
	for _, n := range r.SuppressOrder {
		i := s.Index(n)
		if i < 0 {
			return nil, exitcode.Invalidf("%s: redaction.suppress_where: no column %s in schema %s", c.Where("redaction.suppress_where."+n), n, s.Name)
		}
		text := r.SuppressWhere[n]
		if v, err := table.ParseText(s.Columns[i].Type, text); err == nil {
			text = table.FormatValue(s.Columns[i].Type, v) // "01" matches an int 1
		}
		p.cond = append(p.cond, cond{i, text})
	}
	if h == nil && (slices.Contains(p.inOps, hash) || len(p.idCols) > 0) {
		return nil, exitcode.Invalidf("internal error: hashing without a hash key")
	}
	sum := &p.summary
	sum.Dropped, sum.Masked, sum.Hashed = []string{}, []string{}, []string{}
	for i, col := range s.Columns {
		switch {
		case dropped[i]:
			sum.Dropped = append(sum.Dropped, col.Name)
			continue
		case p.inOps[i] == mask:
			sum.Masked = append(sum.Masked, col.Name)
			col.Type = table.String
		case p.inOps[i] == hash:
			sum.Hashed = append(sum.Hashed, col.Name)
			col.Type = table.String
		case slices.Contains(p.idCols, i):
			col.Type = table.String // hashed in VAWA rows: text in every row
		}
		p.src = append(p.src, i)
		p.ops = append(p.ops, p.inOps[i])
		p.Out.Columns = append(p.Out.Columns, col)
	}
	p.Out.Name, p.Out.Version = s.Name, s.Version
	sum.HashMode = d.HashMode
	if h != nil && (len(sum.Hashed) > 0 || len(p.idCols) > 0) {
		sum.HashKeyID = h.KeyID
	}
	if len(r.SuppressWhere) > 0 {
		sum.SuppressWhere = r.SuppressWhere
	}
	return p, nil
}

// Summary returns the redaction's account so far.
func (p *Plan) Summary() Summary { return p.summary }

// matches reports whether in is a row suppress_where selects.
func (p *Plan) matches(in table.Row) bool {
	if len(p.cond) == 0 {
		return false
	}
	for _, c := range p.cond {
		if table.FormatValue(p.In.Columns[c.col].Type, in[c.col]) != c.text {
			return false
		}
	}
	return true
}

// Apply fills out (of len(Out.Columns)) from in, or returns false for a
// suppressed row.
func (p *Plan) Apply(in, out table.Row) bool {
	vawaRow := p.matches(in)
	if vawaRow {
		p.summary.VAWAProtectedRows++
		if !p.vawa {
			p.summary.SuppressedRows++
			return false
		}
	}
	for j, i := range p.src {
		v := in[i]
		switch {
		case v == nil:
			out[j] = nil
		case p.ops[j] == mask:
			out[j] = Mask
		case p.ops[j] == hash:
			out[j] = p.hasher.Hash(table.FormatValue(p.In.Columns[i].Type, v))
		case vawaRow && slices.Contains(p.idCols, i):
			out[j] = p.hasher.Hash(table.FormatValue(p.In.Columns[i].Type, v))
		case p.Out.Columns[j].Type == table.String && p.In.Columns[i].Type != table.String:
			out[j] = table.FormatValue(p.In.Columns[i].Type, v)
		default:
			out[j] = v
		}
	}
	return true
}

// Shown is a value as validation-report.json may show it: the text form,
// "***" for a masked column, the hash for a hashed or dropped one (and
// for HASH_VAWA_ONLY's identifier columns), "" for null.
func (p *Plan) Shown(col int, v any) string {
	if v == nil {
		return ""
	}
	t := p.In.Columns[col].Type
	switch {
	case p.inOps[col] == mask:
		return Mask
	case p.inOps[col] == hash || slices.Contains(p.idCols, col):
		if p.hasher == nil {
			return Mask
		}
		return "hmac-sha256:" + p.hasher.Hash(table.FormatValue(t, v))
	}
	return table.FormatValue(t, v)
}

// Subject returns the hashed subject id of an input row, or "" when the
// schema has no subject id column or the row's is null.
func (p *Plan) Subject(in table.Row) string {
	if p.In.SubjectID == "" || p.hasher == nil {
		return ""
	}
	i := p.In.Index(p.In.SubjectID)
	if in[i] == nil {
		return ""
	}
	return p.hasher.Hash(table.FormatValue(p.In.Columns[i].Type, in[i]))
}
