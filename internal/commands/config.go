package commands

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

func lookupEnv(k string) string { return os.Getenv(k) }

// EnvPrefix starts every environment variable that sets a flag.
const EnvPrefix = "STELLA_EXPORT_"

func envName(parts ...string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(strings.Join(parts, "_")))
}

// commandKey names cmd in the config file and the environment: its path
// below the root, dot-separated ("package", "emit.relay").
func commandKey(cmd *cobra.Command) string {
	var parts []string
	for c := cmd; c != nil && c.HasParent(); c = c.Parent() {
		parts = append([]string{c.Name()}, parts...)
	}
	return strings.Join(parts, ".")
}

// configPath returns the config file to read and whether the user named it.
func configPath(e *env) (string, bool) {
	if e.global.config != "" {
		return e.global.config, true
	}
	if p := e.getenv(EnvPrefix + "CONFIG"); p != "" {
		return p, true
	}
	dir := e.getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := e.getenv("HOME")
		if home == "" {
			return "", false
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "stella-export", "config.yaml"), false
}

// applyConfig fills every flag the user did not set on the command line,
// first from STELLA_EXPORT_<COMMAND>_<FLAG> and STELLA_EXPORT_<FLAG>, then
// from the config file's "<command>: {<flag>: value}" and "<flag>: value"
// keys. A subcommand's <COMMAND> is its path: STELLA_EXPORT_EMIT_RELAY_<FLAG>
// and "emit: {relay: {<flag>: value}}". Unknown config keys are an error naming the file and the key.
func applyConfig(e *env, cmd *cobra.Command) error {
	path, explicit := configPath(e)
	var v *viper.Viper
	if path != "" {
		_, err := os.Stat(path)
		switch {
		case err == nil:
			// Read under a limit, without blocking on a FIFO or a device
			// (--config /dev/zero), and hand viper the bytes.
			data, err := safefile.ReadAll(path, safefile.MaxConfig)
			if err != nil {
				return fmt.Errorf("config %w", err) // its message starts with the path
			}
			v = viper.New()
			v.SetConfigFile(path)
			v.SetConfigType("yaml")
			if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
				return exitcode.Invalidf("config %s: %s", path, oneLine(err.Error()))
			}
			if err := checkKeys(path, v, cmd.Root()); err != nil {
				return err
			}
		case explicit || !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("config %s: %w", path, err)
		}
	}
	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" || f.Name == "config" || firstErr != nil {
			return
		}
		val, src, ok := lookupSetting(e, v, commandKey(cmd), f.Name)
		if !ok {
			return
		}
		if err := cmd.Flags().Set(f.Name, val); err != nil {
			firstErr = exitcode.Usagef("%s: --%s: %v", src, f.Name, err)
		}
	})
	return firstErr
}

func lookupSetting(e *env, v *viper.Viper, cmdName, flag string) (val, src string, ok bool) {
	for _, name := range []string{envName(cmdName, flag), envName(flag)} {
		if s := e.getenv(name); s != "" {
			return s, name, true
		}
	}
	if v == nil {
		return "", "", false
	}
	for _, key := range []string{cmdName + "." + flag, flag} {
		if v.IsSet(key) {
			x := v.Get(key)
			if l, isList := x.([]any); isList {
				parts := make([]string, len(l))
				for i, p := range l {
					parts[i] = fmt.Sprint(p)
				}
				return strings.Join(parts, ","), "config " + v.ConfigFileUsed() + ": " + key, true
			}
			return fmt.Sprint(x), "config " + v.ConfigFileUsed() + ": " + key, true
		}
	}
	return "", "", false
}

func checkKeys(path string, v *viper.Viper, root *cobra.Command) error {
	known := map[string]bool{}
	add := func(prefix string, fs *pflag.FlagSet) {
		fs.VisitAll(func(f *pflag.Flag) { known[prefix+f.Name] = true })
	}
	add("", root.PersistentFlags())
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			add("", sub.Flags())
			add(commandKey(sub)+".", sub.Flags())
			add(commandKey(sub)+".", root.PersistentFlags())
			walk(sub)
		}
	}
	walk(root)
	delete(known, "config")
	delete(known, "help")
	var unknown []string
	for _, k := range v.AllKeys() {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return withHint(exitcode.Invalidf("config %s: unknown key %q", path, unknown[0]),
			"keys are flag names, at the top level or under a command name (e.g. \"package: {level: 9}\")")
	}
	return nil
}
