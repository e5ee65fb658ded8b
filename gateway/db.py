"""Postgres access: one asyncpg pool, numbered migrations applied at start-up, and the
translation of connection failures into :class:`~gateway.errors.Unavailable` (503).

A Postgres restart breaks the pooled connections; asyncpg drops a broken connection when
it is released and opens a fresh one on the next acquire, so the service recovers without
a restart of its own. Callers see 503 (retriable) while the database is away.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from .errors import ConfigError, Unavailable

log = logging.getLogger("provgate.db")

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    ConnectionError,
    OSError,
    TimeoutError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def _where(url: str) -> str:
    """host:port/database of a postgresql:// URL, without the user or the password."""
    u = urlsplit(url)
    return f"{u.hostname or 'localhost'}:{u.port or 5432}{u.path or ''}"


class Database:
    """Owns the pool. ``start``/``stop`` are idempotent; no I/O in ``__init__``."""

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=self.min_size,
                max_size=self.max_size,
                init=_init_connection,
                command_timeout=30,
                max_inactive_connection_lifetime=60,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # At start (a running service rides out a restart): one line naming the server and
            # the variable, not a traceback. The password stays out of it.
            raise ConfigError(
                f"cannot connect to Postgres at {_where(self.url)} (PROVGATE_DATABASE_URL): {exc or type(exc).__name__}"
            ) from None
        await self.migrate()

    async def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> Database:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise Unavailable("database not started", code="database_unavailable")
        return self._pool

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        try:
            async with self.pool.acquire(timeout=10) as conn:
                yield conn
        except CONNECTION_ERRORS as exc:
            raise Unavailable(f"database unavailable: {type(exc).__name__}", code="database_unavailable") from exc

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self.connection() as conn:
            return await conn.fetchval(sql, *args)

    async def migrate(self) -> None:
        files = sorted(
            (
                f
                for f in importlib.resources.files("gateway").joinpath("migrations").iterdir()
                if f.name.endswith(".sql")
            ),
            key=lambda f: f.name,
        )
        async with self.pool.acquire() as conn:
            # One migrator at a time across processes.
            await conn.execute("SELECT pg_advisory_lock(724301)")
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                    "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
                for f in files:
                    m = re.match(r"(\d+)_", f.name)
                    if not m or int(m.group(1)) in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(f.read_text("utf-8"))
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", int(m.group(1)), f.name
                        )
                    log.info("applied migration %s", f.name)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(724301)")
