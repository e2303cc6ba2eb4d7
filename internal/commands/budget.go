package commands

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/partial"
)

// minMemoryBudget is the smallest --memory-budget: below it every few
// thousand documents would be a spill file of their own.
const minMemoryBudget = 4 << 20

// byteSize is a flag value of bytes with an optional unit: 128MiB, 1GiB,
// 512KiB, 200MB, 1048576.
type byteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

func (b *byteSize) String() string {
	v := int64(*b)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v >= u.mult && v%u.mult == 0 {
			return strconv.FormatInt(v/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(v, 10)
}

func (b *byteSize) Set(s string) error {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return fmt.Errorf("%q is not a size in bytes (like 128MiB, 1GiB or 500MB)", s)
	}
	*b = byteSize(v * mult)
	return nil
}

func (b *byteSize) Type() string { return "size" }

// memoryFlag is --memory-budget of plan and run.
const memoryFlag = "memory-budget"

const memoryUsage = "memory the documents' sort may hold before it spills sorted runs to a temporary directory beside the output (KiB, MiB, GiB; at least 4MiB)"

func checkBudget(b byteSize) error {
	if b < minMemoryBudget {
		return exitcode.Usagef("--%s %s: below the minimum of 4MiB", memoryFlag, b.String())
	}
	return nil
}

// spillIn returns where plan and run spill: in dir, the output's directory
// (so that spill files land on its file system), or the system's
// temporary directory when dir is "" or does not exist yet; after removing
// the temporary directories and files that killed processes left there
// (partial.CleanStale).
func spillIn(dir string, budget byteSize) evidence.Spill {
	if st, err := os.Stat(dir); dir != "" && (err != nil || !st.IsDir()) {
		dir = ""
	}
	partial.CleanStale(dir)
	return evidence.Spill{Dir: dir, Budget: int64(budget)}
}
