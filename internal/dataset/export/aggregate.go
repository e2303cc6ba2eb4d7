package export

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/dataset/table"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

// MaxGroups bounds the groups of an aggregation, which are held in memory.
const MaxGroups = 1 << 20

// AggregationSummary is manifest.json's account of an aggregation.
type AggregationSummary struct {
	GroupBy []string `json:"groupBy"`
	Count   bool     `json:"count"`
	Sum     []string `json:"sum"`
	Groups  int      `json:"groups"`
}

// aggregator groups redacted rows by the group_by columns and counts and
// sums them. Output rows are ordered by the groups' text forms.
type aggregator struct {
	a      *contract.Aggregation
	out    table.Schema
	keys   []int // input (redacted) columns of group_by
	sums   []int // input columns of sum
	groups map[string]*group
	key    strings.Builder
}

type group struct {
	vals  table.Row
	count int64
	sums  []any
}

func newAggregator(c *contract.Contract, in table.Schema) (*aggregator, error) {
	a := c.Dataset.Aggregation
	g := &aggregator{a: a, groups: map[string]*group{}}
	index := func(name string) int {
		return slices.IndexFunc(in.Columns, func(col table.Column) bool { return col.Name == name })
	}
	for k, n := range a.GroupBy {
		i := index(n)
		if i < 0 {
			return nil, exitcode.Invalidf("%s: aggregation.group_by[%d]: no column %s in the redacted rows (dropped, or not in the schema)", c.Where(fmt.Sprintf("aggregation.group_by[%d]", k)), k, n)
		}
		g.keys = append(g.keys, i)
		g.out.Columns = append(g.out.Columns, in.Columns[i])
	}
	if a.Count {
		g.out.Columns = append(g.out.Columns, table.Column{Name: "count", Type: table.Int, Required: true})
	}
	for k, n := range a.Sum {
		i := index(n)
		where := c.Where(fmt.Sprintf("aggregation.measures.sum[%d]", k))
		if i < 0 {
			return nil, exitcode.Invalidf("%s: aggregation.measures.sum[%d]: no column %s in the redacted rows (dropped, or not in the schema)", where, k, n)
		}
		t := in.Columns[i].Type
		if t != table.Int && t != table.Float {
			return nil, exitcode.Invalidf("%s: aggregation.measures.sum[%d]: column %s is a %s; sum adds int and float columns", where, k, n, t)
		}
		g.sums = append(g.sums, i)
		g.out.Columns = append(g.out.Columns, table.Column{Name: "sum_" + n, Type: t, Required: true})
	}
	g.out.Name, g.out.Version = in.Name, in.Version
	return g, nil
}

func (g *aggregator) add(r table.Row) error {
	g.key.Reset()
	for _, i := range g.keys {
		if r[i] == nil {
			g.key.WriteString("\x00N")
		} else {
			g.key.WriteString("\x00V")
			g.key.WriteString(table.FormatText(r[i]))
		}
	}
	k := g.key.String()
	gr := g.groups[k]
	if gr == nil {
		if len(g.groups) >= MaxGroups {
			return exitcode.Invalidf("aggregation: more than %d groups; group by fewer or coarser columns", MaxGroups)
		}
		gr = &group{vals: make(table.Row, len(g.keys)), sums: make([]any, len(g.sums))}
		for j, i := range g.keys {
			gr.vals[j] = r[i]
		}
		for j := range g.sums {
			if g.outType(j) == table.Int {
				gr.sums[j] = int64(0)
			} else {
				gr.sums[j] = float64(0)
			}
		}
		g.groups[k] = gr
	}
	gr.count++
	for j, i := range g.sums {
		switch v := r[i].(type) {
		case int64:
			s := gr.sums[j].(int64)
			if (v > 0 && s > math.MaxInt64-v) || (v < 0 && s < math.MinInt64-v) {
				return exitcode.Invalidf("aggregation: sum of %s overflows a 64-bit integer", g.a.Sum[j])
			}
			gr.sums[j] = s + v
		case float64:
			gr.sums[j] = gr.sums[j].(float64) + v
		}
	}
	return nil
}

func (g *aggregator) outType(j int) table.Type {
	off := len(g.keys)
	if g.a.Count {
		off++
	}
	return g.out.Columns[off+j].Type
}

func (g *aggregator) flush(write func(table.Row) error) error {
	keys := make([]string, 0, len(g.groups))
	for k := range g.groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	row := make(table.Row, len(g.out.Columns))
	for _, k := range keys {
		gr := g.groups[k]
		j := copy(row, gr.vals)
		if g.a.Count {
			row[j] = gr.count
			j++
		}
		for _, s := range gr.sums {
			if f, ok := s.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
				return exitcode.Invalidf("aggregation: a sum is not a finite number")
			}
			row[j] = s
			j++
		}
		if err := write(row); err != nil {
			return err
		}
	}
	return nil
}

func (g *aggregator) summary() *AggregationSummary {
	return &AggregationSummary{GroupBy: g.a.GroupBy, Count: g.a.Count, Sum: append([]string{}, g.a.Sum...), Groups: len(g.groups)}
}
