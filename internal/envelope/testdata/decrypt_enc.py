#!/usr/bin/env python3
"""Decrypt a stella-export envelope file (.enc) to stdout.

An independent implementation written from docs/encryption.md alone, to show
that the page is complete. Usage:

    decrypt_enc.py --key KEYID:HEX [--key KEYID:HEX ...] FILE.enc > PLAINTEXT

HEX is the 64-hex-digit master key. Exit 0 after the last chunk authenticated
at the end of the file; exit 1 with a message on stderr when the file is
rejected (stdout then holds only chunks that authenticated, and is not the
whole plaintext); exit 2 on a usage error or an unknown key id.
"""

import argparse
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = bytes.fromhex("535458454e430d0a")
VERSION = 1
CHUNK = 65536
TAG = 16
SEALED = CHUNK + TAG
MAX_INDEX = 2**32 - 1
INFO = b"stella-export/enc/v1 payload"


class Rejected(Exception):
    pass


def read_exact(f, n):
    """Read up to n bytes, fewer only at the end of the file."""
    buf = b""
    while len(buf) < n:
        b = f.read(n - len(buf))
        if not b:
            break
        buf += b
    return buf


def decrypt(f, keys, out):
    head = read_exact(f, 22)
    if len(head) < 22:
        raise Rejected("header: truncated")
    if head[0:8] != MAGIC:
        raise Rejected("header: bad magic")
    if head[8] != VERSION:
        raise Rejected("header: unsupported version %d" % head[8])
    (chunk_size,) = struct.unpack(">I", head[9:13])
    if chunk_size != CHUNK:
        raise Rejected("header: chunk size %d" % chunk_size)
    prefix = head[13:20]
    (n,) = struct.unpack(">H", head[20:22])
    if n < 1 or n > 256:
        raise Rejected("header: key id length %d" % n)
    rest = read_exact(f, n + 60)
    if len(rest) < n + 60:
        raise Rejected("header: truncated")
    key_id = rest[:n]
    if any(c < 0x21 or c > 0x7E for c in key_id):
        raise Rejected("header: key id not printable ASCII")
    wrap_nonce = rest[n:n + 12]
    wrapped = rest[n + 12:n + 60]
    key_id = key_id.decode("ascii")
    if key_id not in keys:
        print("decrypt_enc.py: no master key %s" % key_id, file=sys.stderr)
        sys.exit(2)
    aad = head + rest[:n]  # bytes 0 to 21+N
    try:
        data_key = AESGCM(keys[key_id]).decrypt(wrap_nonce, wrapped, aad)
    except InvalidTag:
        raise Rejected("header: the data key does not unwrap")
    payload_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=head[0:20],
                       info=INFO).derive(data_key)
    aead = AESGCM(payload_key)

    i = 0
    pending = read_exact(f, SEALED + 1)
    while True:
        if len(pending) > SEALED:
            chunk, last, carry = pending[:SEALED], False, pending[SEALED:]
        else:
            chunk, last, carry = pending, True, b""
        if i == 0 and len(chunk) == 0:
            raise Rejected("chunk 0: missing")
        if len(chunk) < TAG:
            raise Rejected("chunk %d: shorter than a tag" % i)
        if len(chunk) == TAG and i > 0:
            raise Rejected("chunk %d: empty last chunk after a full one" % i)
        if i > MAX_INDEX:
            raise Rejected("chunk %d: too many chunks" % i)
        nonce = prefix + struct.pack(">I", i) + (b"\x01" if last else b"\x00")
        try:
            plain = aead.decrypt(nonce, chunk, None)
        except InvalidTag:
            raise Rejected("chunk %d: authentication failed" % i)
        out.write(plain)
        if last:
            return
        i += 1
        pending = carry + read_exact(f, SEALED + 1 - len(carry))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--key", action="append", default=[], help="KEYID:HEX")
    ap.add_argument("file")
    args = ap.parse_args()
    keys = {}
    for k in args.key:
        kid, _, hx = k.rpartition(":")
        secret = bytes.fromhex(hx)
        if not kid or len(secret) != 32:
            ap.error("--key %s: want KEYID:64 hex digits" % k)
        keys[kid] = secret
    with open(args.file, "rb") as f:
        try:
            decrypt(f, keys, sys.stdout.buffer)
        except Rejected as e:
            sys.stdout.flush()
            print("decrypt_enc.py: %s: %s" % (args.file, e), file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
