// Command stella-export plans, runs, packages, signs, verifies and announces
// offline (air-gapped) exports. See README.md and `stella-export help`.
package main

import (
	"context"
	"os"

	"github.com/stella-ops/stella-export/internal/commands"
)

// stopProfile ends a profile started by pprof.go (built with -tags pprof).
var stopProfile = func() {}

func main() {
	ctx, stop := commands.SignalContext(context.Background(), os.Stderr)
	code := commands.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	stopProfile()
	os.Exit(code)
}
