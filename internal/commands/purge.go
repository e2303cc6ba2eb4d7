package commands

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-export/internal/dataset/purge"
	"github.com/stella-ops/stella-export/internal/dataset/redact"
	"github.com/stella-ops/stella-export/internal/exitcode"
)

type purgeOptions struct {
	root    string
	now     string
	dryRun  bool
	subject string
	del     bool
	ledger  string
	outbox  string
	keyring string

	at time.Time
}

func (o *purgeOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.root, "root", "", "directory holding export directories (searched below, links not followed) (required)")
	f.StringVar(&o.now, "now", "", "the time to compare expiresAtUtc with, RFC 3339 (default: the clock)")
	f.BoolVar(&o.dryRun, "dry-run", false, "list what would be purged; remove and record nothing")
	f.StringVar(&o.subject, "subject", "", "a data subject's id (as in the source): list the exports whose consent ledger names it (hashed as they hashed it)")
	f.BoolVar(&o.del, "delete", false, "with --subject: remove those exports")
	f.StringVar(&o.ledger, "ledger", "", "the purge ledger, canonical JSON lines appended (default ROOT/"+purge.LedgerName+")")
	f.StringVar(&o.outbox, "outbox", "", "also queue a stella.dataset.purge.v1 event per removed export in this emit outbox")
	f.StringVar(&o.keyring, "keyring", "", "keyring of the tenants' hash salts, alias/hash-<tenant> (default $"+KeyringEnv+"; $"+HashSaltEnv+" takes precedence)")
}

func (o *purgeOptions) validate(e *env, args []string) error {
	if len(args) != 0 {
		return exitcode.Usagef("purge takes no arguments; name the directory with --root")
	}
	if o.root == "" {
		return exitcode.Usagef("--root DIR (the directory holding the exports) is required")
	}
	if o.del && o.subject == "" {
		return exitcode.Usagef("--delete goes with --subject ID; expired exports are removed without it")
	}
	if o.del && o.dryRun {
		return exitcode.Usagef("--delete and --dry-run contradict each other; pick one")
	}
	o.at = time.Now().UTC()
	if o.now != "" {
		t, err := time.Parse(time.RFC3339, o.now)
		if err != nil {
			return exitcode.Usagef("--now %q: want an RFC 3339 time such as 2025-04-01T00:00:00Z", o.now)
		}
		o.at = t.UTC()
	}
	return nil
}

func newPurgeCmd(e *env) *cobra.Command {
	o := &purgeOptions{}
	cmd := &cobra.Command{
		Use:   "purge --root DIR [--now RFC3339] [--dry-run] | purge --root DIR --subject ID [--delete]",
		Short: "Remove expired exports, or find (and remove) the exports naming a data subject",
		Long: `purge enforces retention over the export directories below --root: every one
whose export.json has an expiresAtUtc at or before --now (default: the clock)
is removed. With --subject ID it lists instead every export whose consent
ledger entry names the data subject (the id hashed as each export hashed it:
the salt from $` + HashSaltEnv + ` or the keyring's alias/hash-<tenant>),
and removes them with --delete (runbook SOP-004, a data subject request).

Only directories stella-export wrote are removed; each removal appends an
entry to the purge ledger (ROOT/` + purge.LedgerName + `) and, with --outbox,
queues a stella.dataset.purge.v1 event (docs/dataset.md#retention-and-purge).`,
		Example: `  stella-export purge --root exports --now 2025-04-07T00:00:00Z --dry-run
  stella-export purge --root exports --outbox outbox
  stella-export purge --root exports --subject C01001 --delete`,
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.validate(e, args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			return runPurge(cmd, e, o)
		},
	}
	o.addFlags(cmd)
	return cmd
}

func runPurge(cmd *cobra.Command, e *env, o *purgeOptions) error {
	hashers := map[string]*redact.Hasher{}
	res, err := purge.Run(cmd.Context(), purge.Options{Root: o.root, Now: o.at, DryRun: o.dryRun, Subject: o.subject, Delete: o.del,
		Ledger: o.ledger, Outbox: o.outbox,
		Hasher: func(tenant string) (*redact.Hasher, error) {
			if h, ok := hashers[tenant]; ok {
				return h, nil
			}
			h, err := datasetHasher(e, o.keyring, tenant)
			if err != nil {
				return nil, err
			}
			hashers[tenant] = h
			return h, nil
		}})
	if err != nil {
		return err
	}
	return printResult(e, cmd, res, func(w io.Writer) {
		verb := "purged"
		switch {
		case o.dryRun:
			verb = "would purge"
		case o.subject != "" && !o.del:
			verb = "names the subject"
		}
		for _, x := range res.Selected {
			fmt.Fprintf(w, "%s: %s (%s, tenant %s", x.Path, verb, x.ExportID, x.Tenant)
			if x.ExpiresAt != "" {
				fmt.Fprintf(w, ", expires %s", x.ExpiresAt)
			}
			fmt.Fprintln(w, ")")
		}
		for _, u := range res.Unchecked {
			fmt.Fprintf(w, "%s: not searched: %s\n", u.Path, u.Reason)
		}
		fmt.Fprintf(w, "%d selected, %d removed\n", len(res.Selected), len(res.Removed))
	})
}
