package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/evidence"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/partial"
	"github.com/stella-ops/stella-export/internal/plan"
)

type planOptions struct {
	output           string
	force            bool
	check            bool
	allowCrossTenant bool
	skipInvalid      bool
	memoryBudget     byteSize
	createdAt        string
}

func (o *planOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "write the plan to this file (default: standard output)")
	f.BoolVar(&o.force, "force", false, "replace an existing plan file (a regular file only)")
	f.BoolVar(&o.check, "check", false, "only validate the contracts (files or directories of *.yaml) and print one line per error")
	f.BoolVar(&o.allowCrossTenant, "allow-cross-tenant", false, "confirm a cross-tenant export the contract allows (allow_cross_tenant: true)")
	f.BoolVar(&o.skipInvalid, "skip-invalid", false, "record malformed evidence documents in the plan and export.json instead of failing")
	o.memoryBudget = evidence.DefaultMemoryBudget
	f.Var(&o.memoryBudget, memoryFlag, memoryUsage)
	f.StringVar(&o.createdAt, "created-at", "", "the export's createdAtUtc, RFC 3339, recorded in the plan (default $SOURCE_DATE_EPOCH, else the contract's selectors.until, else the latest time among the selected documents)")
}

func (o *planOptions) validate(args []string) error {
	if o.check {
		if len(args) == 0 {
			return exitcode.Usagef("--check wants one or more contract files or directories")
		}
		if o.output != "" || o.force || o.allowCrossTenant || o.skipInvalid || o.memoryBudget != evidence.DefaultMemoryBudget || o.createdAt != "" {
			return exitcode.Usagef("--check only validates contracts; -o, --force, --allow-cross-tenant, --skip-invalid, --memory-budget and --created-at do not apply")
		}
		return nil
	}
	if err := checkBudget(o.memoryBudget); err != nil {
		return err
	}
	if len(args) != 1 {
		return exitcode.Usagef("want one contract file, got %d arguments", len(args))
	}
	return nil
}

func newPlanCmd(e *env) *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan CONTRACT.yaml [-o plan.json] | plan --check CONTRACT|DIR...",
		Short: "Validate a contract, resolve its selectors against the evidence source and write an immutable plan",
		Long: `plan reads an export contract (docs/contract.md), resolves its selectors against
the evidence source (docs/evidence.md) and writes a canonical JSON plan: the
contract digest, every selected document with path, SHA-256, size and ordering
keys, what each adapter will write, and totals. The same contract and evidence
give the same plan bytes. Run it with: stella-export run plan.json -o OUTDIR.

With --check it only validates contracts, for CI: every mistake of every file
is printed on its own line (file:line:column: field: reason), exit 3 if any.`,
		Example: `  stella-export plan contracts/weekly.yaml -o plan.json
  stella-export plan --check contracts/`,
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.validate(args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			if o.check {
				return runCheck(e, cmd, args)
			}
			return runPlan(cmd.Context(), e, cmd, o, args[0])
		},
	}
	o.addFlags(cmd)
	return cmd
}

// printErrors writes all but the last error as lines of their own and
// returns the last, so that every mistake is reported and the exit code
// still comes from the error.
func printErrors(e *env, cmd *cobra.Command, errs []error) error {
	for _, err := range errs[:len(errs)-1] {
		fmt.Fprintf(e.stderr, "stella-export: %s: %s\n", cmd.Name(), oneLine(err.Error()))
	}
	return errs[len(errs)-1]
}

func contractErrors(err error) []error {
	var ce contract.Errors
	if errors.As(err, &ce) && len(ce) > 0 {
		out := make([]error, len(ce))
		for i, fe := range ce {
			out[i] = fe
		}
		return out
	}
	return []error{err}
}

type checkResult struct {
	Contracts int      `json:"contracts"`
	Errors    []string `json:"errors"`
}

func runCheck(e *env, cmd *cobra.Command, paths []string) error {
	errs := contract.Check(paths)
	if e.global.json {
		res := checkResult{Contracts: len(paths), Errors: []string{}}
		for _, err := range errs {
			res.Errors = append(res.Errors, err.Error())
		}
		if err := printResult(e, cmd, res, nil); err != nil {
			return err
		}
		if len(errs) > 0 {
			return exitcode.WithCode(worst(errs), fmt.Errorf("%d errors", len(errs)))
		}
		return nil
	}
	if len(errs) == 0 {
		if !e.global.quiet {
			fmt.Fprintf(e.stdout, "contracts valid\n")
		}
		return nil
	}
	last := printErrors(e, cmd, errs)
	return exitcode.WithCode(worst(errs), last)
}

// worst is the exit code of a list of errors: I/O (4) wins over invalid (3).
func worst(errs []error) int {
	code := exitcode.Invalid
	for _, err := range errs {
		if c := exitcode.For(err); c != exitcode.Invalid && c > code {
			code = c
		}
	}
	return code
}

type planResult struct {
	Path      string         `json:"path"`
	ExportID  string         `json:"exportId"`
	Profile   string         `json:"profile"`
	Documents int            `json:"documents"`
	Bytes     int64          `json:"bytes"`
	ByType    map[string]int `json:"byType"`
	Excluded  map[string]int `json:"excluded"`
	Invalid   int            `json:"invalid"`
}

func runPlan(ctx context.Context, e *env, cmd *cobra.Command, o *planOptions, path string) error {
	created, err := exportTime(e, o.createdAt)
	if err != nil {
		return err
	}
	c, err := contract.Load(path)
	if err != nil {
		return printErrors(e, cmd, contractErrors(err))
	}
	if c.Kind == contract.KindDataset {
		return planDataset(e, cmd, o, c)
	}
	dir := ""
	if o.output != "" && o.output != "-" {
		dir = filepath.Dir(o.output)
	}
	p, _, _, err := plan.Build(ctx, c, plan.Options{PlanDir: dir, AllowCrossTenant: o.allowCrossTenant, SkipInvalid: o.skipInvalid,
		Spill: spillIn(dir, o.memoryBudget), CreatedAt: created})
	if err != nil {
		return interrupted(ctx, err, "partial output")
	}
	defer p.Close()
	if o.output == "" || o.output == "-" {
		return plan.Write(e.stdout, p)
	}
	f, err := atomicfile.Create(o.output, o.force)
	if err != nil {
		return err
	}
	defer f.Abort()
	defer partial.Track(ctx, f.TempName())()
	if err := plan.Write(f, p); err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return err
	}
	res := planResult{Path: o.output, ExportID: p.Contract.ExportID, Profile: p.Contract.Profile, Documents: p.Totals.Documents,
		Bytes: p.Totals.Bytes, ByType: p.Totals.ByType, Excluded: p.Excluded, Invalid: len(p.Invalid)}
	return printResult(e, cmd, res, func(w io.Writer) {
		fmt.Fprintf(w, "%s: %d documents (%d advisories, %d vex, %d sboms, %d findings), %d bytes, profile %s\n",
			o.output, res.Documents, res.ByType["advisory"], res.ByType["vex"], res.ByType["sbom"], res.ByType["finding"], res.Bytes, res.Profile)
	})
}

// interrupted returns err, or, when ctx was cancelled, its cause (which
// carries the signal's exit code) and what was cleaned up: "interrupted;
// removed partial output".
func interrupted(ctx context.Context, err error, removed string) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	cause := exitcode.Cause(ctx, err)
	return exitcode.WithCode(exitcode.For(cause), fmt.Errorf("%v; removed %s", cause, removed))
}
