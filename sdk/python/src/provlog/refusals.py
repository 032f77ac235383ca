"""Signed refusals (docs/REFUSALS.md): the log's signed statement that it refused a submission."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._encoding import b64decode, b64encode, sha256
from .errors import FormatError, VerificationError
from .jcs import canonicalize
from .keys import VerifierKey, as_verifier

REFUSAL_CONTEXT = b"provlog/refusal/v1\n"
"""Prefix of a refusal signature."""
_MEMBERS = {"v", "origin", "kind", "submission", "submitter", "event_id", "code", "message",
            "policy_index", "refused_at", "tree_size"}
_REQUIRED = _MEMBERS - {"event_id"}


def submission_digest(submission: Mapping[str, Any]) -> str:
    """Base64 SHA-256 of ``JCS(submission)``: what a refusal names."""
    return b64encode(sha256(canonicalize(dict(submission))))


@dataclass(frozen=True)
class VerifiedRefusal:
    """A verified signed refusal."""

    code: str
    """The error code (``out_of_scope``, ``approvals_required``, ``chain_gap``, …)."""
    message: str
    """The error message."""
    refusal: dict[str, Any]
    """The whole refusal object (``origin``, ``submission``, ``policy_index``, ``refused_at``, …)."""


def verify_refusal(
    signed: Mapping[str, Any],
    log_key: VerifierKey | str,
    submission: Mapping[str, Any] | None = None,
) -> VerifiedRefusal:
    """Verifies a signed refusal ``{"refusal": {...}, "signature": "..."}`` (or a whole error body).

    Its ``origin`` must be the log key's name and the signature must verify
    over ``"provlog/refusal/v1\\n" || JCS(refusal)``; with ``submission``,
    the refusal must be about it (its canonical digest).
    """
    key = as_verifier(log_key)
    s: Any = signed
    if isinstance(s, Mapping) and isinstance(s.get("error"), Mapping):
        s = s["error"].get("refusal")
    if not isinstance(s, Mapping) or set(s) != {"refusal", "signature"}:
        raise VerificationError("not a signed refusal")
    r = s["refusal"]
    if not isinstance(r, Mapping) or not set(r) <= _MEMBERS or not set(r) >= _REQUIRED:
        raise VerificationError("the refusal does not have exactly its members")
    if r["v"] != 1:
        raise VerificationError("not a version 1 refusal")
    if r["origin"] != key.name:
        raise VerificationError(f"the refusal is by origin {r['origin']!r}, not {key.name!r}")
    try:
        sig = b64decode(s["signature"], "the refusal signature", 64)
    except FormatError as e:
        raise VerificationError(str(e)) from None
    if not key.verify(REFUSAL_CONTEXT + canonicalize(dict(r)), sig):
        raise VerificationError("the refusal signature does not verify under the log key")
    if submission is not None and submission_digest(submission) != r["submission"]:
        raise VerificationError("the refusal is about another submission")
    return VerifiedRefusal(str(r["code"]), str(r["message"]), dict(r))
