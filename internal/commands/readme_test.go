package commands

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestReadmeDocumentsCLI keeps README.md honest: the exit-code table is the
// one `help exit-codes` prints, and every flag of every command is named.
func TestReadmeDocumentsCLI(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	if !strings.Contains(readme, ErrorCodesText()) {
		t.Errorf("README.md does not contain the error-code table of internal/exitcode:\n%s", ErrorCodesText())
	}
	if !strings.Contains(readme, ExitCodesText()) {
		t.Errorf("README.md does not contain the exit-code table of internal/exitcode:\n%s", ExitCodesText())
	}
	root := newRoot(&env{global: &globalOptions{}, getenv: func(string) string { return "" }})
	var walk func(*cobra.Command)
	walk = func(parent *cobra.Command) {
		for _, c := range parent.Commands() {
			if !c.IsAvailableCommand() {
				continue
			}
			if !strings.Contains(readme, c.CommandPath()) {
				t.Errorf("README.md does not mention `%s`", c.CommandPath())
			}
			c.Flags().VisitAll(func(f *pflag.Flag) {
				if f.Name != "help" && !strings.Contains(readme, "--"+f.Name) {
					t.Errorf("README.md does not document %s --%s", c.CommandPath(), f.Name)
				}
			})
			walk(c)
		}
	}
	walk(root)
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(readme, "--"+f.Name) {
			t.Errorf("README.md does not document the global flag --%s", f.Name)
		}
	})
}
