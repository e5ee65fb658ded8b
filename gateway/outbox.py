"""The outbox: events are rows written in the same transaction as the state they describe.
The relay publishes them later (at-least-once, stable ``ce_id``)."""

from __future__ import annotations

import uuid

import asyncpg

from schemas.events import SOURCE, TOPIC_AUDIT, TOPIC_CONSENT, TOPIC_REVIEW, _Data, encode_data, event_type


async def emit(
    conn: asyncpg.Connection, data: _Data, *, subject: str, topic: str = TOPIC_AUDIT, key: str | None = None
) -> uuid.UUID:
    ce_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO outbox (topic, key, ce_id, ce_type, ce_source, ce_subject, data) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        topic,
        key or subject,
        ce_id,
        event_type(data),
        SOURCE,
        subject,
        encode_data(data),
    )
    return ce_id


async def emit_audited(conn: asyncpg.Connection, data: _Data, *, subject: str, topic: str) -> None:
    """An event for its own topic that, as every decision and state change, also goes to the audit log."""
    await emit(conn, data, subject=subject, topic=topic)
    await emit(conn, data, subject=subject, topic=TOPIC_AUDIT)


async def emit_review(conn: asyncpg.Connection, data: _Data, *, subject: str) -> None:
    await emit_audited(conn, data, subject=subject, topic=TOPIC_REVIEW)


async def emit_consent(conn: asyncpg.Connection, data: _Data, *, subject: str) -> None:
    await emit_audited(conn, data, subject=subject, topic=TOPIC_CONSENT)
