"""The exceptions of the SDK.

Every exception the package raises on purpose is a :class:`ProvlogError`:

* :class:`APIError` and its subclasses: the server answered with an error
  (``status``, ``code``, ``message`` and, for refusals of authority, the
  signed ``refusal``);
* :class:`TransportError`: no answer at all (connection refused, timeout)
  after every retry;
* :class:`VerificationError`: something the server (or a file) gave does not
  verify: a receipt, checkpoint, proof, answer or refusal;
* :class:`FormatError`: malformed input (a key string, base64, JSON).
"""

from __future__ import annotations

from typing import Any


class ProvlogError(Exception):
    """Base class of every error of the SDK.

    Attributes:
        status: the HTTP status, or ``None`` when there was no answer.
        code: a machine-readable code (the server's error code, or one of
            the SDK's own such as ``verification_failed``).
        message: a human-readable message.
        refusal: the log's signed refusal (``{"refusal": {...},
            "signature": "..."}``) when the server returned one.
        body: the whole decoded error body, when there was one.

    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "error",
        refusal: dict[str, Any] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.refusal = refusal
        self.body = body

    def __str__(self) -> str:
        if self.status is not None:
            return f"{self.status} {self.code}: {self.message}"
        return self.message


class FormatError(ProvlogError, ValueError):
    """Malformed input: a key string, base64, JSON, a note or a proof."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="format")


class VerificationError(ProvlogError):
    """A receipt, checkpoint, proof, answer or refusal does not verify."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="verification_failed")


class TransportError(ProvlogError):
    """No answer from the server (connection error or timeout), after retries."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="transport")


class APIError(ProvlogError):
    """The server answered with an error status (``{"error": {"code", "message"}}``)."""


class BadRequestError(APIError):
    """400 (and 413, 408): the request is malformed or too large."""


class AuthenticationError(APIError):
    """401: unknown submitter or a signature that does not verify."""


class ForbiddenError(APIError):
    """403: out of the submitter's authority (usually with a signed ``refusal``)."""


class NotFoundError(APIError):
    """404 (and 410): no such resource."""


class ConflictError(APIError):
    """409: ``event_id_conflict`` or a chain refusal (``expected`` in :attr:`body`)."""

    @property
    def expected(self) -> dict[str, Any] | None:
        """The ``expected`` link ``{"seq", "prev"}`` of a chain refusal, if any."""
        if isinstance(self.body, dict):
            err = self.body.get("error")
            if isinstance(err, dict) and isinstance(err.get("expected"), dict):
                expected: dict[str, Any] = err["expected"]
                return expected
        return None


class RateLimitedError(APIError):
    """429: over the submitter's rate limit (still so after the retries)."""


class UnavailableError(APIError):
    """503: overloaded or unable to append (still so after the retries)."""


def api_error(status: int, body: Any) -> APIError:
    """The :class:`APIError` subclass for an error answer."""
    code, message, refusal = "http_error", f"HTTP {status}", None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = str(err.get("code", code))
        message = str(err.get("message", message))
        if isinstance(err.get("refusal"), dict):
            refusal = err["refusal"]
    cls: type[APIError]
    if status in (400, 408, 413):
        cls = BadRequestError
    elif status == 401:
        cls = AuthenticationError
    elif status == 403:
        cls = ForbiddenError
    elif status in (404, 410):
        cls = NotFoundError
    elif status == 409:
        cls = ConflictError
    elif status == 429:
        cls = RateLimitedError
    elif status == 503:
        cls = UnavailableError
    else:
        cls = APIError
    return cls(message, status=status, code=code, refusal=refusal, body=body)
