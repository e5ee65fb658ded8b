"""Dependencies shared by the route handlers: the services and the authenticated principal."""

from __future__ import annotations

import uuid
from typing import TypeVar

import msgspec
from litestar import Request
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException

from .. import repo
from ..auth import Principal, hash_key, parse_bearer
from ..errors import NotFound, Unauthorized
from ..services import Services


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def authenticate(request: Request) -> Principal:
    services = services_of(request)
    token = parse_bearer(request.headers.get("authorization"))
    h = hash_key(token)
    cached = services.keys.get(h)
    if cached is not None:
        return cached
    async with services.db.connection() as conn:
        row = await repo.principal_row(conn, h)
    if row is None:
        raise Unauthorized("unknown or revoked API key", code="invalid_api_key")
    p = Principal(
        tenant_id=row["tenant_id"], tenant_name=row["tenant_name"], key_id=row["key_id"], roles=frozenset(row["roles"])
    )
    services.keys.put(h, p)
    return p


def parse_id(value: str, what: str) -> uuid.UUID:
    """Ids are UUIDs; anything else is simply not found (no hint about the format)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{what} {value!r} not found", code=f"{what}_not_found") from None


AuthPrincipal = NamedDependency[Principal]

T = TypeVar("T")


async def strict_body(request: Request, data: T) -> T:
    """The body again, decoded with msgspec's strict rules.

    Litestar converts a handler's arguments in msgspec's lax mode, because query strings and
    path segments are text: in a JSON body that lets ``"4"`` pass for ``4`` and ``"true"`` or
    ``"1"`` for ``true``, so ``"input_image_consent": "1"`` would have counted as consent. A JSON
    body has types; one of the wrong type is a 400 naming the field, like any other invalid field.
    ``data`` is what Litestar decoded (its own errors, in its words, came first); the strict
    decode of the same bytes replaces it. Bodies are small: this costs microseconds."""
    if data is None:
        return data
    try:
        return msgspec.json.decode(await request.body(), type=type(data))
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$")
        key = where.rstrip("`").lstrip(".") or None
        raise ValidationException(extra=[{"message": message, "key": key, "source": "body"}]) from None
