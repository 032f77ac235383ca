"""Receipts (a C2SP tlog-proof plus the entry bytes) and provlog leaves, verified offline."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._encoding import b64decode, b64encode, loads_strict, uint
from .errors import FormatError, VerificationError
from .jcs import canonicalize
from .keys import VerifierKey, as_verifier
from .merkle import leaf_hash, verify_inclusion
from .note import Checkpoint, open_witnessed_checkpoint, require_cosignatures

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
"""The first line of a tlog-proof."""
LEAF_KINDS = ("event", "statement", "policy", "state", "heartbeat")
"""The kinds of provlog leaves."""


def parse_leaf(entry: bytes) -> dict[str, Any]:
    """Parses entry bytes as a provlog leaf: canonical JSON of an object with a known ``kind``."""
    try:
        leaf = loads_strict(entry)
    except FormatError as e:
        raise VerificationError(f"the entry is not a provlog leaf: {e}") from None
    if not isinstance(leaf, dict) or leaf.get("kind") not in LEAF_KINDS:
        raise VerificationError("the entry is not a provlog leaf (no known kind)")
    if canonicalize(leaf) != entry:
        raise VerificationError("the entry is not canonical JSON")
    return leaf


@dataclass(frozen=True)
class TlogProof:
    """A parsed ``c2sp.org/tlog-proof@v1`` text."""

    index: int
    """The entry's index."""
    proof: tuple[bytes, ...]
    """The inclusion proof, leaf side first."""
    checkpoint: str
    """The checkpoint note, verbatim."""
    extra: bytes | None = None
    """The unauthenticated ``extra`` data, if any."""

    @classmethod
    def parse(cls, text: str) -> TlogProof:
        """Parses the text strictly."""
        head, sep, checkpoint = text.partition("\n\n")
        if not sep:
            raise FormatError("tlog_proof: no blank line before the checkpoint")
        lines = head.split("\n")
        if lines[0] != TLOG_PROOF_HEADER:
            raise FormatError("tlog_proof: the first line is not c2sp.org/tlog-proof@v1")
        rest = lines[1:]
        extra = None
        if rest and rest[0].startswith("extra "):
            extra = b64decode(rest[0][6:], "tlog_proof extra")
            rest = rest[1:]
        if not rest or not rest[0].startswith("index "):
            raise FormatError("tlog_proof: no index line")
        n = rest[0][6:]
        if not n.isascii() or not n.isdigit() or str(int(n)) != n:
            raise FormatError("tlog_proof: the index is not canonical decimal")
        proof = tuple(b64decode(line, "a tlog_proof hash", 32) for line in rest[1:])
        if len(proof) > 64:
            raise FormatError("tlog_proof: more than 64 proof hashes")
        return cls(int(n), proof, checkpoint, extra)

    def to_text(self) -> str:
        """The text, byte for byte."""
        out = TLOG_PROOF_HEADER + "\n"
        if self.extra is not None:
            out += f"extra {b64encode(self.extra)}\n"
        out += f"index {self.index}\n" + "".join(b64encode(h) + "\n" for h in self.proof)
        return out + "\n" + self.checkpoint


@dataclass(frozen=True)
class VerifiedReceipt:
    """What a verified receipt proves: this entry is at this index of the log's signed tree."""

    index: int
    """The entry's index."""
    leaf_hash: bytes
    """``SHA-256(0x00 || entry)``."""
    leaf_hash_b64: str
    """The leaf hash in base64 (a sequenced submitter's next ``prev``)."""
    entry: bytes
    """The entry bytes."""
    leaf: dict[str, Any]
    """The entry parsed as a provlog leaf."""
    checkpoint: Checkpoint
    """The verified checkpoint that includes it."""
    cosigned: int
    """How many of the given witnesses cosigned the checkpoint."""

    @property
    def event(self) -> dict[str, Any] | None:
        """The logged event, for an event leaf."""
        ev = self.leaf.get("event")
        return ev if isinstance(ev, dict) else None


def verify_receipt(
    receipt: Mapping[str, Any],
    log_key: VerifierKey | str,
    *,
    witnesses: Iterable[VerifierKey | str] = (),
    min_witnesses: int | None = None,
) -> VerifiedReceipt:
    """Verifies a receipt ``{"index","leaf_hash","entry","checkpoint","inclusion_proof","tlog_proof"}`` offline.

    Checks: the leaf hash is ``SHA-256(0x00 || entry)``; the tlog-proof text
    agrees with the JSON (index, proof, checkpoint); the checkpoint verifies
    under the log key, its origin is the key's name and (with ``witnesses``)
    at least ``min_witnesses`` (default: all given) cosigned it; the inclusion
    proof leads from the leaf to the checkpoint's root; the entry is a
    provlog leaf. Raises :class:`~provlog.errors.VerificationError`.
    """
    key = as_verifier(log_key)
    ws = [as_verifier(w) for w in witnesses]
    try:
        index = uint(receipt["index"], "index")
        entry = b64decode(receipt["entry"], "entry")
        claimed = b64decode(receipt["leaf_hash"], "leaf_hash", 32)
        proof_list = receipt["inclusion_proof"]
        if not isinstance(proof_list, list):
            raise FormatError("inclusion_proof is not a list")
        proof = [b64decode(p, "an inclusion proof hash", 32) for p in proof_list]
        note = receipt["checkpoint"]
        if not isinstance(note, str):
            raise FormatError("checkpoint is not a string")
        tlog = TlogProof.parse(receipt["tlog_proof"]) if isinstance(receipt.get("tlog_proof"), str) else None
    except (FormatError, KeyError, TypeError) as e:
        raise VerificationError(f"malformed receipt: {e}") from None
    if tlog is None:
        raise VerificationError("malformed receipt: no tlog_proof")
    lh = leaf_hash(entry)
    if lh != claimed:
        raise VerificationError("leaf_hash is not SHA-256(0x00 || entry)")
    if tlog.index != index:
        raise VerificationError("tlog_proof disagrees with the receipt's index")
    if tlog.checkpoint != note:
        raise VerificationError("tlog_proof disagrees with the receipt's checkpoint")
    if list(tlog.proof) != proof:
        raise VerificationError("tlog_proof disagrees with the receipt's inclusion_proof")
    cp = open_witnessed_checkpoint(note, key, ws, min_witnesses)
    cosigned = 0
    if ws:
        cosigned = require_cosignatures(note, ws, 0)
    verify_inclusion(index, cp.size, lh, proof, cp.root)
    leaf = parse_leaf(entry)
    return VerifiedReceipt(index, lh, b64encode(lh), entry, leaf, cp, cosigned)
