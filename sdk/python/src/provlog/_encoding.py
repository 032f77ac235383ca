"""Internal helpers: strict base64, SHA-256 and strict JSON."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from .errors import FormatError


def sha256(*parts: bytes) -> bytes:
    """SHA-256 of the concatenation of ``parts``."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def b64encode(data: bytes) -> str:
    """Standard padded base64."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: object, what: str, length: int | None = None) -> bytes:
    """Decodes canonical standard padded base64, optionally of an exact length.

    Raises :class:`FormatError` naming ``what`` otherwise.
    """
    if not isinstance(text, str):
        raise FormatError(f"{what} is not a base64 string")
    try:
        out = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise FormatError(f"{what} is not base64") from None
    if base64.b64encode(out).decode("ascii") != text:
        raise FormatError(f"{what} is not canonical base64")
    if length is not None and len(out) != length:
        raise FormatError(f"{what} is {len(out)} bytes, not {length}")
    return out


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise FormatError(f"repeated JSON member {k!r}")
        out[k] = v
    return out


def loads_strict(data: bytes | str) -> Any:
    """Parses JSON, refusing repeated member names."""
    try:
        return json.loads(data, object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"not JSON: {e}") from None


def uint(value: object, what: str) -> int:
    """``value`` as an unsigned integer (bools refused)."""
    if type(value) is not int or value < 0:
        raise FormatError(f"{what} is not an unsigned integer")
    return value
