"""Client-side state: a sequenced submitter's chain position and the last verified checkpoint."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._encoding import b64decode, b64encode
from .errors import APIError, FormatError, VerificationError
from .events import EventLike, event_json
from .keys import VerifierKey, as_verifier
from .merkle import leaf_hash, verify_consistency
from .note import Checkpoint, open_witnessed_checkpoint
from .receipts import parse_leaf

if TYPE_CHECKING:
    from .client import Client


class ForkError(VerificationError):
    """Two checkpoints that no consistency proof joins: the log showed two histories."""


class RollbackError(VerificationError):
    """A checkpoint smaller than the one already verified."""


class ChainState:
    """A sequenced submitter's position in its chain (docs/CHAINS.md).

    Each event carries ``seq`` (1, 2, …) and ``prev``, the leaf hash of the
    chain's previous entry (of the registering policy leaf for ``seq`` 1).
    :meth:`sequence` stamps the next position on an event; :meth:`advance`
    moves on from the receipt of the entry just logged. One entry in flight
    at a time: a refused submission leaves the position free.
    """

    def __init__(self, submitter: str, seq: int, head: str) -> None:
        """``seq`` is the position of the chain's last entry (0 for none), ``head`` its base64 leaf hash."""
        b64decode(head, "the chain head", 32)
        self.submitter = submitter
        """The submitter id."""
        self.seq = seq
        """The position of the last entry (0 while there is none)."""
        self.head = head
        """Base64 leaf hash of that entry: the next ``prev``."""

    @classmethod
    def from_log(cls, client: Client, submitter: str) -> ChainState:
        """The committed head from ``GET /v1/chains/<submitter>`` (verified when the client has the log key).

        The committed head can lag the log by the entries of the latest batch:
        start from it only when no submission of this submitter is in flight.
        """
        if client.log_key is not None:
            h = client.verified_chain(submitter)
            return cls(submitter, h.seq, h.head)
        rec = client.chain(submitter).get("record")
        if not isinstance(rec, dict):
            raise FormatError(f"{submitter} has no chain (is it sequenced?)")
        return cls(submitter, int(rec["seq"]), str(rec["head"]))

    def next(self) -> tuple[int, str]:
        """The next ``(seq, prev)``."""
        return self.seq + 1, self.head

    def sequence(self, event: EventLike) -> dict[str, Any]:
        """The event as JSON with the next ``seq`` and ``prev`` set."""
        ev = event_json(event)
        ev["seq"], ev["prev"] = self.next()
        return ev

    def advance(self, receipt: Mapping[str, Any]) -> None:
        """Moves on from the receipt of the entry just logged (checks it is the next position)."""
        entry = b64decode(receipt["entry"], "entry")
        leaf = parse_leaf(entry)
        ev = leaf.get("event") or leaf.get("heartbeat")
        if (
            leaf.get("submitter") != self.submitter
            or not isinstance(ev, dict)
            or ev.get("seq") != self.seq + 1
            or ev.get("prev") != self.head
        ):
            raise VerificationError("the receipt is not of this chain's next position")
        self.seq += 1
        self.head = b64encode(leaf_hash(entry))

    def to_json(self) -> dict[str, Any]:
        """``{"submitter","seq","head"}`` to persist."""
        return {"submitter": self.submitter, "seq": self.seq, "head": self.head}

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> ChainState:
        """The state :meth:`to_json` wrote."""
        return cls(str(v["submitter"]), int(v["seq"]), str(v["head"]))


class CheckpointStore:
    """Remembers the last verified checkpoint of a log in a file, and accepts only checkpoints that extend it.

    :meth:`update` verifies a new checkpoint under the log key (and witness
    policy), then, against the stored one: the same size needs the same
    root (else :class:`ForkError`), a smaller size is a
    :class:`RollbackError`, a larger one needs a consistency proof (fetched
    from the client) that verifies (else :class:`ForkError`). Only then is
    it stored (atomically).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        log_key: VerifierKey | str,
        *,
        witnesses: Iterable[VerifierKey | str] = (),
        min_witnesses: int | None = None,
    ) -> None:
        """A store in ``path`` (created on the first :meth:`update`) for the log ``log_key``."""
        self.path = Path(path)
        self.log_key = as_verifier(log_key)
        self.witnesses = [as_verifier(w) for w in witnesses]
        self.min_witnesses = min_witnesses

    def _open(self, note: str) -> Checkpoint:
        return open_witnessed_checkpoint(note, self.log_key, self.witnesses, self.min_witnesses)

    @property
    def latest(self) -> Checkpoint | None:
        """The stored checkpoint (re-verified), or ``None``."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return self._open(str(data["checkpoint"]))

    def update(self, note: str, client: Client | None = None) -> Checkpoint:
        """Verifies ``note`` and stores it if it extends the stored checkpoint; returns the stored one."""
        new = self._open(note)
        old = self.latest
        if old is not None:
            if new.size < old.size:
                raise RollbackError(f"the checkpoint of size {new.size} is older than the stored {old.size}")
            if new.size == old.size:
                if new.root != old.root:
                    raise ForkError(f"two roots for size {new.size}: the log forked")
                return old
            if client is None:
                raise VerificationError("a client is needed to fetch the consistency proof")
            try:
                proof = client.consistency_proof(old.size, new.size)
            except APIError as e:
                raise VerificationError(f"no consistency proof from {old.size} to {new.size}: {e}") from None
            try:
                verify_consistency(old.size, new.size, old.root, new.root, proof)
            except VerificationError as e:
                raise ForkError(f"size {new.size} does not extend the stored {old.size}: {e}") from None
        self._write(note, new)
        return new

    def refresh(self, client: Client) -> Checkpoint:
        """Fetches the latest checkpoint from the client and :meth:`update` s with it."""
        return self.update(client.checkpoint_note(), client)

    def _write(self, note: str, cp: Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"origin": cp.origin, "size": cp.size, "checkpoint": note}) + "\n"
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name + ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
