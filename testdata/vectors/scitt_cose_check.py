#!/usr/bin/env python3
"""provlog's SCITT evidence checked by scitt-cose (PyPI, Apache-2.0), an
implementation of RFC 9942 receipts and RFC 9943 statements that provlog did
not write (tests/it/scitt.rs runs this with the venv of scripts/pytools).

  verify-receipt RECEIPT ENTRY LOG_VKEY
      RFC 9942 receipt for the entry bytes ENTRY, under the log's key.
  verify-transparent STATEMENT LOG_VKEY SUBMITTER_VKEY
      a transparent statement: the statement's signature (submitter key),
      its first receipt for the leaf rebuilt from the receipt's
      "provlog_leaf" frame (docs/SCITT.md), under the log's key.
  sign PAYLOAD SUBMITTER_SKEY ISSUER OUT
      a signed statement over PAYLOAD, made by scitt-cose's
      build_signed_statement with the submitter's key; kid = its key ID.

Keys are signed-note strings (name+hash+base64, PRIVATE+KEY+name+hash+base64).
Prints one JSON object.
"""
import base64
import json
import sys

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from scitt_cose import (
    build_signed_statement,
    extract_receipts,
    parse_signed_statement,
    verify_receipt,
)


def _raw(note_key: str) -> tuple[bytes, bytes]:
    """(key ID, key bytes) of a signed-note key: name+hash+base64 (the
    base64 may hold '+'; a name may not)."""
    text = note_key.strip().removeprefix("PRIVATE+KEY+")
    _name, key_hash, b64 = text.split("+", 2)
    kid = bytes.fromhex(key_hash)
    blob = base64.b64decode(b64)
    if blob[0] != 1 or len(blob) != 33:
        raise SystemExit("not an Ed25519 signed-note key")
    return kid, blob[1:]


def public_pem(vkey: str) -> bytes:
    return Ed25519PublicKey.from_public_bytes(_raw(vkey)[1]).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def result(r) -> dict:
    return {
        "ok": r.ok,
        "errors": r.errors,
        "tree_size": r.tree_size,
        "leaf_index": r.leaf_index,
        "root": r.root.hex() if isinstance(r.root, bytes) else r.root,
    }


def leaf_of(statement: bytes, receipt: bytes) -> bytes:
    """The leaf a provlog statement receipt proves: the receipt's frame with
    the statement (unprotected header emptied) in it, base64."""
    outer = cbor2.loads(statement)
    protected, _unprotected, payload, signature = outer.value
    logged = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))
    frame = cbor2.loads(receipt).value[1]["provlog_leaf"]
    prefix = '{"cose_sign1":"'
    assert frame.startswith(prefix + '","kind":"statement",'), frame
    return (prefix + base64.b64encode(logged).decode() + frame[len(prefix):]).encode()


def main(argv: list[str]) -> dict:
    cmd = argv[0]
    if cmd == "verify-receipt":
        receipt, entry = open(argv[1], "rb").read(), open(argv[2], "rb").read()
        return result(verify_receipt(receipt, leaf_entry_hex=entry.hex(), log_public_key_pem=public_pem(argv[3])))
    if cmd == "verify-transparent":
        ts = open(argv[1], "rb").read()
        receipts = extract_receipts(ts)
        parsed = parse_signed_statement(ts, public_key_pem=public_pem(argv[3]))
        out = {"statement_verified": parsed["signature_verified"], "issuer": parsed["issuer"], "receipts": len(receipts)}
        if receipts:
            leaf = leaf_of(ts, receipts[0])
            out.update(result(verify_receipt(receipts[0], leaf_entry_hex=leaf.hex(), log_public_key_pem=public_pem(argv[2]))))
        return out
    if cmd == "sign":
        payload = open(argv[1], "rb").read()
        kid, seed = _raw(argv[2])
        pem = Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        stmt = build_signed_statement(
            payload,
            alg="EdDSA",
            private_key_pem=pem,
            issuer=argv[3],
            subject="provlog-interop",
            content_type="application/json",
            kid=kid,
        )
        open(argv[4], "wb").write(stmt)
        return {"ok": True, "bytes": len(stmt)}
    raise SystemExit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
