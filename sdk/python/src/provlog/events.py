"""The provisioning event (docs/DESIGN.md "The provisioning event"), submissions and approvals.

Build an :class:`Event` (or pass a plain ``dict`` in the same shape), then
:func:`sign_submission` it for a log::

    event = Event(
        event_id="onboard-42", occurred_at="2026-12-04T10:00:00Z", action=Action.ISSUE,
        actor=Actor("wf/onboard", "workflow"), target=Target("svc-payments", "service_account"),
        credential=Credential("sha256:" + "ab" * 32),
    )
    submission = sign_submission(event, "ci", key, origin="localhost/provlog")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Union

from ._encoding import b64decode, b64encode, sha256
from .errors import FormatError
from .jcs import canonicalize
from .keys import ALG_ED25519, SignerKey, VerifierKey

EVENT_V1_CONTEXT = b"provlog/event/v1\n"
"""Prefix of a version 1 event signature (bound to no log)."""
EVENT_V2_CONTEXT = b"provlog/event/v2\n"
"""Prefix of a version 2 event signature (followed by the origin and a newline)."""
APPROVAL_CONTEXT = b"provlog/approval/v1\n"
"""Prefix of an approval signature (followed by the origin and a newline)."""


class Action:
    """The event actions (``x-<name>`` for extensions)."""

    ISSUE = "issue"
    ROTATE = "rotate"
    REVOKE = "revoke"
    BIND = "bind"
    UNBIND = "unbind"
    GRANT = "grant"
    EXPIRE = "expire"

    @staticmethod
    def extension(name: str) -> str:
        """The extension action ``x-<name>``."""
        return f"x-{name}"


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


@dataclass(frozen=True)
class Actor:
    """``actor``: the workflow or principal that performed the action."""

    id: str
    """Its identifier."""
    type: str
    """Its kind, e.g. ``workflow``."""

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {"id": self.id, "type": self.type}


@dataclass(frozen=True)
class Target:
    """``target``: the identity acted on."""

    id: str
    """Its identifier."""
    type: str
    """Its kind: ``service_account``, ``api_key``, ``token``, ``certificate``, ``role``, ``secret``, …"""
    system: str | None = None
    """The system it lives in (optional)."""

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return _drop_none({"id": self.id, "type": self.type, "system": self.system})


@dataclass(frozen=True)
class Authority:
    """``authority``: the delegated authority the action ran under (all optional)."""

    approval_id: str | None = None
    """The change or approval identifier."""
    approved_by: str | None = None
    """Who approved it."""
    scope: str | None = None
    """The scope granted."""

    def to_json(self) -> dict[str, Any]:
        """The JSON object (``{}`` when empty)."""
        return _drop_none(
            {"approval_id": self.approval_id, "approved_by": self.approved_by, "scope": self.scope}
        )


@dataclass(frozen=True)
class Decision:
    """``decision``: the policy decision (``allow`` or ``deny``)."""

    result: str = "allow"
    """``allow`` or ``deny``."""
    policy_id: str | None = None
    """The policy that decided (optional)."""
    policy_version: str | None = None
    """Its version (optional)."""

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return _drop_none(
            {"result": self.result, "policy_id": self.policy_id, "policy_version": self.policy_version}
        )


@dataclass(frozen=True)
class Credential:
    """``credential``: the credential state relied on."""

    fingerprint: str
    """``sha256:<64 lowercase hex>``."""
    previous_fingerprint: str | None = None
    """For a rotation: the credential it replaces."""
    not_after: str | None = None
    """Its expiry (RFC 3339)."""

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return _drop_none(
            {
                "fingerprint": self.fingerprint,
                "previous_fingerprint": self.previous_fingerprint,
                "not_after": self.not_after,
            }
        )


def fingerprint_of(credential_bytes: bytes) -> str:
    """The fingerprint ``sha256:<hex>`` of a credential's bytes (e.g. a DER certificate or public key)."""
    return "sha256:" + sha256(credential_bytes).hex()


def now_rfc3339() -> str:
    """The current UTC time as RFC 3339 with milliseconds, for ``occurred_at``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True)
class Event:
    """A provisioning event (schema version 1)."""

    event_id: str
    """1–128 printable ASCII characters; the idempotency key, unique per submitter."""
    occurred_at: str
    """RFC 3339 time the action happened."""
    action: str
    """One of :class:`Action` or ``x-<name>``."""
    actor: Actor
    """Who performed it."""
    target: Target
    """The identity acted on."""
    authority: Authority = field(default_factory=Authority)
    """The delegated authority."""
    decision: Decision = field(default_factory=Decision)
    """The policy decision."""
    outcome: str = "success"
    """``success`` or ``failure``."""
    credential: Credential | None = None
    """The credential relied on (optional)."""
    details: Mapping[str, Any] | None = None
    """Free-form JSON object (optional)."""
    seq: int | None = None
    """Position in a sequenced submitter's chain (with :attr:`prev`)."""
    prev: str | None = None
    """Base64 leaf hash of the chain's previous entry (with :attr:`seq`)."""

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object (absent optional members left out)."""
        if (self.seq is None) != (self.prev is None):
            raise FormatError("seq and prev go together")
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "occurred_at": self.occurred_at,
            "action": self.action,
            "actor": self.actor.to_json(),
            "target": self.target.to_json(),
            "authority": self.authority.to_json(),
            "decision": self.decision.to_json(),
            "outcome": self.outcome,
        }
        if self.credential is not None:
            out["credential"] = self.credential.to_json()
        if self.details is not None:
            out["details"] = dict(self.details)
        if self.seq is not None:
            out["seq"] = self.seq
            out["prev"] = self.prev
        return out

    def with_chain(self, seq: int, prev: str) -> Event:
        """A copy with ``seq`` and ``prev`` set."""
        return replace(self, seq=seq, prev=prev)


EventLike = Union[Event, Mapping[str, Any]]
"""An :class:`Event` or an event as a JSON object."""


def event_json(event: EventLike) -> dict[str, Any]:
    """The JSON object of an event."""
    return event.to_json() if isinstance(event, Event) else dict(event)


def canonical_event(event: EventLike) -> bytes:
    """``JCS(event)``: the RFC 8785 bytes a submitter signs."""
    return canonicalize(event_json(event))


def signing_message_v1(event: EventLike) -> bytes:
    """``"provlog/event/v1\\n" || JCS(event)``: bound to no log."""
    return EVENT_V1_CONTEXT + canonical_event(event)


def signing_message_v2(origin: str, event: EventLike) -> bytes:
    """``"provlog/event/v2\\n" || origin || "\\n" || JCS(event)``: valid in that log only."""
    return EVENT_V2_CONTEXT + origin.encode("utf-8") + b"\n" + canonical_event(event)


def sign_submission(
    event: EventLike,
    submitter: str,
    key: SignerKey,
    origin: str | None = None,
    *,
    approvals: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A signed submission ``{"event", "submitter", "signature", "signature_version"[, "approvals"]}``.

    With ``origin`` (the log's checkpoint origin, ``Client.origin()``) it is a
    version 2 signature, valid in that log only; without, version 1 (which a
    log with ``require_origin_binding`` refuses). ``approvals`` are signed
    approvals (:func:`sign_approval`).
    """
    if key.alg != ALG_ED25519:
        raise FormatError("a submitter key is an Ed25519 (0x01) key")
    ev = event_json(event)
    out: dict[str, Any] = {"event": ev, "submitter": submitter}
    if origin is None:
        out["signature"] = b64encode(key.sign(signing_message_v1(ev)))
        out["signature_version"] = 1
    else:
        out["signature"] = b64encode(key.sign(signing_message_v2(origin, ev)))
        out["signature_version"] = 2
    if approvals is not None:
        if not approvals:
            raise FormatError("approvals, when given, are 1 to 8")
        out["approvals"] = [dict(a) for a in approvals]
    return out


@dataclass(frozen=True)
class Approval:
    """An approval object (docs/DESIGN.md "Approvals"), signed by an approver with :func:`sign_approval`."""

    id: str
    """The approval's id (unique per approver)."""
    approver: str
    """The approver's id."""
    submitter: str
    """The submitter it authorizes."""
    actions: Sequence[str]
    """1–16 exact action names."""
    target: str
    """A target id or glob."""
    not_before: str
    """RFC 3339 start of validity."""
    not_after: str
    """RFC 3339 end of validity."""
    actor: str | None = None
    """The ``actor.id`` it is limited to (optional)."""
    system: str | None = None
    """The ``target.system`` it is limited to (optional)."""
    fingerprint: str | None = None
    """The credential it is limited to (optional)."""
    max_uses: int | None = None
    """How many events may carry it (default 1)."""
    refs: Sequence[str] | None = None
    """1–8 references (tickets, URLs)."""

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return _drop_none(
            {
                "id": self.id,
                "approver": self.approver,
                "submitter": self.submitter,
                "actor": self.actor,
                "actions": list(self.actions),
                "target": self.target,
                "system": self.system,
                "fingerprint": self.fingerprint,
                "not_before": self.not_before,
                "not_after": self.not_after,
                "max_uses": self.max_uses,
                "refs": list(self.refs) if self.refs is not None else None,
            }
        )


ApprovalLike = Union[Approval, Mapping[str, Any]]
"""An :class:`Approval` or an approval as a JSON object."""


def approval_json(approval: ApprovalLike) -> dict[str, Any]:
    """The JSON object of an approval."""
    return approval.to_json() if isinstance(approval, Approval) else dict(approval)


def approval_message(origin: str, approval: ApprovalLike) -> bytes:
    """``"provlog/approval/v1\\n" || origin || "\\n" || JCS(approval)``."""
    return APPROVAL_CONTEXT + origin.encode("utf-8") + b"\n" + canonicalize(approval_json(approval))


def approval_digest(approval: ApprovalLike) -> bytes:
    """``SHA-256(JCS(approval))``, what the log records uses under."""
    return sha256(canonicalize(approval_json(approval)))


def sign_approval(approval: ApprovalLike, key: SignerKey, origin: str) -> dict[str, Any]:
    """A signed approval ``{"approval": {...}, "signature": "<base64>"}`` valid in the log ``origin``."""
    if key.alg != ALG_ED25519:
        raise FormatError("an approver key is an Ed25519 (0x01) key")
    a = approval_json(approval)
    return {"approval": a, "signature": b64encode(key.sign(approval_message(origin, a)))}


def verify_submission_signature(
    submission: Mapping[str, Any], key: VerifierKey, origin: str | None = None
) -> bool:
    """Whether a submission's signature verifies under the submitter's :class:`~provlog.keys.VerifierKey`.

    A version 2 signature needs the log's ``origin``.
    """
    version = submission.get("signature_version", 1)
    sig = b64decode(submission.get("signature"), "the signature", 64)
    if version == 2:
        if origin is None:
            raise FormatError("a version 2 signature is checked with the log's origin")
        msg = signing_message_v2(origin, submission["event"])
    elif version == 1:
        msg = signing_message_v1(submission["event"])
    else:
        raise FormatError(f"signature_version {version!r} is not 1 or 2")
    return key.verify(msg, sig)
