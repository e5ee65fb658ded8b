"""API keys and principals. Keys are random, shown once, and stored as SHA-256 hashes
(a fast hash is right for 256-bit random secrets; there is nothing to brute-force)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from .errors import Forbidden, Unauthorized

ROLES = ("platform", "reviewer", "auditor", "admin")
KEY_PREFIX = "pgk_"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class Principal:
    tenant_id: uuid.UUID
    tenant_name: str
    key_id: uuid.UUID
    roles: frozenset[str]

    def require(self, *roles: str) -> None:
        """Pass if the key has any of ``roles`` (admin has every role)."""
        if "admin" in self.roles or self.roles.intersection(roles):
            return
        raise Forbidden(
            f"this API key lacks the role {' or '.join(roles)}",
            code="role_required",
            details={"required": list(roles), "roles": sorted(self.roles)},
        )

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"


def parse_bearer(header: str | None) -> str:
    if not header:
        raise Unauthorized(
            "missing Authorization header; send `Authorization: Bearer <api key>`", code="missing_api_key"
        )
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authorization must be `Bearer <api key>`", code="invalid_api_key")
    if not token.startswith(KEY_PREFIX) or len(token) > 200:
        raise Unauthorized("unknown or revoked API key", code="invalid_api_key")
    return token


class KeyCache:
    """Short-lived cache of hash -> principal so admission does not hit Postgres for auth."""

    def __init__(self, ttl_s: float = 30.0) -> None:
        self.ttl_s = ttl_s
        self._items: dict[bytes, tuple[float, Principal]] = {}

    def get(self, h: bytes) -> Principal | None:
        item = self._items.get(h)
        if item and item[0] > time.monotonic():
            return item[1]
        return None

    def put(self, h: bytes, p: Principal) -> None:
        if len(self._items) > 10_000:
            self._items.clear()
        self._items[h] = (time.monotonic() + self.ttl_s, p)
