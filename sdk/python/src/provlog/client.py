"""The HTTP client (``httpx``): submit, read, and verified reads."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from ._encoding import b64decode, b64encode
from .credentials import (
    DEFAULT_MAX_AGE_MS,
    ChainHead,
    CredentialState,
    verify_chain_answer,
    verify_credential_answer,
)
from .errors import APIError, FormatError, ProvlogError, TransportError, VerificationError, api_error
from .keys import VerifierKey, as_verifier
from .merkle import leaf_hash
from .note import Checkpoint, open_witnessed_checkpoint
from .receipts import VerifiedReceipt, parse_leaf, verify_receipt
from .tiles import TILE_WIDTH, TileHashes, bundle_path, decode_bundle, root_with_leaves, tile_path

RETRY_STATUSES = (429, 503)
"""Statuses a request is retried on (with ``Retry-After`` when given)."""

__all__ = ["BatchResult", "Client", "VerifiedEntry"]


@dataclass(frozen=True)
class BatchResult:
    """One item of a batch answer: a receipt (201 new, 200 retry) or an error."""

    status: int
    """The item's status."""
    receipt: dict[str, Any] | None
    """The receipt, for 200 and 201."""
    error: APIError | None
    """The error, otherwise (with its signed ``refusal`` when there is one)."""

    @property
    def ok(self) -> bool:
        """Whether the item was logged (now or before)."""
        return self.receipt is not None


@dataclass(frozen=True)
class VerifiedEntry:
    """An entry read from the tiles and authenticated against a verified checkpoint."""

    index: int
    """Its index."""
    entry: bytes
    """Its bytes."""
    leaf_hash: bytes
    """``SHA-256(0x00 || entry)``."""
    leaf: dict[str, Any]
    """The entry parsed as a provlog leaf."""


def _retry_after(resp: httpx.Response) -> float | None:
    v = resp.headers.get("retry-after")
    if v is None:
        return None
    v = v.strip()
    if v.isdigit():
        return float(v)
    try:
        return max(0.0, parsedate_to_datetime(v).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class Client:
    """A client of one provlog server.

    Every request is retried (at most ``retries`` more times, with
    exponential backoff from ``backoff`` seconds up to ``max_backoff``, or
    the server's ``Retry-After``) on 503, 429 and connection errors and
    timeouts. Retrying a submission is safe: the log answers a retry of the
    same event with the same entry (200). Errors raise
    :class:`~provlog.errors.APIError` subclasses; no answer raises
    :class:`~provlog.errors.TransportError`.

    ``log_key`` (the log's vkey, obtained out of band) is needed by the
    verified reads (``verified_*``, :meth:`entries`).
    """

    def __init__(
        self,
        url: str,
        *,
        log_key: VerifierKey | str | None = None,
        witnesses: Iterable[VerifierKey | str] = (),
        min_witnesses: int | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.25,
        max_backoff: float = 10.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """Opens a client for the server at ``url`` (e.g. ``http://127.0.0.1:8080``)."""
        self.url = url.rstrip("/")
        self.log_key = as_verifier(log_key) if log_key is not None else None
        self.witnesses = [as_verifier(w) for w in witnesses]
        self.min_witnesses = min_witnesses
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._origin: str | None = None
        self._http = httpx.Client(
            base_url=self.url, timeout=timeout, headers=dict(headers or {}), transport=transport
        )

    def close(self) -> None:
        """Closes the connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------

    def _delay(self, attempt: int, resp: httpx.Response | None) -> float:
        base = min(self.max_backoff, self.backoff * (2**attempt))
        after = _retry_after(resp) if resp is not None else None
        if after is not None:
            return float(min(self.max_backoff, max(after, 0.0)))
        return float(base * (0.5 + random.random() / 2))

    def _send(self, method: str, path: str, *, json: Any = None, params: Any = None) -> httpx.Response:
        attempt = 0
        while True:
            try:
                resp = self._http.request(method, path, json=json, params=params)
            except httpx.TransportError as e:
                if attempt >= self.retries:
                    raise TransportError(f"{method} {path}: {e.__class__.__name__}: {e}") from e
                time.sleep(self._delay(attempt, None))
                attempt += 1
                continue
            if resp.status_code in RETRY_STATUSES and attempt < self.retries:
                time.sleep(self._delay(attempt, resp))
                attempt += 1
                continue
            return resp

    @staticmethod
    def _error(resp: httpx.Response) -> APIError:
        try:
            body = resp.json()
        except ValueError:
            body = resp.text
        return api_error(resp.status_code, body)

    def _json(self, method: str, path: str, *, json: Any = None, params: Any = None) -> Any:
        resp = self._send(method, path, json=json, params=params)
        if resp.status_code >= 400:
            raise self._error(resp)
        try:
            return resp.json()
        except ValueError:
            raise ProvlogError("the server's answer is not JSON", status=resp.status_code) from None

    def _bytes(self, path: str) -> bytes:
        resp = self._send("GET", path)
        if resp.status_code >= 400:
            raise self._error(resp)
        return resp.content

    def _key(self) -> VerifierKey:
        if self.log_key is None:
            raise ProvlogError("a verified read needs the log's key (Client(log_key=...))", code="no_log_key")
        return self.log_key

    # --- the log ------------------------------------------------------------

    def log_info(self) -> dict[str, Any]:
        """``GET /v1/log``: origin, vkey, tree size, witnesses, limits."""
        info: dict[str, Any] = self._json("GET", "/v1/log")
        return info

    def origin(self) -> str:
        """The log's checkpoint origin (what version 2 signatures bind to); cached."""
        if self._origin is None:
            self._origin = str(self.log_info()["origin"])
        return self._origin

    # --- submit -------------------------------------------------------------

    def submit(self, submission: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/entries``: logs one signed submission; returns its receipt (not yet verified).

        Raises :class:`~provlog.errors.ConflictError` (409) for another event
        under a logged ``event_id`` or a chain refusal, and
        :class:`~provlog.errors.ForbiddenError` with the signed ``refusal``
        for a refusal of authority.
        """
        receipt: dict[str, Any] = self._json("POST", "/v1/entries", json=dict(submission))
        return receipt

    def submit_verified(self, submission: Mapping[str, Any]) -> VerifiedReceipt:
        """:meth:`submit`, then verifies the receipt with the log key.

        Also checks that the entry holds this submission's signature.
        """
        r = self.submit(submission)
        v = verify_receipt(r, self._key())
        if v.event is None or v.leaf.get("signature") != submission.get("signature"):
            raise VerificationError("the receipt's entry is not this submission")
        return v

    def submit_batch(self, submissions: Sequence[Mapping[str, Any]]) -> list[BatchResult]:
        """``POST /v1/entries/batch``: 1–1,000 submissions; one result per item, in order.

        Items answered 503 (or 429) are sent again (as a smaller batch) within
        the retry budget.
        """
        items = [dict(s) for s in submissions]
        results: list[BatchResult | None] = [None] * len(items)
        pending = list(range(len(items)))
        attempt = 0
        while pending:
            body = self._json("POST", "/v1/entries/batch", json={"submissions": [items[i] for i in pending]})
            got = body.get("results") if isinstance(body, dict) else None
            if not isinstance(got, list) or len(got) != len(pending):
                raise ProvlogError("the batch answer does not have one result per submission")
            again = []
            for i, r in zip(pending, got, strict=True):
                status = int(r.get("status", 0))
                if "receipt" in r and status in (200, 201):
                    results[i] = BatchResult(status, r["receipt"], None)
                else:
                    results[i] = BatchResult(status, None, api_error(status, {"error": r.get("error")}))
                    if status in RETRY_STATUSES:
                        again.append(i)
            if not again or attempt >= self.retries:
                break
            time.sleep(self._delay(attempt, None))
            attempt += 1
            pending = again
        return [r for r in results if r is not None]

    # --- plain reads --------------------------------------------------------

    def checkpoint_note(self) -> str:
        """``GET /checkpoint``: the latest checkpoint note (not verified)."""
        return self._bytes("/checkpoint").decode("utf-8")

    def entry(self, index: int) -> dict[str, Any]:
        """``GET /v1/entries/<index>``: ``{"index","leaf_hash","entry","decoded"}`` (not verified)."""
        e: dict[str, Any] = self._json("GET", f"/v1/entries/{index}")
        return e

    def receipt(self, index: int, *, witnessed: bool = False) -> dict[str, Any]:
        """``GET /v1/entries/<index>/receipt``: a receipt against the latest (or witnessed) checkpoint."""
        r: dict[str, Any] = self._json(
            "GET", f"/v1/entries/{index}/receipt", params={"witnessed": "true"} if witnessed else None
        )
        return r

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """``GET /v1/proofs/consistency?from=M&to=N``: the proof hashes."""
        p = self._json("GET", "/v1/proofs/consistency", params={"from": old_size, "to": new_size})
        try:
            return [b64decode(h, "a proof hash", 32) for h in p["proof"]]
        except (FormatError, KeyError, TypeError) as e:
            raise VerificationError(f"malformed consistency proof: {e}") from None

    def credential(self, fingerprint: str, *, at: int | None = None) -> dict[str, Any]:
        """``GET /v1/credentials/<fingerprint>[?at=<index>]``: the raw answer (not verified)."""
        a: dict[str, Any] = self._json(
            "GET", f"/v1/credentials/{quote(fingerprint)}", params={"at": at} if at is not None else None
        )
        return a

    def chain(self, submitter: str) -> dict[str, Any]:
        """``GET /v1/chains/<submitter>``: the raw chain answer (not verified)."""
        a: dict[str, Any] = self._json("GET", f"/v1/chains/{quote(submitter, safe='')}")
        return a

    def search(
        self,
        *,
        target: str | None = None,
        actor: str | None = None,
        credential: str | None = None,
        action: str | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """``GET /v1/events``: every matching entry in index order, following ``next_after`` page by page.

        Each item is ``{"index","leaf_hash","entry","decoded"}``; search
        results are not proofs (use :meth:`verified_receipt` or
        :meth:`entries` for those).
        """
        params: dict[str, Any] = {
            k: v
            for k, v in (("target", target), ("actor", actor), ("credential", credential), ("action", action),
                         ("limit", limit))
            if v is not None
        }
        while True:
            q = dict(params)
            if after is not None:
                q["after"] = after
            page = self._json("GET", "/v1/events", params=q)
            yield from page.get("entries", [])
            nxt = page.get("next_after")
            if nxt is None:
                return
            after = int(nxt)

    def tile(self, level: int, index: int, width: int = TILE_WIDTH) -> bytes:
        """A Merkle tile (``width`` hashes); falls back to the full tile when a partial one is gone."""
        return self._tile_or_full(tile_path(level, index, width), tile_path(level, index), 32 * width)

    def bundle(self, index: int, width: int = TILE_WIDTH) -> list[bytes]:
        """The entries of an entry bundle (``width`` of them), with the same fallback."""
        try:
            body = self._bytes("/" + bundle_path(index, width))
            return decode_bundle(body, width)
        except APIError as e:
            if e.status != 404 or width == TILE_WIDTH:
                raise
        body = self._bytes("/" + bundle_path(index))
        return decode_bundle(body, TILE_WIDTH)[:width]

    def _tile_or_full(self, partial: str, full: str, nbytes: int) -> bytes:
        try:
            return self._bytes("/" + partial)
        except APIError as e:
            if e.status != 404 or partial == full:
                raise
        return self._bytes("/" + full)[:nbytes]

    # --- verified reads -----------------------------------------------------

    def verified_checkpoint(self) -> Checkpoint:
        """The latest checkpoint, verified under the log key (and the client's witness policy)."""
        return open_witnessed_checkpoint(self.checkpoint_note(), self._key(), self.witnesses, self.min_witnesses)

    def verified_receipt(self, index: int, *, witnessed: bool = False) -> VerifiedReceipt:
        """:meth:`receipt`, verified."""
        return verify_receipt(
            self.receipt(index, witnessed=witnessed),
            self._key(),
            witnesses=self.witnesses,
            min_witnesses=self.min_witnesses,
        )

    def verified_credential(
        self,
        fingerprint: str,
        *,
        max_age_ms: int = DEFAULT_MAX_AGE_MS,
        at: int | None = None,
        now: int | None = None,
    ) -> CredentialState:
        """The credential's state, verified (with ``at``: as of that entry)."""
        return verify_credential_answer(
            self.credential(fingerprint, at=at),
            fingerprint,
            self._key(),
            now=now,
            max_age_ms=max_age_ms,
            as_of_entry=at,
            witnesses=self.witnesses,
            min_witnesses=self.min_witnesses,
        )

    def verified_chain(self, submitter: str, *, max_age_ms: int = DEFAULT_MAX_AGE_MS) -> ChainHead:
        """A sequenced submitter's committed chain head, verified."""
        return verify_chain_answer(
            self.chain(submitter),
            submitter,
            self._key(),
            max_age_ms=max_age_ms,
            witnesses=self.witnesses,
            min_witnesses=self.min_witnesses,
        )

    def entries(
        self,
        start: int = 0,
        end: int | None = None,
        *,
        checkpoint: Checkpoint | None = None,
        bundles_per_check: int = 16,
    ) -> Iterator[VerifiedEntry]:
        """Entries ``start`` … ``end - 1`` read from the entry bundles, each authenticated.

        Every group of ``bundles_per_check`` bundles is checked before any of
        its entries is yielded: the root recomputed from its entries' leaf
        hashes and tile hashes for the rest of the tree must equal the
        checkpoint's root. ``checkpoint`` (default: the latest, verified)
        fixes the tree; ``end`` defaults to its size.
        """
        cp = checkpoint if checkpoint is not None else self.verified_checkpoint()
        size = cp.size
        end = size if end is None else end
        if not 0 <= start <= end <= size:
            raise ProvlogError(f"entries {start}..{end} are not within the tree of {size}")
        hashes = TileHashes(size, self.tile)
        b = start // TILE_WIDTH
        while b * TILE_WIDTH < end:
            group_end = min(b + bundles_per_check, (end + TILE_WIDTH - 1) // TILE_WIDTH)
            known: dict[int, bytes] = {}
            entries: dict[int, bytes] = {}
            for bi in range(b, group_end):
                width = min(TILE_WIDTH, size - bi * TILE_WIDTH)
                for j, e in enumerate(self.bundle(bi, width)):
                    i = bi * TILE_WIDTH + j
                    known[i] = leaf_hash(e)
                    entries[i] = e
            if root_with_leaves(size, known, hashes) != cp.root:
                raise VerificationError(f"bundles {b}..{group_end - 1} do not match the checkpoint's root")
            for i in sorted(entries):
                if start <= i < end:
                    yield VerifiedEntry(i, entries[i], known[i], parse_leaf(entries[i]))
            b = group_end


def receipt_leaf_hash(receipt: Mapping[str, Any]) -> str:
    """The base64 leaf hash of a receipt's entry (recomputed, not trusted)."""
    return b64encode(leaf_hash(b64decode(receipt["entry"], "entry")))
