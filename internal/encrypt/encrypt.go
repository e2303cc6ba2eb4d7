// Package encrypt encrypts the files of a run as they are staged
// (docs/encryption.md#encrypted-exports): a Sealer plugs into the run's
// adapters.Stage, so every file in scope is written straight to NAME.enc
// (envelope mode) or NAME.age (age mode), mode 0600, and the plaintext never
// reaches the disk. The stage records the encrypted file, so checksums.txt,
// the Merkle root, export.json, provenance.json's subject and the mirror
// manifests and indexes all describe ciphertext. The plaintext's name,
// SHA-256 and size go only to the plaintext manifest,
// manifests/plaintext.json.enc|.age, itself encrypted with the same key or
// recipients.
//
// Memory stays bounded whatever the number of files: the record of
// encrypted files is an external sort (internal/extsort) under the
// stage's budget, and each file streams through one 64 KiB chunk.
//
// Envelope files draw their data key and nonces from crypto/rand, or, given
// a seed (tests and reproducibility checks only), from
// detrand.New(seed, the encrypted file's name in the bundle). age draws its
// own randomness, so age mode has no seed.
package encrypt

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/agecrypt"
	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/detrand"
	"github.com/stella-ops/stella-export/internal/envelope"
	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/extsort"
	"github.com/stella-ops/stella-export/internal/keyring"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/plaintext"
	"github.com/stella-ops/stella-export/internal/provenance"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// MaxSeed bounds a --deterministic-encryption-seed file.
const MaxSeed = safefile.MaxSecret

// Config is a resolved encryption: the contract's settings with their
// keys.
type Config struct {
	Mode  string // contract.EncryptEnvelope or contract.EncryptAge
	Scope string // contract.ScopeData or contract.ScopePayload
	// Key is the envelope mode's current master key.
	Key envelope.Key
	// Recipients are the age mode's recipients.
	Recipients []agecrypt.Recipient
	// Seed, when set, makes envelope encryption deterministic.
	Seed []byte
}

// Keys say where envelope master keys come from: a keyring directory, or
// else the hex master key of STELLA_EXPORT_KMS_MASTER_KEY_HEX.
type Keys struct {
	Keyring string
	EnvHex  string
}

// Resolve makes the Config of a contract's encryption: it resolves the
// key alias (keyring first, else the environment key) or reads the
// recipients, and reads the seed file (seedPath, "" for none), which age
// mode refuses.
func Resolve(e *contract.Encryption, keys Keys, seedPath string) (*Config, error) {
	cfg := &Config{Mode: e.Mode, Scope: e.Scope}
	if seedPath != "" {
		if e.Mode == contract.EncryptAge {
			return nil, exitcode.Usagef("--deterministic-encryption-seed: the contract's encryption is age mode, and age draws its own randomness for every file: age exports are never byte-reproducible; leave the flag out")
		}
		seed, err := safefile.ReadAll(seedPath, MaxSeed)
		if err != nil {
			return nil, fmt.Errorf("--deterministic-encryption-seed %w", err)
		}
		if len(seed) == 0 {
			return nil, exitcode.Invalidf("--deterministic-encryption-seed %s: the file is empty", seedPath)
		}
		cfg.Seed = seed
	}
	switch e.Mode {
	case contract.EncryptEnvelope:
		var p keyring.Provider
		switch {
		case keys.Keyring != "":
			p = keyring.Dir(keys.Keyring)
		case keys.EnvHex != "":
			env, err := keyring.NewEnv(keys.EnvHex)
			if err != nil {
				return nil, exitcode.Tag(exitcode.CodeKMSEncryption, err)
			}
			p = env
		default:
			return nil, exitcode.Usagef("encryption key %s: no keyring: give --keyring DIR (or STELLA_EXPORT_KEYRING), or the master key in STELLA_EXPORT_KMS_MASTER_KEY_HEX", e.Key)
		}
		k, err := p.Resolve(e.Key)
		if err != nil {
			return nil, exitcode.Tag(exitcode.CodeKMSEncryption, fmt.Errorf("encryption key %s: %w", e.Key, err))
		}
		cfg.Key = envelope.Key{ID: k.ID, Secret: k.Secret}
	case contract.EncryptAge:
		rs, err := agecrypt.ParseRecipients(e.RecipientPaths)
		if err != nil {
			return nil, fmt.Errorf("encryption: %w", err)
		}
		cfg.Recipients = rs
	default:
		return nil, exitcode.Invalidf("encryption: unknown mode %q", e.Mode)
	}
	return cfg, nil
}

// Suffix is the file name suffix of the mode.
func (c *Config) Suffix() string {
	if c.Mode == contract.EncryptAge {
		return plaintext.SuffixAge
	}
	return plaintext.SuffixEnvelope
}

// fingerprints are the recipients' fingerprints, sorted.
func (c *Config) fingerprints() []string {
	var out []string
	for _, r := range c.Recipients {
		out = append(out, r.Fingerprint)
	}
	slices.Sort(out)
	return out
}

// Sealer encrypts a stage's files (adapters.Sealer). Use one per run:
// New, set as the stage's Sealer, then Finish once the adapters are done.
type Sealer struct {
	cfg    *Config
	stage  *adapters.Stage
	ctx    context.Context
	suffix string

	mu   sync.Mutex
	recs *extsort.Sorter // one record per encrypted file, by name
	err  error

	sorted   *extsort.Sorted
	manifest record // the plaintext manifest's own record
	files    *adapters.Files
	count    int
}

// New returns the Sealer of cfg for stage; its records spill where the
// stage's do.
func New(ctx context.Context, cfg *Config, stage *adapters.Stage) *Sealer {
	s := &Sealer{cfg: cfg, stage: stage, ctx: ctx, suffix: cfg.Suffix()}
	s.recs = stage.Sorter(byName)
	return s
}

// Close removes the records' spill files.
func (s *Sealer) Close() error {
	errs := []error{s.recs.Close()}
	if s.sorted != nil {
		errs = append(errs, s.sorted.Close())
	}
	return errors.Join(errs...)
}

// Covers says whether rel is encrypted: under data/ (scope data) or any
// payload file (scope payload), but never provenance.json or the plaintext
// manifest.
func (s *Sealer) Covers(rel string) bool {
	if rel == layout.Provenance || strings.HasPrefix(rel, plaintext.Base) || layout.Reserved(rel) {
		return false
	}
	if s.cfg.Scope == contract.ScopeData {
		return strings.HasPrefix(rel, "data/")
	}
	return true
}

// Name is the encrypted file's name: rel and the mode's suffix.
func (s *Sealer) Name(rel string) string { return rel + s.suffix }

// A record is the encrypted name, NUL, the plaintext name, NUL, the
// plaintext's SHA-256 (32 bytes), its size (uvarint) and the wrapped key
// (envelope: 60 bytes; age: none).
type record struct {
	name, rel string
	sum       []byte
	size      int64
	wrapped   []byte
}

func (r record) encode() []byte {
	b := make([]byte, 0, len(r.name)+len(r.rel)+2+32+binary.MaxVarintLen64+len(r.wrapped))
	b = append(b, r.name...)
	b = append(b, 0)
	b = append(b, r.rel...)
	b = append(b, 0)
	b = append(b, r.sum...)
	b = binary.AppendUvarint(b, uint64(r.size))
	return append(b, r.wrapped...)
}

func decode(b []byte) (record, error) {
	name, rest, ok1 := bytes.Cut(b, []byte{0})
	rel, rest, ok2 := bytes.Cut(rest, []byte{0})
	if !ok1 || !ok2 || len(rest) < 32 {
		return record{}, errors.New("encrypted file record: truncated")
	}
	r := record{name: string(name), rel: string(rel), sum: rest[:32]}
	size, n := binary.Uvarint(rest[32:])
	if n <= 0 {
		return record{}, errors.New("encrypted file record: bad size")
	}
	r.size = int64(size)
	r.wrapped = rest[32+n:]
	return r, nil
}

func recName(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

func byName(a, b []byte) int { return bytes.Compare(recName(a), recName(b)) }

func recRel(b []byte) []byte {
	_, rest, _ := bytes.Cut(b, []byte{0})
	return recName(rest)
}

func byRel(a, b []byte) int { return bytes.Compare(recRel(a), recRel(b)) }

func (s *Sealer) add(r record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if r.rel == plaintext.Base {
		s.manifest = r
		return nil
	}
	if err := s.recs.Add(r.encode()); err != nil {
		s.err = fmt.Errorf("record encrypted file: %w", err)
	}
	return s.err
}

// Seal returns the writer that encrypts rel, staged as name, onto dst.
func (s *Sealer) Seal(name, rel string, dst io.Writer) (adapters.SealWriter, error) {
	if s.cfg.Mode == contract.EncryptAge {
		w, err := agecrypt.Encrypt(dst, agecrypt.AgeRecipients(s.cfg.Recipients))
		if err != nil {
			return nil, fmt.Errorf("encrypt %s: %w", rel, err)
		}
		return &sealWriter{s: s, w: w, r: record{name: name, rel: rel}}, nil
	}
	var rnd io.Reader = rand.Reader
	if s.cfg.Seed != nil {
		rnd = detrand.New(s.cfg.Seed, name)
	}
	hc := &headerCapture{w: dst, want: envelope.Header{KeyID: s.cfg.Key.ID}.Len()}
	w, err := envelope.NewWriter(hc, s.cfg.Key, rnd)
	if err != nil {
		return nil, fmt.Errorf("encrypt %s: %w", rel, err)
	}
	return &sealWriter{s: s, w: w, hc: hc, r: record{name: name, rel: rel}}, nil
}

type sealWriter struct {
	s  *Sealer
	w  io.WriteCloser
	hc *headerCapture // envelope only
	r  record
}

func (w *sealWriter) Write(p []byte) (int, error) { return w.w.Write(p) }

func (w *sealWriter) Finish(sum []byte, size int64) error {
	if err := w.w.Close(); err != nil {
		return fmt.Errorf("encrypt %s: %w", w.r.rel, err)
	}
	w.r.sum, w.r.size = sum, size
	if w.hc != nil {
		h, err := envelope.ReadHeader(bytes.NewReader(w.hc.buf))
		if err != nil {
			return fmt.Errorf("encrypt %s: read back the header: %w", w.r.rel, err)
		}
		w.r.wrapped = h.WrappedKey[:]
	}
	return w.s.add(w.r)
}

// headerCapture keeps the first want bytes written through it.
type headerCapture struct {
	w    io.Writer
	want int
	buf  []byte
}

func (h *headerCapture) Write(p []byte) (int, error) {
	if n := h.want - len(h.buf); n > 0 {
		h.buf = append(h.buf, p[:min(n, len(p))]...)
	}
	return h.w.Write(p)
}

// present yields the records of the encrypted files the stage still holds
// (mirror:delta removes files unchanged from the base), by name.
func (s *Sealer) present(files *adapters.Files) iter.Seq2[record, error] {
	return func(yield func(record, error) bool) {
		next, stop := iter.Pull2(files.All())
		defer stop()
		f, err, ok := next()
		for rec, rerr := range s.sorted.All() {
			if rerr != nil {
				yield(record{}, rerr)
				return
			}
			r, derr := decode(rec)
			if derr != nil {
				yield(record{}, derr)
				return
			}
			for ok && err == nil && f.Path < r.name {
				f, err, ok = next()
			}
			if err != nil {
				yield(record{}, err)
				return
			}
			if ok && f.Path == r.name && !yield(r, nil) {
				return
			}
		}
	}
}

// Finish ends the encryption of a run once the adapters are done: it
// writes the plaintext manifest, encrypted, into the stage, and returns
// what export.json and provenance.json record.
func (s *Sealer) Finish() (*manifest.Encryption, *provenance.Encryption, error) {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	sorted, err := s.recs.Sort(s.ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("sort encrypted files: %w", err)
	}
	s.sorted = sorted
	files, err := s.stage.Files()
	if err != nil {
		return nil, nil, err
	}
	byPlain := s.stage.Sorter(byRel)
	defer byPlain.Close()
	for r, err := range s.present(files) {
		if err != nil {
			return nil, nil, err
		}
		if err := byPlain.Add(r.encode()); err != nil {
			return nil, nil, err
		}
		s.count++
	}
	plain, err := byPlain.Sort(s.ctx)
	if err != nil {
		return nil, nil, err
	}
	defer plain.Close()
	if err := s.writeManifest(plain); err != nil {
		return nil, nil, err
	}
	if s.files, err = s.stage.Files(); err != nil {
		return nil, nil, err
	}
	me := &manifest.Encryption{Mode: s.cfg.Mode, Scope: s.cfg.Scope, Files: s.count, PlaintextManifest: s.manifest.name}
	pe := &provenance.Encryption{Mode: s.cfg.Mode, Scope: s.cfg.Scope, PlaintextManifest: s.manifest.name, Files: s.provenanceFiles}
	if s.cfg.Mode == contract.EncryptAge {
		me.Recipients = s.cfg.fingerprints()
		pe.Recipients = me.Recipients
	} else {
		me.KeyID = s.cfg.Key.ID
		pe.KeyID = me.KeyID
	}
	return me, pe, nil
}

// writeManifest writes the plaintext manifest from the records sorted by
// plaintext name.
func (s *Sealer) writeManifest(plain *extsort.Sorted) error {
	f, err := s.stage.CreateSealed(plaintext.Base)
	if err != nil {
		return err
	}
	f.Records = s.count
	entries := func(yield func(any, error) bool) {
		for rec, err := range plain.All() {
			if err != nil {
				yield(nil, err)
				return
			}
			r, err := decode(rec)
			if err != nil {
				yield(nil, err)
				return
			}
			e := plaintext.Entry{Encrypted: r.name, Name: r.rel, SHA256: hex.EncodeToString(r.sum), Size: r.size}
			if !yield(e, nil) {
				return
			}
		}
	}
	head := struct {
		Format string `json:"format"`
	}{plaintext.Format}
	if err := canonjson.WriteObject(f, head, map[string]canonjson.Array{"files": {Seq: entries}}); err != nil {
		f.Abort()
		return err
	}
	return f.Close()
}

// provenanceFiles yields every encrypted file of the stage, the plaintext
// manifest included, by name, with its wrapped key in envelope mode.
func (s *Sealer) provenanceFiles(yield func(provenance.EncryptedFile, error) bool) {
	entry := func(r record) provenance.EncryptedFile {
		e := provenance.EncryptedFile{Name: r.name}
		if len(r.wrapped) > 0 {
			e.WrappedKey = base64.StdEncoding.EncodeToString(r.wrapped)
		}
		return e
	}
	done := false
	for r, err := range s.present(s.files) {
		if err != nil {
			yield(provenance.EncryptedFile{}, err)
			return
		}
		if !done && s.manifest.name < r.name {
			done = true
			if !yield(entry(s.manifest), nil) {
				return
			}
		}
		if !yield(entry(r), nil) {
			return
		}
	}
	if !done {
		yield(entry(s.manifest), nil)
	}
}
