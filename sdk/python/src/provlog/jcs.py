"""RFC 8785 (JCS) canonical JSON, with the PyPI package ``rfc8785``."""

from __future__ import annotations

from typing import Any

import rfc8785

from .errors import FormatError


def canonicalize(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value (dicts, lists, str, int, float, bool, None)."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as e:
        raise FormatError(f"cannot canonicalize: {e}") from None
