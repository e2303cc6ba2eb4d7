// Package keyring holds the master keys of envelope encryption: a local
// keyring directory with one file per alias, each alias with numbered key
// versions, and the environment key used when there is no keyring.
//
// A keyring is a directory. The alias alias/NAME (NAME matching
// [a-z0-9][a-z0-9._-]{0,63}) lives in DIR/NAME.json, mode 0600, as
// canonical JSON:
//
//	{"alias":"alias/NAME","current":2,"format":"stella-export/keyring/v1",
//	 "versions":[{"key":"<64 hex>","keyId":"alias/NAME/v1","version":1},
//	             {"key":"<64 hex>","keyId":"alias/NAME/v2","version":2}]}
//
// Versions count from 1 without gaps; the last one is current: Create
// writes version 1, Rotate appends the next, and no version is ever removed
// (older ones stay to decrypt and re-wrap what they encrypted). The key id
// of a version is "alias/NAME/vN": it names the version, it is not a
// fingerprint, so two keyrings may both have an alias/prod/v1 with different
// keys; decrypting with the wrong one fails authentication.
//
// Key files are read without following a symbolic link, without blocking on
// a FIFO and under a size limit, and refused (*UnsafeError, exit 4) when
// their group or others may read or write them: fix with chmod 600. Writes
// take an exclusive lock on DIR/.lock, go to a temporary file and are
// renamed into place, so a keyring is never left half-written and two
// concurrent rotations cannot lose a version.
//
// Without a keyring, Env gives every alias one master key from 64 hex
// digits (STELLA_EXPORT_KMS_MASTER_KEY_HEX, read by the caller); its key id
// is the alias itself.
//
// KMS references (awskms://, gcpkms://, azurekms://, hashivault://, any
// scheme://) are refused: a KMS would plug in as another Provider.
package keyring

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/stella-ops/stella-export/internal/atomicfile"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// Format is the value of a key file's "format" field.
const Format = "stella-export/keyring/v1"

// Prefix starts every alias.
const Prefix = "alias/"

// KeySize is the length of a master key in bytes (AES-256).
const KeySize = 32

// MaxVersions is the most versions one alias may have.
const MaxVersions = 256

// maxFile bounds a key file: MaxVersions versions take about 28 KiB.
const maxFile = safefile.MaxSecret

// LockName is the lock file Create and Rotate hold in the keyring directory.
const LockName = ".lock"

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Key is one master key: its key id and its 32-byte secret.
type Key struct {
	ID     string
	Secret []byte
}

// Provider resolves master keys: Resolve gives the current key of an alias
// (for encryption), Lookup any key by its key id (for decryption and
// re-wrapping). Dir and Env implement it; a KMS would too.
type Provider interface {
	Resolve(alias string) (Key, error)
	Lookup(keyID string) (Key, error)
}

// VersionInfo describes one version of an alias, without its secret.
type VersionInfo struct {
	Version int    `json:"version"`
	KeyID   string `json:"keyId"`
}

// AliasInfo describes an alias, without secrets.
type AliasInfo struct {
	Alias    string        `json:"alias"`
	Current  int           `json:"current"`
	Versions []VersionInfo `json:"versions"`
}

// UnsafeError says a key file may be read or written by its group or
// others. It is an environment error (exit 4).
type UnsafeError struct {
	Path string
	Mode fs.FileMode
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("key file %s: readable or writable by group or others (mode %04o); chmod 600 it", e.Path, e.Mode.Perm())
}

func (e *UnsafeError) Unwrap() error { return exitcode.ErrIO }

// ParseAlias checks that ref is an alias, alias/NAME, and returns NAME. A
// KMS URI (any scheme://) is refused with a message naming the Provider
// seam; everything else that is not an alias is refused too (exit 3).
func ParseAlias(ref string) (string, error) {
	if err := safefile.CheckToken("key", ref); err != nil {
		return "", err
	}
	if i := strings.Index(ref, "://"); i > 0 {
		return "", exitcode.Invalidf("key %q: %s:// KMS keys are not supported by this build: a KMS would plug in as a keyring.Provider (internal/keyring); use alias/NAME with a keyring or STELLA_EXPORT_KMS_MASTER_KEY_HEX", ref, ref[:i])
	}
	name, ok := strings.CutPrefix(ref, Prefix)
	if !ok || !nameRE.MatchString(name) {
		return "", exitcode.Invalidf("key %q: want alias/NAME, NAME of 1 to 64 characters a-z 0-9 . _ - starting with a letter or digit", ref)
	}
	return name, nil
}

// KeyID is the key id of version v of alias/NAME: "alias/NAME/vV".
func KeyID(name string, v int) string { return Prefix + name + "/v" + strconv.Itoa(v) }

// parseKeyID splits a keyring key id alias/NAME/vN.
func parseKeyID(id string) (name string, v int, err error) {
	if err := safefile.CheckToken("key id", id); err != nil {
		return "", 0, err
	}
	if strings.Contains(id, "://") {
		_, err := ParseAlias(id)
		return "", 0, err
	}
	if i := strings.LastIndex(id, "/v"); i > 0 {
		n, aerr := strconv.Atoi(id[i+2:])
		if aerr == nil && n >= 1 && n <= MaxVersions && id[i+2:] == strconv.Itoa(n) {
			if name, perr := ParseAlias(id[:i]); perr == nil {
				return name, n, nil
			}
		}
	}
	if _, err := ParseAlias(id); err == nil {
		return "", 0, exitcode.Invalidf("key id %q: an alias, the key id of STELLA_EXPORT_KMS_MASTER_KEY_HEX, not of a keyring key", id)
	}
	return "", 0, exitcode.Invalidf("key id %q: want alias/NAME/vN", id)
}

// file is the on-disk form of one alias.
type file struct {
	Alias    string        `json:"alias"`
	Current  int           `json:"current"`
	Format   string        `json:"format"`
	Versions []fileVersion `json:"versions"`
}

type fileVersion struct {
	Key     string `json:"key"`
	KeyID   string `json:"keyId"`
	Version int    `json:"version"`
}

func (f *file) info() AliasInfo {
	a := AliasInfo{Alias: f.Alias, Current: f.Current, Versions: make([]VersionInfo, len(f.Versions))}
	for i, v := range f.Versions {
		a.Versions[i] = VersionInfo{Version: v.Version, KeyID: v.KeyID}
	}
	return a
}

func (f *file) key(v int) Key {
	fv := f.Versions[v-1]
	secret, _ := hex.DecodeString(fv.Key) // checked by parse
	return Key{ID: fv.KeyID, Secret: secret}
}

// parse decodes and checks a key file's bytes; path and name are for
// messages and the alias check.
func parse(path, name string, data []byte) (*file, error) {
	bad := func(format string, args ...any) error {
		return exitcode.Invalidf("key file %s: %s", path, fmt.Sprintf(format, args...))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f file
	if err := dec.Decode(&f); err != nil {
		return nil, bad("%s", err)
	}
	if dec.More() {
		return nil, bad("data after the JSON object")
	}
	if f.Format != Format {
		return nil, bad("format %q, want %q", f.Format, Format)
	}
	if f.Alias != Prefix+name {
		return nil, bad("alias %q, want %q (the file name)", f.Alias, Prefix+name)
	}
	if len(f.Versions) == 0 || len(f.Versions) > MaxVersions {
		return nil, bad("%d versions, want 1 to %d", len(f.Versions), MaxVersions)
	}
	for i, v := range f.Versions {
		if v.Version != i+1 {
			return nil, bad("versions[%d]: version %d, want %d", i, v.Version, i+1)
		}
		if v.KeyID != KeyID(name, v.Version) {
			return nil, bad("versions[%d]: keyId %q, want %q", i, v.KeyID, KeyID(name, v.Version))
		}
		if len(v.Key) != 2*KeySize || strings.ToLower(v.Key) != v.Key {
			return nil, bad("versions[%d]: key: want %d lower-case hex digits", i, 2*KeySize)
		}
		if _, err := hex.DecodeString(v.Key); err != nil {
			return nil, bad("versions[%d]: key: want %d lower-case hex digits", i, 2*KeySize)
		}
	}
	if f.Current != len(f.Versions) {
		return nil, bad("current %d, want the last version, %d", f.Current, len(f.Versions))
	}
	return &f, nil
}

func keyPath(dir, name string) string { return filepath.Join(dir, name+".json") }

// load reads and checks the key file of alias/NAME in dir.
func load(dir, name string) (*file, error) {
	path := keyPath(dir, name)
	fh, err := safefile.OpenNoFollow(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, exitcode.WithCode(exitcode.IO, fmt.Errorf("keyring %s: no alias/%s (create it with stella-export keys create alias/%s)", dir, name, name))
		}
		return nil, fmt.Errorf("keyring %s: %w", dir, err)
	}
	defer fh.Close()
	if err := checkPrivate(fh, path); err != nil {
		return nil, err
	}
	data, err := safefile.ReadFrom(fh, path, maxFile)
	if err != nil {
		return nil, err
	}
	return parse(path, name, data)
}

// store writes f as dir's key file for its alias, atomically, mode 0600;
// replace says whether an existing file may be replaced.
func store(dir, name string, f *file, replace bool) error {
	data, err := canonjson.MarshalLine(f)
	if err != nil {
		return fmt.Errorf("encode key file: %w", err)
	}
	return atomicfile.WriteFile(keyPath(dir, name), data, 0o600, replace)
}

// newVersion draws a fresh key for version v of alias/NAME.
func newVersion(name string, v int, rand io.Reader) (fileVersion, error) {
	secret := make([]byte, KeySize)
	if _, err := io.ReadFull(rand, secret); err != nil {
		return fileVersion{}, fmt.Errorf("draw a new key: %w", err)
	}
	return fileVersion{Key: hex.EncodeToString(secret), KeyID: KeyID(name, v), Version: v}, nil
}

// Create adds alias (alias/NAME) to the keyring dir, creating dir (mode
// 0700) when it does not exist, with version 1 drawn from rand. An
// existing alias is refused (exit 5).
func Create(dir, alias string, rand io.Reader) (AliasInfo, error) {
	name, err := ParseAlias(alias)
	if err != nil {
		return AliasInfo{}, err
	}
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return AliasInfo{}, checkDir(dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return AliasInfo{}, fmt.Errorf("keyring %s: %w", dir, err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return AliasInfo{}, err
	}
	defer unlock()
	if _, err := os.Lstat(keyPath(dir, name)); err == nil {
		return AliasInfo{}, exitcode.Conflictf("keyring %s: %s already exists (rotate it with stella-export keys rotate %s)", dir, alias, alias)
	}
	v, err := newVersion(name, 1, rand)
	if err != nil {
		return AliasInfo{}, err
	}
	f := &file{Alias: alias, Current: 1, Format: Format, Versions: []fileVersion{v}}
	if err := store(dir, name, f, false); err != nil {
		return AliasInfo{}, err
	}
	return f.info(), nil
}

// Rotate adds the next version of alias to the keyring dir, drawn from
// rand, and makes it current. Older versions stay.
func Rotate(dir, alias string, rand io.Reader) (AliasInfo, error) {
	name, err := ParseAlias(alias)
	if err != nil {
		return AliasInfo{}, err
	}
	if err := checkDir(dir); err != nil {
		return AliasInfo{}, err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return AliasInfo{}, err
	}
	defer unlock()
	f, err := load(dir, name)
	if err != nil {
		return AliasInfo{}, err
	}
	if len(f.Versions) >= MaxVersions {
		return AliasInfo{}, exitcode.Conflictf("keyring %s: %s already has %d versions, the most allowed", dir, alias, MaxVersions)
	}
	v, err := newVersion(name, len(f.Versions)+1, rand)
	if err != nil {
		return AliasInfo{}, err
	}
	f.Versions = append(f.Versions, v)
	f.Current = v.Version
	if err := store(dir, name, f, true); err != nil {
		return AliasInfo{}, err
	}
	return f.info(), nil
}

// List describes every alias in the keyring dir, sorted by alias, without
// secrets. Every key file is read and checked; files whose names are not
// NAME.json for a valid NAME are ignored.
func List(dir string) ([]AliasInfo, error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", dir, err)
	}
	var out []AliasInfo
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !nameRE.MatchString(name) {
			continue
		}
		f, err := load(dir, name)
		if err != nil {
			return nil, err
		}
		out = append(out, f.info())
	}
	slices.SortFunc(out, func(a, b AliasInfo) int { return strings.Compare(a.Alias, b.Alias) })
	return out, nil
}

// checkDir says whether dir is a keyring directory, with a message for
// the usual mistakes.
func checkDir(dir string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return exitcode.WithCode(exitcode.IO, fmt.Errorf("keyring %s: no such directory (stella-export keys create makes it)", dir))
	}
	if err != nil {
		return fmt.Errorf("keyring %s: %w", dir, err)
	}
	if !st.IsDir() {
		return exitcode.Invalidf("keyring %s: is a %s, not a directory", dir, safefile.Kind(st.Mode()))
	}
	return nil
}

// Dir is a keyring directory as a Provider.
type Dir string

// Resolve returns the current key of alias.
func (d Dir) Resolve(alias string) (Key, error) {
	name, err := ParseAlias(alias)
	if err != nil {
		return Key{}, err
	}
	if err := checkDir(string(d)); err != nil {
		return Key{}, err
	}
	f, err := load(string(d), name)
	if err != nil {
		return Key{}, err
	}
	return f.key(f.Current), nil
}

// Lookup returns the key whose key id is keyID (alias/NAME/vN), current
// or not.
func (d Dir) Lookup(keyID string) (Key, error) {
	name, v, err := parseKeyID(keyID)
	if err != nil {
		return Key{}, err
	}
	if err := checkDir(string(d)); err != nil {
		return Key{}, err
	}
	f, err := load(string(d), name)
	if err != nil {
		return Key{}, err
	}
	if v > len(f.Versions) {
		return Key{}, exitcode.WithCode(exitcode.IO, fmt.Errorf("keyring %s: no key %s: alias/%s has versions 1 to %d", d, keyID, name, len(f.Versions)))
	}
	return f.key(v), nil
}

// Env is the master key of every alias when there is no keyring.
type Env struct{ secret []byte }

// NewEnv parses a master key of exactly 64 hex digits (the value of
// STELLA_EXPORT_KMS_MASTER_KEY_HEX; the message names that variable and
// never echoes the value).
func NewEnv(hexKey string) (Env, error) {
	secret, err := hex.DecodeString(hexKey)
	if err != nil || len(secret) != KeySize {
		return Env{}, exitcode.Invalidf("STELLA_EXPORT_KMS_MASTER_KEY_HEX: want exactly %d hex digits (a 256-bit key), got %d characters", 2*KeySize, len(hexKey))
	}
	return Env{secret: secret}, nil
}

// FromEnvHex is the key alias resolves to when there is no keyring: the
// 64 hex digits hexKey, with the alias as its key id.
func FromEnvHex(alias, hexKey string) (Key, error) {
	e, err := NewEnv(hexKey)
	if err != nil {
		return Key{}, err
	}
	return e.Resolve(alias)
}

// Resolve returns the environment key under the key id alias.
func (e Env) Resolve(alias string) (Key, error) {
	if _, err := ParseAlias(alias); err != nil {
		return Key{}, err
	}
	return Key{ID: alias, Secret: slices.Clone(e.secret)}, nil
}

// Lookup returns the environment key for a key id that is an alias; a
// keyring key id (alias/NAME/vN) needs the keyring.
func (e Env) Lookup(keyID string) (Key, error) {
	if _, err := ParseAlias(keyID); err != nil {
		if _, _, kerr := parseKeyID(keyID); kerr == nil {
			return Key{}, exitcode.WithCode(exitcode.IO, fmt.Errorf("key id %s is a keyring key: give the keyring (--keyring or STELLA_EXPORT_KEYRING)", keyID))
		}
		return Key{}, err
	}
	return Key{ID: keyID, Secret: slices.Clone(e.secret)}, nil
}
