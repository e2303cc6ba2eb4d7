//go:build pprof

// Built only with `-tags pprof` (scripts/bench.sh --profile): writes a CPU
// profile of the whole command to $STELLA_EXPORT_CPUPROFILE. Release builds
// carry no profiler.
package main

import (
	"os"
	"runtime/pprof"
)

func init() {
	path := os.Getenv("STELLA_EXPORT_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		os.Stderr.WriteString("stella-export: cpu profile: " + err.Error() + "\n")
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		os.Stderr.WriteString("stella-export: cpu profile: " + err.Error() + "\n")
		return
	}
	stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
}
