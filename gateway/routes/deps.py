"""Dependencies shared by the route handlers: the services and the authenticated principal."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar, cast

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from .. import repo
from ..auth import Principal, hash_key, parse_bearer
from ..errors import NotFound, Unauthorized
from ..services import Services


def services_of(connection: ASGIConnection) -> Services:
    return connection.app.state.services  # type: ignore[no-any-return]


_PRINCIPAL = "provgate.principal"  # where the request's principal is kept once authenticated


async def authenticate(connection: ASGIConnection) -> Principal:
    """The caller's principal, from its API key (401 without a valid one). Looked up once per
    request: the guards below run it before the body is read, the ``principal`` dependency
    reuses it."""
    scope = cast("dict[str, Any]", connection.scope)
    if _PRINCIPAL in scope:
        return scope[_PRINCIPAL]  # type: ignore[no-any-return]
    services = services_of(connection)
    token = parse_bearer(connection.headers.get("authorization"))
    h = hash_key(token)
    p = services.keys.get(h)
    if p is None:
        async with services.db.connection() as conn:
            row = await repo.principal_row(conn, h)
        if row is None:
            raise Unauthorized("unknown or revoked API key", code="invalid_api_key")
        p = Principal(
            tenant_id=row["tenant_id"],
            tenant_name=row["tenant_name"],
            key_id=row["key_id"],
            roles=frozenset(row["roles"]),
        )
        services.keys.put(h, p)
    scope[_PRINCIPAL] = p
    return p


async def principal(request: Request) -> Principal:
    """The ``principal`` dependency of every authenticated handler."""
    return await authenticate(request)


async def authenticated(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """App-wide guard: a handler that takes a ``principal`` needs a valid API key, checked before
    Litestar reads the body, so a caller without one gets 401 whatever it sent."""
    if "principal" in handler.parsed_fn_signature.parameters:
        await authenticate(connection)


def requires(*roles: str) -> Guard:
    """Route guard: the key must have one of ``roles`` (403 ``role_required``), checked before the
    body is read or validated, so a key without the role learns nothing about the body's format.
    The services keep their own checks as a second line (review decisions also arrive from
    Kafka, with no route in front)."""

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        (await authenticate(connection)).require(*roles)

    guard.__qualname__ = f"requires({', '.join(roles)})"
    return guard


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
