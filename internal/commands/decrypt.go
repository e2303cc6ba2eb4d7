package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-export/internal/agecrypt"
	"github.com/stella-ops/stella-export/internal/decrypt"
	"github.com/stella-ops/stella-export/internal/envelope"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/keyring"
	"github.com/stella-ops/stella-export/internal/plaintext"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/tarball"
)

// MasterKeyEnv holds the one master key used when there is no keyring.
const MasterKeyEnv = EnvPrefix + "KMS_MASTER_KEY_HEX"

// keyOptions are the flags that give decryption keys (decrypt, verify).
type keyOptions struct {
	identities []string
	keyring    string
}

func (o *keyOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&o.identities, "identity", nil, "age identity file (AGE-SECRET-KEY-1..., as age-keygen writes it) for .age files; repeatable")
	f.StringVar(&o.keyring, "keyring", "", "keyring directory holding the master keys of .enc files (default $"+KeyringEnv+", or keyring: in the config file; without one, $"+MasterKeyEnv+")")
}

// load reads the identity files and picks the master keys: the keyring, or
// else the environment key.
func (o *keyOptions) load(e *env) (decrypt.Keys, error) {
	var keys decrypt.Keys
	for _, p := range o.identities {
		ids, err := agecrypt.ParseIdentityFile(p, func(w string) { fmt.Fprintf(e.stderr, "stella-export: %s\n", w) })
		if err != nil {
			return keys, fmt.Errorf("--identity %w", err)
		}
		keys.Identities = append(keys.Identities, ids...)
	}
	var p keyring.Provider
	switch hexKey := e.getenv(MasterKeyEnv); {
	case o.keyring != "":
		p = keyring.Dir(o.keyring)
	case hexKey != "":
		env, err := keyring.NewEnv(hexKey)
		if err != nil {
			return keys, err
		}
		p = env
	}
	if p != nil {
		keys.Lookup = func(id string) (envelope.Key, error) {
			k, err := p.Lookup(id)
			return envelope.Key{ID: k.ID, Secret: k.Secret}, err
		}
	}
	return keys, nil
}

// keyHint adds the way out to an error that lacks a key.
func keyHint(err error) error {
	switch {
	case errors.Is(err, decrypt.ErrNoMasterKey):
		return withHint(err, "give the keyring with --keyring DIR (or $%s), or the master key in $%s", KeyringEnv, MasterKeyEnv)
	case errors.Is(err, decrypt.ErrNoIdentity):
		return withHint(err, "give the recipient's identity file with --identity FILE")
	}
	return err
}

type decryptOptions struct {
	keyOptions
	output string
	bundle string
	force  bool
	limits tarball.Limits
}

func (o *decryptOptions) addFlags(cmd *cobra.Command) {
	o.keyOptions.addFlags(cmd)
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "output file (one FILE) or directory (--bundle), which must not exist")
	f.StringVar(&o.bundle, "bundle", "", "decrypt a whole export: a bundle (.tgz) or an export directory")
	f.BoolVar(&o.force, "force", false, "replace an existing output file (one FILE only; never a directory)")
}

func (o *decryptOptions) validate(args []string) error {
	if o.output == "" {
		return exitcode.Usagef("-o OUT is required: decrypted data never goes to stdout")
	}
	if o.bundle != "" {
		if len(args) != 0 {
			return exitcode.Usagef("--bundle takes the bundle or directory as its value, and no other argument")
		}
		if o.force {
			return exitcode.Usagef("--force replaces one output file; with --bundle, remove %s first", o.output)
		}
		return nil
	}
	if len(args) != 1 {
		return exitcode.Usagef("want one encrypted FILE.enc or FILE.age (or --bundle B.tgz|DIR), got %d arguments", len(args))
	}
	return nil
}

func newDecryptCmd(e *env) *cobra.Command {
	o := &decryptOptions{}
	cmd := &cobra.Command{
		Use:   "decrypt FILE.enc|FILE.age -o OUT | decrypt --bundle B.tgz|DIR -o DIR",
		Short: "Decrypt one encrypted file, or every encrypted file of an export, checking each plaintext",
		Long: `decrypt opens envelope files (.enc) with the master key their header names
(from --keyring DIR, $STELLA_EXPORT_KEYRING, or $STELLA_EXPORT_KMS_MASTER_KEY_HEX)
and age files (.age) with --identity FILE (repeatable). The plaintext is
written (mode 0600) to a temporary file and renamed to OUT only once the last
chunk authenticated: a wrong key, an altered, truncated or extended file is
exit 1, naming the file and the reason, with nothing written.

--bundle B.tgz verifies the bundle (as verify does) while extracting it to a
private staging directory, then decrypts every file its plaintext manifest
(manifests/plaintext.json.enc or .age) lists to its plaintext name, checking
its SHA-256 and size against the manifest, and renames the tree to DIR (mode
0700). --bundle DIR does the same for an export directory written by run.
Files that are not encrypted are copied as they are; see docs/encryption.md
for how DIR differs from the unencrypted export.`,
		Example: `  stella-export decrypt data/raw/x.json.enc -o x.json --keyring /etc/stella-export/keyring
  STELLA_EXPORT_KMS_MASTER_KEY_HEX=... stella-export decrypt --bundle export.tgz -o plain/
  stella-export decrypt --bundle mirror.tgz -o plain/ --identity tenant-a.key`,
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.validate(args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			keys, err := o.load(e)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if o.bundle != "" {
				res, err := decryptTree(ctx, o.bundle, o.output, keys, o.limits)
				if err != nil {
					return keyHint(exitcode.Cause(ctx, err))
				}
				return printResult(e, cmd, res, func(w io.Writer) {
					fmt.Fprintf(w, "%s: %d files decrypted (%s mode, %d bytes), %d copied in the clear; every plaintext matches %s\n",
						res.Dir, res.Decrypted, res.Mode, res.Bytes, res.Clear, plaintext.Base+suffixOf(res.Mode))
				})
			}
			res, err := decrypt.File(ctx, args[0], o.output, o.force, keys)
			if err != nil {
				return keyHint(exitcode.Cause(ctx, err))
			}
			return printResult(e, cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "%s: %d bytes, %s\n", res.Path, res.Size, res.SHA256)
			})
		},
	}
	o.addFlags(cmd)
	o.limits = tarball.DefaultLimits
	return cmd
}

func suffixOf(mode string) string {
	if mode == decrypt.ModeAge {
		return plaintext.SuffixAge
	}
	return plaintext.SuffixEnvelope
}

// decryptTree decrypts the bundle or export directory in into out.
func decryptTree(ctx context.Context, in, out string, keys decrypt.Keys, limits tarball.Limits) (*decrypt.TreeResult, error) {
	if st, err := os.Stat(in); err == nil && st.IsDir() {
		return decrypt.Dir(ctx, in, out, keys)
	}
	f, err := safefile.Open(in)
	if err != nil {
		return nil, fmt.Errorf("open bundle: %w", err)
	}
	defer f.Close()
	return decrypt.Bundle(ctx, f, in, out, keys, limits)
}
