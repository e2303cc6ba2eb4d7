package commands

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/keyring"
	"github.com/stella-ops/stella-export/internal/rewrap"
)

// KeyringEnv names the keyring directory when --keyring is not given; it is
// the generic STELLA_EXPORT_<FLAG> of applyConfig, spelled out for docs.
const KeyringEnv = EnvPrefix + "KEYRING"

// keyringOptions are the flags of every keys subcommand.
type keyringOptions struct {
	dir string
}

func (o *keyringOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.dir, "keyring", "", "keyring directory (default $"+KeyringEnv+", or keyring: in the config file)")
}

// validate checks the arguments: want is how many aliases the command takes.
func (o *keyringOptions) validate(args []string, want int) error {
	if o.dir == "" {
		return exitcode.Usagef("--keyring DIR is required (or $%s, or keyring: DIR in the config file)", KeyringEnv)
	}
	if len(args) != want {
		if want == 0 {
			return exitcode.Usagef("takes no arguments, got %d", len(args))
		}
		return exitcode.Usagef("want one alias/NAME, got %d arguments", len(args))
	}
	if want == 1 {
		if _, err := keyring.ParseAlias(args[0]); err != nil {
			return exitcode.WithCode(exitcode.Usage, err)
		}
	}
	return nil
}

func newKeysCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the local keyring of master keys for envelope encryption",
		Long: `keys manages a keyring: a directory of master keys for envelope encryption,
one file per alias (DIR/NAME.json for alias/NAME, mode 0600), each alias
with numbered versions. The current version encrypts; every version stays
to decrypt and re-wrap what it encrypted. The key id of version N of
alias/NAME is alias/NAME/vN.

The keyring is --keyring DIR, else $STELLA_EXPORT_KEYRING, else keyring: DIR
in the config file. A key file that its group or others may read or write is
refused (exit 4): chmod 600 it. Without a keyring, an alias resolves to the
one master key in STELLA_EXPORT_KMS_MASTER_KEY_HEX (64 hex digits), whose key
id is the alias. KMS key URIs (awskms://, gcpkms://, hashivault://...) are
not supported by this build.`,
		Example: `  stella-export keys create alias/prod --keyring /etc/stella-export/keyring
  STELLA_EXPORT_KEYRING=/etc/stella-export/keyring stella-export keys rotate alias/prod
  stella-export keys list --keyring /etc/stella-export/keyring --json`,
		// A group: a subcommand it does not have is a usage error (exit 2),
		// no subcommand prints this help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newKeysCreateCmd(e), newKeysListCmd(e), newKeysRotateCmd(e), newKeysRewrapCmd(e))
	return cmd
}

func newKeysCreateCmd(e *env) *cobra.Command {
	o := &keyringOptions{}
	cmd := &cobra.Command{
		Use:   "create alias/NAME --keyring DIR",
		Short: "Add an alias with a new random master key (version 1) to the keyring",
		Long: `create draws a new 256-bit master key from the operating system's random
source and writes it as version 1 of alias/NAME to DIR/NAME.json (mode 0600),
creating DIR (mode 0700) if needed. NAME is 1 to 64 characters of a-z, 0-9,
'.', '_' and '-', starting with a letter or digit. An existing alias is never
replaced (exit 5); use keys rotate to give it a new key.`,
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.validate(args, 1) },
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			info, err := keyring.Create(o.dir, args[0], rand.Reader)
			if err != nil {
				return err
			}
			return printAlias(e, cmd, info, "created")
		},
	}
	o.addFlags(cmd)
	return cmd
}

func newKeysRotateCmd(e *env) *cobra.Command {
	o := &keyringOptions{}
	cmd := &cobra.Command{
		Use:   "rotate alias/NAME --keyring DIR",
		Short: "Give an alias a new current master key; older versions stay to decrypt",
		Long: `rotate draws a new 256-bit master key and adds it to alias/NAME as the next
version, which becomes current: what is encrypted from now on uses it. Older
versions stay in the key file so that existing .enc files still decrypt and
can be re-wrapped under the new version without re-encrypting their data.
The key file is replaced atomically; a keyring that another process is
changing is refused (exit 5).`,
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.validate(args, 1) },
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			info, err := keyring.Rotate(o.dir, args[0], rand.Reader)
			if err != nil {
				return err
			}
			return printAlias(e, cmd, info, "rotated")
		},
	}
	o.addFlags(cmd)
	return cmd
}

func newKeysListCmd(e *env) *cobra.Command {
	o := &keyringOptions{}
	cmd := &cobra.Command{
		Use:   "list --keyring DIR [--json]",
		Short: "List the aliases of the keyring, their versions and key ids (never the keys)",
		Long: `list prints one line per alias, sorted: the alias, its current key id and
every key id it has. With --json it prints {"aliases":[{"alias","current",
"versions":[{"version","keyId"}]}]} as canonical JSON. Secrets are never
printed. Every key file is read and checked, so list also audits the
keyring: a malformed key file is exit 3, an unsafe one exit 4.`,
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.validate(args, 0) },
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			list, err := keyring.List(o.dir)
			if err != nil {
				return err
			}
			if list == nil {
				list = []keyring.AliasInfo{}
			}
			if len(list) == 0 && !e.global.quiet && !e.global.json {
				fmt.Fprintf(e.stderr, "stella-export: keyring %s holds no aliases; add one with stella-export keys create alias/NAME\n", o.dir)
			}
			return printResult(e, cmd, struct {
				Aliases []keyring.AliasInfo `json:"aliases"`
			}{list}, func(w io.Writer) {
				for _, a := range list {
					ids := make([]string, len(a.Versions))
					for i, v := range a.Versions {
						ids[i] = v.KeyID
					}
					fmt.Fprintf(w, "%s current %s versions %s\n", a.Alias, a.Versions[a.Current-1].KeyID, strings.Join(ids, " "))
				}
			})
		},
	}
	o.addFlags(cmd)
	return cmd
}

// printAlias prints the result of create or rotate.
func printAlias(e *env, cmd *cobra.Command, info keyring.AliasInfo, verb string) error {
	cur := info.Versions[len(info.Versions)-1]
	return printResult(e, cmd, info, func(w io.Writer) {
		fmt.Fprintf(w, "%s %s: current key id %s (version %d)\n", info.Alias, verb, cur.KeyID, cur.Version)
	})
}

func newKeysRewrapCmd(e *env) *cobra.Command {
	o := &keyringOptions{}
	cmd := &cobra.Command{
		Use:   "rewrap FILE.enc...|EXPORT-DIR --keyring DIR",
		Short: "Re-wrap the data keys of .enc files under the current version of their alias",
		Long: `rewrap moves envelope files (.enc) to the current version of their master
key's alias after keys rotate, without re-encrypting them: each file's data
key is unwrapped with the version that wrapped it and wrapped again with the
current one; the header's fixed part and every chunk are copied byte for
byte, each chunk authenticated on the way. A file is replaced through a
temporary file and keeps its mode; a file already under the current version
is left as it is. A damaged file is exit 1 and left untouched.

Given an export directory (as run writes it, and unchanged since: its files'
payload root must be export.json's, else exit 1), rewrap does every .enc
file in it and updates every record the new headers change: the encryption
members of export.json and provenance.json (key id, wrapped keys), the
digests and sizes in mirror manifests and indexes, provenance.json's
subject, export.json's files and payloadRoot. It works in a staging
directory renamed over the export directory only when complete. A bundle
(.tgz) is refused: its checksums, Merkle root and signatures cover the old
headers; rewrap the export directory and package it again (package
EXPORT-DIR).`,
		Example: `  stella-export keys rotate alias/prod --keyring kr
  stella-export keys rewrap out/export --keyring kr
  stella-export package out/export -o export.tgz`,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if o.dir == "" {
				return exitcode.Usagef("--keyring DIR is required (or $%s, or keyring: DIR in the config file): only keyring keys rotate", KeyringEnv)
			}
			if len(args) == 0 {
				return exitcode.Usagef("want .enc files or an export directory")
			}
			for _, a := range args {
				if strings.HasSuffix(a, ".tgz") || strings.HasSuffix(a, ".tar.gz") {
					return withHint(exitcode.Usagef("%s: a bundle cannot be rewrapped in place: its checksums, Merkle root and signatures cover the headers", a),
						"rewrap the export directory (stella-export keys rewrap DIR), then package it again")
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			ring := keyring.Dir(o.dir)
			var all []*rewrap.Result
			for _, a := range args {
				var rs []*rewrap.Result
				var err error
				if st, serr := os.Stat(a); serr == nil && st.IsDir() {
					rs, err = rewrap.Dir(cmd.Context(), a, ring, rand.Reader)
				} else {
					var r *rewrap.Result
					if r, err = rewrap.File(cmd.Context(), a, ring, rand.Reader); r != nil {
						rs = append(rs, r)
					}
				}
				all = append(all, rs...)
				if err != nil {
					return err
				}
			}
			return printResult(e, cmd, struct {
				Files []*rewrap.Result `json:"files"`
			}{all}, func(w io.Writer) {
				for _, r := range all {
					if r.From == r.To {
						fmt.Fprintf(w, "%s: already under %s\n", r.Path, r.To)
					} else {
						fmt.Fprintf(w, "%s: %s -> %s\n", r.Path, r.From, r.To)
					}
				}
			})
		},
	}
	o.addFlags(cmd)
	return cmd
}
