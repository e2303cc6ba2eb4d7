package commands

import (
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/version"
)

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version (it is recorded in every export.json)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			v := struct {
				Version string `json:"version"`
				Go      string `json:"go"`
				OS      string `json:"os"`
				Arch    string `json:"arch"`
			}{version.String(), runtime.Version(), runtime.GOOS, runtime.GOARCH}
			return printResult(e, cmd, v, func(w io.Writer) {
				fmt.Fprintf(w, "stella-export %s (%s %s/%s)\n", v.Version, v.Go, v.OS, v.Arch)
			})
		},
	}
}

// ExitCodesText is the exit-code table as `help exit-codes` and README.md
// print it.
func ExitCodesText() string {
	s := "| code | meaning |\n|---|---|\n"
	for _, e := range exitcode.Table {
		s += fmt.Sprintf("| %d | %s |\n", e.Code, e.Meaning)
	}
	return s
}

// ErrorCodesText is the error-code table as README.md and docs/format.md
// show it.
func ErrorCodesText() string {
	s := "| code | exit | meaning |\n|---|---|---|\n"
	for _, e := range exitcode.Codes {
		s += fmt.Sprintf("| `%s` | %d | %s |\n", e.Code, e.Exit, e.Meaning)
	}
	return s
}

func newExitCodesTopic() *cobra.Command {
	return &cobra.Command{
		Use:   "exit-codes",
		Short: "The exit codes and stable error codes of every command",
		Long: "Exit codes of stella-export (docs/format.md#exit-codes):\n\n" + ExitCodesText() +
			"\nEvery failure also has a stable error code (docs/format.md#error-codes):\n\n" + ErrorCodesText() +
			"\nErrors are one line on stderr: stella-export: <command>: <what failed>: <file>[: <field>]: <why>,\n" +
			"sometimes followed by one 'stella-export: hint:' line. With --json, failures also print\n" +
			"{\"code\":...,\"exit\":N,\"file\":...,\"message\":...,\"position\":...} on stdout (file and position\n" +
			"empty when unknown); run --json prints it after the events.",
	}
}
