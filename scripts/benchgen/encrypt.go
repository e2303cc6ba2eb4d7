package main

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"os"

	"github.com/stella-ops/stella-export/internal/agecrypt"
	"github.com/stella-ops/stella-export/internal/envelope"
	"github.com/stella-ops/stella-export/internal/keyring"
)

// encryptFile encrypts in to out with stella-export's encryption code, the
// path run takes for each file: mode envelope (the master key in
// $STELLA_EXPORT_KMS_MASTER_KEY_HEX, key id alias/bench) or age (to
// recipient).
func encryptFile(mode, in, out, recipient string) error {
	src, err := os.Open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(dst, 1<<20)
	var w io.WriteCloser
	switch mode {
	case "envelope":
		k, err := keyring.FromEnvHex("alias/bench", os.Getenv("STELLA_EXPORT_KMS_MASTER_KEY_HEX"))
		if err != nil {
			return err
		}
		w, err = envelope.NewWriter(bw, envelope.Key{ID: k.ID, Secret: k.Secret}, rand.Reader)
		if err != nil {
			return err
		}
	case "age":
		rs, err := agecrypt.ParseRecipients([]string{recipient})
		if err != nil {
			return err
		}
		if w, err = agecrypt.Encrypt(bw, agecrypt.AgeRecipients(rs)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("-encrypt %q: want envelope or age", mode)
	}
	if _, err := io.CopyBuffer(w, src, make([]byte, 1<<20)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return dst.Close()
}
