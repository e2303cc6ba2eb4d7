package export

import (
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/dataset/schema"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

func openSQLite(c *contract.Contract, s *schema.Schema) (*Source, error) {
	return nil, exitcode.Invalidf("%s: dataset_ref: sqlite sources are not read by this version yet; export the table to CSV", c.Where("dataset_ref"))
}
