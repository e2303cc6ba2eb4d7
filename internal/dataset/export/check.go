package export

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/dataset/redact"
	"github.com/stella-ops/stella-export/internal/dataset/schema"
	"github.com/stella-ops/stella-export/internal/dataset/table"
)

// Checked is what Check found.
type Checked struct {
	Schema  *schema.Schema
	Output  table.Schema
	Summary redact.Summary
}

// Check does what an export does before its first row: loads the schema
// against its pin, opens the source (a CSV header, a SQLite query's
// columns, a Parquet file's footer), resolves the redaction and
// aggregation columns. Nothing is written.
func Check(c *contract.Contract) (*Checked, error) {
	d := c.Dataset
	s, err := LoadSchema(c)
	if err != nil {
		return nil, err
	}
	src, err := OpenSource(c, s)
	if err != nil {
		return nil, err
	}
	src.Close()
	// a stand-in key: Check hashes nothing
	h, err := redact.NewHasher(bytes.Repeat([]byte{0}, redact.MinSaltBytes), c.Tenant, "")
	if err != nil {
		return nil, err
	}
	plan, err := redact.New(c, s, h)
	if err != nil {
		return nil, err
	}
	out := plan.Out
	if d.Aggregation != nil {
		agg, err := newAggregator(c, out)
		if err != nil {
			return nil, err
		}
		out = agg.out
	}
	sum := plan.Summary()
	sum.HashKeyID = ""
	return &Checked{Schema: s, Output: out, Summary: sum}, nil
}

// LoadSchema loads the contract's schema against its pin; errors name the
// contract field (schema_digest for a mismatch, schema_ref otherwise).
func LoadSchema(c *contract.Contract) (*schema.Schema, error) {
	d := c.Dataset
	s, err := schema.Load(d.SchemaPath, d.SchemaDigest)
	var mismatch *schema.MismatchError
	if errors.As(err, &mismatch) {
		return nil, fmt.Errorf("%s: schema_digest: %w", c.Where("schema_digest"), err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: schema_ref: %w", c.Where("schema_ref"), err)
	}
	return s, nil
}
