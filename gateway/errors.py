"""The error tree. Every error a client can see is a ``ProvgateError``; the app turns it
into ``{"error": {code, message, details}}`` with its ``http_status`` in one handler.

    ProvgateError
    ├── BadRequest (400)          malformed body, wrong types, unknown fields
    ├── Unauthorized (401)        missing or bad API key
    ├── Forbidden (403)           role not allowed; admission refusals (prompt_blocked, ...)
    ├── NotFound (404)            unknown id, or another tenant's resource
    ├── Conflict (409)            idempotency key reused with another body; wrong state
    ├── Gone (410)                taken down
    ├── PayloadTooLarge (413)
    ├── Unprocessable (422)       well-formed but unusable (undecodable image, ...)
    ├── RateLimited (429)
    └── Unavailable (503, retriable)   a dependency is down (Postgres restarting, ...)
"""

from __future__ import annotations

from typing import Any, ClassVar


class ProvgateError(Exception):
    http_status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"
    retriable: ClassVar[bool] = False

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details or {}


class BadRequest(ProvgateError):
    http_status = 400
    default_code = "invalid_request"


class Unauthorized(ProvgateError):
    http_status = 401
    default_code = "unauthorized"


class Forbidden(ProvgateError):
    http_status = 403
    default_code = "forbidden"


class NotFound(ProvgateError):
    http_status = 404
    default_code = "not_found"


class Conflict(ProvgateError):
    http_status = 409
    default_code = "conflict"


class Gone(ProvgateError):
    http_status = 410
    default_code = "gone"


class PayloadTooLarge(ProvgateError):
    http_status = 413
    default_code = "payload_too_large"


class Unprocessable(ProvgateError):
    http_status = 422
    default_code = "unprocessable"


class RateLimited(ProvgateError):
    http_status = 429
    default_code = "rate_limited"


class Unavailable(ProvgateError):
    http_status = 503
    default_code = "unavailable"
    retriable = True


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""
