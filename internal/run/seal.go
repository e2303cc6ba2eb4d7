package run

import (
	"context"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/contract"
	"github.com/stella-ops/stella-export/internal/encrypt"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/plaintext"
	"github.com/stella-ops/stella-export/internal/provenance"
	"github.com/stella-ops/stella-export/internal/readme"
)

// seal is the encryption of a run (a zero seal, for a run without
// encryption, does nothing): the stage's Sealer, and once finished what
// export.json and provenance.json record.
type seal struct {
	s        *encrypt.Sealer
	manifest *manifest.Encryption
	prov     *provenance.Encryption
}

func newSeal(ctx context.Context, stage *adapters.Stage, cfg *encrypt.Config) *seal {
	if cfg == nil {
		return &seal{}
	}
	s := encrypt.New(ctx, cfg, stage)
	stage.Sealer = s
	return &seal{s: s}
}

func (s *seal) close() {
	if s.s != nil {
		s.s.Close()
	}
}

// finish writes the plaintext manifest into the stage.
func (s *seal) finish() error {
	if s.s == nil {
		return nil
	}
	var err error
	s.manifest, s.prov, err = s.s.Finish()
	return err
}

// readmeEncryption is the README's account of export.json's encryption.
func readmeEncryption(e *manifest.Encryption) *readme.Encryption {
	if e == nil {
		return nil
	}
	r := &readme.Encryption{Mode: e.Mode, Scope: e.Scope, Suffix: plaintext.SuffixEnvelope, KeyID: e.KeyID,
		PlaintextManifest: e.PlaintextManifest, Files: e.Files}
	if e.Mode == contract.EncryptAge {
		r.Suffix = plaintext.SuffixAge
	}
	return r
}
