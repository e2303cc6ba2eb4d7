package commands

import (
	"os"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/stella-ops/stella-export/internal/agecrypt"
	"github.com/stella-ops/stella-export/internal/decrypt/decrypttest"
	"github.com/stella-ops/stella-export/internal/envelope"
	"github.com/stella-ops/stella-export/internal/keyring"
	"github.com/stella-ops/stella-export/internal/layout"
)

// decryptCmds are the testscript commands of the decryption scripts.
var decryptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"encryptdir": cmdEncryptDir,
	"flipbyte":   cmdFlipByte,
}

// encryptdir SCOPE DIR keyring KR alias/NAME | env HEX alias/NAME | age RECIPIENT...:
// encrypt an export directory in place as run does (docs/encryption.md):
// SCOPE data encrypts every file below data/, payload every file but
// export.json and provenance.json; then writes the plaintext manifest.
func cmdEncryptDir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 4 {
		ts.Fatalf("usage: encryptdir data|payload DIR keyring KR alias/NAME | env HEX alias/NAME | age RECIPIENT...")
	}
	var s decrypttest.Sealer
	switch args[2] {
	case "keyring", "env":
		if len(args) != 5 {
			ts.Fatalf("encryptdir: %s takes two arguments", args[2])
		}
		var k keyring.Key
		var err error
		if args[2] == "keyring" {
			k, err = keyring.Dir(ts.MkAbs(args[3])).Resolve(args[4])
		} else {
			k, err = keyring.FromEnvHex(args[4], args[3])
		}
		ts.Check(err)
		s.Key = &envelope.Key{ID: k.ID, Secret: k.Secret}
	case "age":
		var specs []string
		for _, a := range args[3:] {
			if !strings.HasPrefix(a, "age1") {
				a = ts.MkAbs(a)
			}
			specs = append(specs, a)
		}
		rs, err := agecrypt.ParseRecipients(specs)
		ts.Check(err)
		s.Recipients = agecrypt.AgeRecipients(rs)
	default:
		ts.Fatalf("encryptdir: unknown key kind %q", args[2])
	}
	inScope := func(n string) bool { return strings.HasPrefix(n, "data/") }
	if args[0] == "payload" {
		inScope = func(n string) bool { return n != layout.Manifest && n != layout.Provenance }
	}
	_, err := decrypttest.EncryptDir(ts.MkAbs(args[1]), s, inScope)
	ts.Check(err)
}

// flipbyte FILE OFFSET: flip the lowest bit of the byte at OFFSET (negative:
// from the end) of FILE.
func cmdFlipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET")
	}
	p := ts.MkAbs(args[0])
	b, err := os.ReadFile(p)
	ts.Check(err)
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	if off < 0 {
		off += len(b)
	}
	if off < 0 || off >= len(b) {
		ts.Fatalf("flipbyte: offset %s outside the %d bytes of %s", args[1], len(b), args[0])
	}
	b[off] ^= 1
	ts.Check(os.WriteFile(p, b, 0o600))
}
