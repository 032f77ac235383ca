"""Credential answers and chain answers, verified offline (docs/MAP.md, docs/CHAINS.md).

A credential answer (``GET /v1/credentials/<fingerprint>``) proves, under
the log's key, that a state commitment at most ``max_age`` old holds this
record (or no record) for this fingerprint. It does **not** prove that the
commitment is the last one: choose ``max_age`` as the longest a revoked
credential may still be accepted.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ._encoding import b64decode, loads_strict, sha256, uint
from .errors import FormatError, VerificationError
from .jcs import canonicalize
from .keys import VerifierKey, as_verifier
from .merkle import leaf_hash, verify_inclusion
from .note import Checkpoint, open_witnessed_checkpoint

MAX_CLOCK_SKEW_MS = 5000
"""How far in the future (by the caller's clock) a commitment may be, at most."""
DEFAULT_MAX_AGE_MS = 600_000
"""The default maximum age of a commitment (10 minutes)."""

_LOGGED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_FINGERPRINT = re.compile(r"^sha256:[0-9a-f]{64}$")
_STATE_MEMBERS = ["credentials", "kind", "logged_at", "map_root", "size", "v"]
_MAP_LEAF, _MAP_INNER, _MAP_EMPTY = b"\x12", b"\x13", b"\x14"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
EMPTY_MAP_ROOT = sha256(_MAP_EMPTY)
"""The root of the empty provlog-map-v1 map."""


def now_ms() -> int:
    """The caller's clock in Unix milliseconds."""
    return int(time.time() * 1000)


def rfc3339_ms(t: object) -> int:
    """An RFC 3339 time as Unix milliseconds (raises :class:`FormatError`)."""
    if not isinstance(t, str) or not _RFC3339.match(t):
        raise FormatError(f"not an RFC 3339 time: {t!r}")
    try:
        dt = datetime.fromisoformat(t.upper().replace("Z", "+00:00"))
    except ValueError:
        raise FormatError(f"not an RFC 3339 time: {t!r}") from None
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def credential_key(fingerprint: str) -> bytes:
    """The map key of a credential: ``SHA-256("provlog/credential-key/v1\\n" || fingerprint)``."""
    return sha256(b"provlog/credential-key/v1\n", fingerprint.encode("ascii"))


def credential_value(record: Mapping[str, Any]) -> bytes:
    """The map value of a record: ``SHA-256("provlog/credential-record/v1\\n" || JCS(record))``."""
    return sha256(b"provlog/credential-record/v1\n", canonicalize(dict(record)))


def chain_key(submitter: str) -> bytes:
    """The map key of a chain: ``SHA-256("provlog/chain-key/v1\\n" || submitter)``."""
    return sha256(b"provlog/chain-key/v1\n", submitter.encode("utf-8"))


def chain_value(record: Mapping[str, Any]) -> bytes:
    """The map value of a chain record: ``SHA-256("provlog/chain-record/v1\\n" || JCS(record))``."""
    return sha256(b"provlog/chain-record/v1\n", canonicalize(dict(record)))


def _bit(k: bytes, b: int) -> int:
    return (k[b >> 3] >> (7 - (b & 7))) & 1


def verify_map_proof(root: bytes, key: bytes, value: bytes | None, proof: bytes) -> bool:
    """Whether a provlog-map-v1 proof (binary form) proves ``key -> value`` (or absence for ``None``)."""
    if len(proof) < 3 or len(key) != 32 or len(root) != 32:
        return False
    kind, p = proof[0], 1
    if kind == 1:
        if len(proof) < 67:
            return False
        k, v, p = proof[1:33], proof[33:65], 65
    elif kind in (0, 2):
        k, v = key, value or b""
    else:
        return False
    n = int.from_bytes(proof[p : p + 2], "big")
    p += 2
    if n > 256 or len(proof) != p + 33 * n:
        return False
    if kind == 2:
        return value is None and n == 0 and root == EMPTY_MAP_ROOT
    if kind == 0:
        if value is None or len(value) != 32:
            return False
    elif value is not None or k == key:
        return False
    h, prev = sha256(_MAP_LEAF, k, v), 256
    for _ in range(n):
        b, s = proof[p], proof[p + 1 : p + 33]
        p += 33
        if b >= prev or _bit(key, b) != _bit(k, b):
            return False
        prev = b
        bb = bytes([b])
        h = sha256(_MAP_INNER, bb, h, s) if _bit(key, b) == 0 else sha256(_MAP_INNER, bb, s, h)
    return h == root


@dataclass(frozen=True)
class Commitment:
    """A verified state commitment: the credential map's root over the entries before ``index``."""

    index: int
    """The state leaf's index (= the number of entries the map covers)."""
    map_root: bytes
    """The map's root."""
    logged_at: str
    """When the log wrote it."""
    logged_at_ms: int
    """:attr:`logged_at` in Unix milliseconds."""
    checkpoint: Checkpoint
    """The verified checkpoint that includes it."""


def verify_commitment(
    answer: Mapping[str, Any],
    log_key: VerifierKey,
    witnesses: Iterable[VerifierKey],
    min_witnesses: int | None,
    now: int,
    max_age_ms: int,
    as_of_entry: int | None,
) -> Commitment:
    """Steps 2–4 of docs/MAP.md "Verifying an answer": checkpoint, commitment inclusion, freshness."""
    cp = open_witnessed_checkpoint(answer["checkpoint"], log_key, witnesses, min_witnesses)
    c = answer["commitment"]
    index = uint(c["index"], "commitment index")
    entry = b64decode(c["entry"], "commitment entry")
    proof = [b64decode(p, "a proof hash", 32) for p in c["proof"]]
    verify_inclusion(index, cp.size, leaf_hash(entry), proof, cp.root)
    leaf = loads_strict(entry)
    if not isinstance(leaf, dict) or canonicalize(leaf) != entry:
        raise VerificationError("the commitment leaf is not canonical")
    if sorted(leaf) != _STATE_MEMBERS:
        raise VerificationError("the commitment is not a state leaf")
    if leaf["kind"] != "state" or uint(leaf["v"], "v") != 1 or uint(leaf["size"], "size") != index:
        raise VerificationError("not a state leaf covering the entries before it")
    uint(leaf["credentials"], "credentials")
    logged_at = leaf["logged_at"]
    if not isinstance(logged_at, str) or not _LOGGED_AT.match(logged_at):
        raise VerificationError("logged_at is not YYYY-MM-DDTHH:MM:SS.mmmZ")
    at = rfc3339_ms(logged_at)
    if as_of_entry is None:
        age = now - at
        if age > max_age_ms:
            raise VerificationError(f"stale: the commitment is {age} ms old, over the maximum {max_age_ms} ms")
        if age < -min(MAX_CLOCK_SKEW_MS, max_age_ms):
            raise VerificationError(f"the commitment is {-age} ms ahead of this clock")
    elif index > as_of_entry:
        raise VerificationError("the commitment is after the entry the question is about")
    root = b64decode(leaf["map_root"], "map root", 32)
    return Commitment(index, root, logged_at, at, cp)


@dataclass(frozen=True)
class CredentialState:
    """A verified credential answer."""

    fingerprint: str
    """The credential."""
    state: str
    """What to act on: ``active``, ``superseded``, ``revoked``, ``expired`` or ``unknown``.

    ``expired`` when the record is ``active`` and its ``not_after`` is at or
    before the caller's clock (for a historical question: at the commitment's time).
    """
    record: dict[str, Any] | None
    """The committed record, or ``None`` when no event named it."""
    commitment: Commitment
    """The commitment the answer is from."""

    @property
    def is_active(self) -> bool:
        """Whether the state is ``active``."""
        return self.state == "active"


def _fail(e: Exception) -> VerificationError:
    return e if isinstance(e, VerificationError) else VerificationError(f"malformed answer: {e}")


def verify_credential_answer(
    answer: Mapping[str, Any],
    fingerprint: str,
    log_key: VerifierKey | str,
    *,
    now: int | None = None,
    max_age_ms: int = DEFAULT_MAX_AGE_MS,
    as_of_entry: int | None = None,
    witnesses: Iterable[VerifierKey | str] = (),
    min_witnesses: int | None = None,
) -> CredentialState:
    """Verifies a credential answer (docs/MAP.md "Verifying an answer"); returns the state to act on.

    ``now`` is the caller's clock in Unix milliseconds (default: this
    machine's). With ``as_of_entry`` the question is historical ("was it in
    this state when that entry was logged?"): the commitment must be at or
    before it, freshness is not asked and expiry is judged at the
    commitment's time. Answers with a ``history`` are verified only for
    the items' inclusion and that they name the fingerprint, in order.
    """
    key = as_verifier(log_key)
    ws = [as_verifier(w) for w in witnesses]
    t = now_ms() if now is None else now
    try:
        if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint):
            raise VerificationError("the fingerprint is not sha256:<64 lowercase hex>")
        if answer.get("fingerprint") != fingerprint:
            raise VerificationError("the answer is about another credential")
        if "next_after" in answer:
            raise VerificationError("a page of a longer history")
        c = verify_commitment(answer, key, ws, min_witnesses, t, max_age_ms, as_of_entry)
        rec = answer.get("record")
        value = None
        if rec is not None:
            if not isinstance(rec, dict):
                raise VerificationError("the record is not an object")
            if rec.get("fingerprint") != fingerprint:
                raise VerificationError("the record is about another credential")
            if uint(rec["last_index"], "last_index") >= c.index:
                raise VerificationError("the record was changed after the commitment")
            if uint(rec["version"], "version") >= 2**53 or rec["last_index"] >= 2**53:
                raise VerificationError("version or last_index beyond 2^53")
            if "not_after" in rec:
                rfc3339_ms(rec["not_after"])
            value = credential_value(rec)
        proof = b64decode(answer["map_proof"], "map proof")
        if not verify_map_proof(c.map_root, credential_key(fingerprint), value, proof):
            raise VerificationError("the map proof does not verify")
        committed = rec["state"] if rec is not None else "unknown"
        if answer.get("state") != committed:
            raise VerificationError("the stated state is not the record's")
        history = answer.get("history")
        if history:
            _verify_history(history, fingerprint, c, rec, as_of_entry)
        state = committed
        judged_at = t if as_of_entry is None else c.logged_at_ms
        if (
            rec is not None
            and state == "active"
            and rec.get("not_after")
            and rfc3339_ms(rec["not_after"]) <= judged_at
        ):
            state = "expired"
        return CredentialState(fingerprint, state, rec, c)
    except (VerificationError, FormatError, KeyError, TypeError, ValueError) as e:
        raise _fail(e) from None


def _verify_history(
    history: Any, fingerprint: str, c: Commitment, rec: dict[str, Any] | None, as_of_entry: int | None
) -> None:
    if not isinstance(history, list):
        raise VerificationError("history is not a list")
    last = -1
    indexes = set()
    for item in history:
        i = uint(item["index"], "history index")
        if i <= last:
            raise VerificationError("history items are not in increasing index order")
        last = i
        entry = b64decode(item["entry"], "history entry")
        proof = [b64decode(p, "a proof hash", 32) for p in item["proof"]]
        verify_inclusion(i, c.checkpoint.size, leaf_hash(entry), proof, c.checkpoint.root)
        leaf = loads_strict(entry)
        ev = leaf.get("event") if isinstance(leaf, dict) else None
        cred = ev.get("credential") if isinstance(ev, dict) else None
        if not isinstance(cred, dict) or fingerprint not in (
            cred.get("fingerprint"),
            cred.get("previous_fingerprint"),
        ):
            raise VerificationError("a history item is not an event naming the credential")
        indexes.add(i)
        decision = ev.get("decision") if isinstance(ev, dict) else None
        took_effect = (
            isinstance(ev, dict)
            and ev.get("outcome") == "success"
            and isinstance(decision, dict)
            and decision.get("result") == "allow"
        )
        if as_of_entry is None and took_effect and i >= c.index:
            raise VerificationError("a change after the commitment: it is not the last one")
    if rec is not None and rec["last_index"] not in indexes:
        raise VerificationError("the record's last change is not in the history")


@dataclass(frozen=True)
class ChainHead:
    """A verified chain answer: a sequenced submitter's committed head."""

    submitter: str
    """The submitter."""
    seq: int
    """Position of its last entry (0 while it has none)."""
    head: str
    """Base64 leaf hash of that entry (of the registration while ``seq`` is 0): the next ``prev``."""
    head_index: int
    """That entry's index."""
    record: dict[str, Any]
    """The committed chain record."""
    commitment: Commitment
    """The commitment it is from."""


def verify_chain_answer(
    answer: Mapping[str, Any],
    submitter: str,
    log_key: VerifierKey | str,
    *,
    now: int | None = None,
    max_age_ms: int = DEFAULT_MAX_AGE_MS,
    witnesses: Iterable[VerifierKey | str] = (),
    min_witnesses: int | None = None,
) -> ChainHead:
    """Verifies a chain answer's record (docs/CHAINS.md "Verifying", steps 1–3; ``entries`` are not checked)."""
    key = as_verifier(log_key)
    ws = [as_verifier(w) for w in witnesses]
    t = now_ms() if now is None else now
    try:
        if answer.get("submitter") != submitter:
            raise VerificationError("the answer is about another submitter")
        if "next_from" in answer:
            raise VerificationError("a page of a longer chain")
        c = verify_commitment(answer, key, ws, min_witnesses, t, max_age_ms, None)
        rec = answer.get("record")
        if not isinstance(rec, dict):
            raise VerificationError("no chain record: the submitter is not sequenced")
        if rec.get("submitter") != submitter:
            raise VerificationError("the record names another submitter")
        reg, hi = uint(rec["registered_index"], "registered_index"), uint(rec["head_index"], "head_index")
        if not reg <= hi < c.index or uint(rec["seq"], "seq") >= 2**53:
            raise VerificationError("the chain record does not fit the commitment")
        b64decode(rec["head"], "head", 32)
        proof = b64decode(answer["map_proof"], "map proof")
        if not verify_map_proof(c.map_root, chain_key(submitter), chain_value(rec), proof):
            raise VerificationError("the map proof does not verify")
        return ChainHead(submitter, rec["seq"], rec["head"], hi, rec, c)
    except (VerificationError, FormatError, KeyError, TypeError, ValueError) as e:
        raise _fail(e) from None
