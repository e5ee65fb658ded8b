"""Every SQL statement of the gateway, in one place."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

GEN_COLUMNS = (
    "id, tenant_id, user_id, age_band, prompt, cameos, duration_s, resolution, fps, seed, status, "
    "decision, prompt_decision, error, attempts, lease_owner, policy_version, watermark_payload, "
    "artifact_path, artifact_sha256, artifact_bytes, created_at, updated_at, released_at, "
    "idempotency_key, request_hash, manifest"
)


# -- tenants and keys ---------------------------------------------------------------------
async def create_tenant(conn: asyncpg.Connection, name: str) -> uuid.UUID:
    row = await conn.fetchrow(
        "INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name "
        "RETURNING id",
        uuid.uuid4(),
        name,
    )
    return row["id"]


async def set_tenant_setting(conn: asyncpg.Connection, tenant_id: uuid.UUID, key: str, value: object) -> None:
    await conn.execute(
        "UPDATE tenants SET settings = settings || jsonb_build_object($2::text, $3::jsonb) WHERE id = $1",
        tenant_id,
        key,
        json.dumps(value),
    )


async def tenant_settings(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> dict[str, Any]:
    return await conn.fetchval("SELECT settings FROM tenants WHERE id = $1", tenant_id) or {}


async def create_key(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, key_hash: bytes, prefix: str, roles: list[str]
) -> uuid.UUID:
    key_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO api_keys (id, tenant_id, key_hash, prefix, roles) VALUES ($1, $2, $3, $4, $5)",
        key_id,
        tenant_id,
        key_hash,
        prefix,
        roles,
    )
    return key_id


async def principal_row(conn: asyncpg.Connection, key_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT k.id AS key_id, k.roles, t.id AS tenant_id, t.name AS tenant_name FROM api_keys k "
        "JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        key_hash,
    )


# -- generations ----------------------------------------------------------------------------
async def insert_generation(conn: asyncpg.Connection, g: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO generations (id, tenant_id, user_id, age_band, prompt, cameos, input_image, duration_s, "
        "resolution, fps, seed, status, prompt_decision, idempotency_key, request_hash, policy_version) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'queued', $12, $13, $14, $15)",
        g["id"],
        g["tenant_id"],
        g["user_id"],
        g["age_band"],
        g["prompt"],
        g["cameos"],
        g["input_image"],
        g["duration_s"],
        g["resolution"],
        g["fps"],
        g["seed"],
        g["prompt_decision"],
        g["idempotency_key"],
        g["request_hash"],
        g["policy_version"],
    )


async def generation_by_idempotency(conn: asyncpg.Connection, tenant_id: uuid.UUID, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {GEN_COLUMNS} FROM generations WHERE tenant_id = $1 AND idempotency_key = $2", tenant_id, key
    )


async def get_generation(
    conn: asyncpg.Connection, gen_id: uuid.UUID, tenant_id: uuid.UUID | None
) -> asyncpg.Record | None:
    if tenant_id is None:
        return await conn.fetchrow(f"SELECT {GEN_COLUMNS} FROM generations WHERE id = $1", gen_id)
    return await conn.fetchrow(
        f"SELECT {GEN_COLUMNS} FROM generations WHERE id = $1 AND tenant_id = $2", gen_id, tenant_id
    )


async def generation_by_payload(conn: asyncpg.Connection, payload: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {GEN_COLUMNS} FROM generations WHERE watermark_payload = $1", payload)


async def bump_daily_usage(conn: asyncpg.Connection, tenant_id: uuid.UUID, user_id: str, limit: int) -> bool:
    """Atomically count one generation for today; False when ``limit`` is already reached."""
    row = await conn.fetchrow(
        "INSERT INTO daily_usage (tenant_id, user_id, day, count) VALUES ($1, $2, current_date, 1) "
        "ON CONFLICT (tenant_id, user_id, day) DO UPDATE SET count = daily_usage.count + 1 "
        "WHERE daily_usage.count < $3 RETURNING count",
        tenant_id,
        user_id,
        limit,
    )
    return row is not None


# -- the job queue ---------------------------------------------------------------------------
async def fail_exhausted(conn: asyncpg.Connection, max_attempts: int) -> list[asyncpg.Record]:
    """Jobs whose lease expired after the last allowed attempt become failed."""
    return await conn.fetch(
        "UPDATE generations SET status = 'failed', lease_owner = NULL, updated_at = now(), finished_at = now(), "
        "error = jsonb_build_object('code', 'attempts_exhausted', 'message', "
        "'the job was interrupted ' || attempts || ' times') "
        "WHERE status = 'running' AND lease_expires_at < now() AND attempts >= $1 RETURNING id, tenant_id, attempts",
        max_attempts,
    )


async def claim_job(conn: asyncpg.Connection, owner: str, lease_s: float, max_attempts: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""
        UPDATE generations g SET status = 'running', lease_owner = $1,
               lease_expires_at = now() + make_interval(secs => $2), attempts = g.attempts + 1,
               started_at = COALESCE(g.started_at, now()), updated_at = now()
        WHERE g.id = (
            SELECT id FROM generations
            WHERE ((status = 'queued' AND (lease_expires_at IS NULL OR lease_expires_at <= now()))
                   OR (status = 'running' AND lease_expires_at < now()))
              AND attempts < $3
            ORDER BY created_at
            FOR UPDATE SKIP LOCKED
            LIMIT 1
        )
        RETURNING {GEN_COLUMNS}, input_image
        """,
        owner,
        lease_s,
        max_attempts,
    )


async def extend_lease(conn: asyncpg.Connection, gen_id: uuid.UUID, owner: str, lease_s: float) -> bool:
    res = await conn.execute(
        "UPDATE generations SET lease_expires_at = now() + make_interval(secs => $3) "
        "WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        gen_id,
        owner,
        lease_s,
    )
    return res.endswith(" 1")


async def lock_own_job(conn: asyncpg.Connection, gen_id: uuid.UUID, owner: str) -> asyncpg.Record | None:
    """Lock the row if this worker still holds it; inside the finishing transaction."""
    return await conn.fetchrow(
        "SELECT id, tenant_id, attempts FROM generations WHERE id = $1 AND lease_owner = $2 AND status = 'running' "
        "FOR UPDATE",
        gen_id,
        owner,
    )


async def set_payload(conn: asyncpg.Connection, gen_id: uuid.UUID, payload: int) -> bool:
    try:
        async with conn.transaction():
            await conn.execute("UPDATE generations SET watermark_payload = $2 WHERE id = $1", gen_id, payload)
        return True
    except asyncpg.UniqueViolationError:
        return False


async def finish_job(
    conn: asyncpg.Connection,
    gen_id: uuid.UUID,
    *,
    status: str,
    decision: dict | None,
    error: dict | None = None,
    artifact: dict | None = None,
) -> None:
    artifact = artifact or {}
    await conn.execute(
        "UPDATE generations SET status = $2, decision = $3, error = $4, artifact_path = $5, artifact_sha256 = $6, "
        "artifact_bytes = $7, manifest = $8, lease_owner = NULL, lease_expires_at = NULL, updated_at = now(), "
        "finished_at = now(), released_at = CASE WHEN $2 = 'succeeded' THEN now() ELSE NULL END WHERE id = $1",
        gen_id,
        status,
        decision,
        error,
        artifact.get("path"),
        artifact.get("sha256"),
        artifact.get("bytes"),
        artifact.get("manifest"),
    )


async def requeue_job(
    conn: asyncpg.Connection, gen_id: uuid.UUID, owner: str, error: dict, delay_s: float = 0.0
) -> bool:
    """Back to the queue after a retriable failure; a queued job's ``lease_expires_at`` is the
    time before which no worker claims it (backoff)."""
    res = await conn.execute(
        "UPDATE generations SET status = 'queued', lease_owner = NULL, error = $3, updated_at = now(), "
        "lease_expires_at = now() + make_interval(secs => $4) "
        "WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        gen_id,
        owner,
        error,
        delay_s,
    )
    return res.endswith(" 1")


async def set_status(conn: asyncpg.Connection, gen_id: uuid.UUID, status: str, *, release: bool = False) -> None:
    await conn.execute(
        "UPDATE generations SET status = $2, updated_at = now(), lease_owner = NULL, "
        "released_at = CASE WHEN $3 THEN now() ELSE released_at END WHERE id = $1",
        gen_id,
        status,
        release,
    )


async def queue_depth(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM generations WHERE status IN ('queued', 'running', 'under_review') "
        "GROUP BY status"
    )
    return {r["status"]: r["n"] for r in rows}


# -- reviews ---------------------------------------------------------------------------------
async def insert_review(conn: asyncpg.Connection, r: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO reviews (id, tenant_id, generation_id, priority, categories, reasons, deadline, thumbnails, "
        "reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        r["id"],
        r["tenant_id"],
        r["generation_id"],
        r["priority"],
        r["categories"],
        r["reasons"],
        r["deadline"],
        r.get("thumbnails", 0),
        r.get("reason", ""),
    )


REVIEW_COLUMNS = (
    "r.id, r.generation_id, r.status, r.priority, r.categories, r.reasons, r.created_at, r.deadline, r.decision, "
    "r.notes, r.reviewer, r.decided_at, r.tenant_id, r.assigned_to, r.lease_expires_at, r.escalated, r.thumbnails, "
    "r.reason, g.prompt, g.status AS generation_status, g.cameos, g.tenant_id AS gen_tenant"
)
REVIEW_FROM = "FROM reviews r JOIN generations g ON g.id = r.generation_id"
# Most urgent first (priority 0 is top), oldest first within a priority.
REVIEW_ORDER = "ORDER BY r.priority, r.created_at"


async def list_reviews(conn: asyncpg.Connection, tenant_id: uuid.UUID, status: str, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {REVIEW_COLUMNS} {REVIEW_FROM} WHERE r.tenant_id = $1 AND r.status = $2 {REVIEW_ORDER} LIMIT $3",
        tenant_id,
        status,
        limit,
    )


async def get_review(conn: asyncpg.Connection, review_id: uuid.UUID, tenant_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {REVIEW_COLUMNS} {REVIEW_FROM} WHERE r.id = $1 AND r.tenant_id = $2", review_id, tenant_id
    )


async def claim_review(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, reviewer: str, lease_s: float
) -> asyncpg.Record | None:
    """Assign the most urgent open item that nobody holds (or whose lease expired) to ``reviewer``.
    A reviewer who already holds an item gets that one back, so a reload never grabs a second."""
    held = await conn.fetchrow(
        "SELECT id FROM reviews WHERE tenant_id = $1 AND status = 'open' AND assigned_to = $2 "
        "AND lease_expires_at > now() ORDER BY priority, created_at LIMIT 1",
        tenant_id,
        reviewer,
    )
    if held is not None:
        await conn.execute(
            "UPDATE reviews SET lease_expires_at = now() + make_interval(secs => $2) WHERE id = $1", held["id"], lease_s
        )
        return await get_review(conn, held["id"], tenant_id)
    row = await conn.fetchrow(
        """
        UPDATE reviews SET assigned_to = $2, lease_expires_at = now() + make_interval(secs => $3)
        WHERE id = (
            SELECT id FROM reviews
            WHERE tenant_id = $1 AND status = 'open' AND (assigned_to IS NULL OR lease_expires_at < now())
            ORDER BY priority, created_at
            FOR UPDATE SKIP LOCKED
            LIMIT 1
        )
        RETURNING id
        """,
        tenant_id,
        reviewer,
        lease_s,
    )
    return await get_review(conn, row["id"], tenant_id) if row else None


async def lock_review(conn: asyncpg.Connection, review_id: uuid.UUID, tenant_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, generation_id, status, decision, priority, assigned_to, lease_expires_at > now() AS leased "
        "FROM reviews WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
        review_id,
        tenant_id,
    )


async def log_decision(
    conn: asyncpg.Connection,
    review_id: uuid.UUID,
    tenant_id: uuid.UUID,
    decision: str,
    reviewer: str,
    notes: str,
    source: str,
) -> None:
    await conn.execute(
        "INSERT INTO review_decisions (review_id, tenant_id, decision, reviewer, notes, source) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        review_id,
        tenant_id,
        decision,
        reviewer,
        notes,
        source,
    )


async def decide_review(
    conn: asyncpg.Connection, review_id: uuid.UUID, decision: str, notes: str, reviewer: str
) -> None:
    await conn.execute(
        "UPDATE reviews SET status = 'decided', decision = $2, notes = $3, reviewer = $4, decided_at = now(), "
        "assigned_to = NULL, lease_expires_at = NULL WHERE id = $1",
        review_id,
        decision,
        notes,
        reviewer,
    )


async def escalate_review(conn: asyncpg.Connection, review_id: uuid.UUID, notes: str, reviewer: str) -> None:
    await conn.execute(
        "UPDATE reviews SET escalated = true, priority = GREATEST(0, priority - 1), assigned_to = NULL, "
        "lease_expires_at = NULL, notes = $2, reviewer = $3 WHERE id = $1",
        review_id,
        notes,
        reviewer,
    )


async def close_open_reviews(conn: asyncpg.Connection, gen_id: uuid.UUID, reviewer: str, notes: str) -> None:
    await conn.execute(
        "UPDATE reviews SET status = 'decided', decision = 'reject', notes = $3, reviewer = $2, decided_at = now(), "
        "assigned_to = NULL, lease_expires_at = NULL WHERE generation_id = $1 AND status = 'open'",
        gen_id,
        reviewer,
        notes,
    )


async def open_review_for(conn: asyncpg.Connection, gen_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT id FROM reviews WHERE generation_id = $1 AND status = 'open'", gen_id)


async def review_stats(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE status = 'open') AS open, "
        "count(*) FILTER (WHERE status = 'open' AND assigned_to IS NOT NULL AND lease_expires_at > now()) AS assigned, "
        "COALESCE(EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE status = 'open')), 0) AS oldest "
        "FROM reviews WHERE tenant_id = $1",
        tenant_id,
    )
    per = await conn.fetch(
        "SELECT priority, count(*) AS n FROM reviews WHERE tenant_id = $1 AND status = 'open' GROUP BY priority",
        tenant_id,
    )
    hour = await conn.fetchval(
        "SELECT count(*) FROM review_decisions WHERE tenant_id = $1 AND created_at > now() - interval '1 hour'",
        tenant_id,
    )
    return {
        "open": row["open"],
        "assigned": row["assigned"],
        "oldest_open_age_s": float(row["oldest"]),
        "decisions_last_hour": hour,
        "by_priority": {str(r["priority"]): r["n"] for r in per},
    }


# -- outbox ----------------------------------------------------------------------------------
async def pending_events(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, topic, key, ce_id, ce_type, ce_source, ce_subject, ce_time, data FROM outbox "
        "WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )


async def mark_published(conn: asyncpg.Connection, ids: list[int]) -> None:
    await conn.execute("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", ids)


async def outbox_lag(conn: asyncpg.Connection) -> tuple[int, float]:
    row = await conn.fetchrow(
        "SELECT count(*) AS n, COALESCE(EXTRACT(EPOCH FROM now() - min(ce_time)), 0) AS age "
        "FROM outbox WHERE published_at IS NULL"
    )
    return int(row["n"]), float(row["age"])


# -- cameos ----------------------------------------------------------------------------------
CAMEO_COLUMNS = (
    "id, tenant_id, owner_id, owner_age_band, protected, display_name, aliases, status, audience, "
    "approved_user_ids, revoked_user_ids, restrictions, backend, quality, media_dir, created_at, updated_at"
)


def vector_literal(v: Any) -> str:
    """pgvector's text form; the pool has no vector codec, so vectors travel as text."""
    return "[" + ",".join(f"{float(x):.7g}" for x in v) + "]"


async def insert_cameo(conn: asyncpg.Connection, c: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO cameos (id, tenant_id, owner_id, owner_age_band, protected, display_name, aliases, audience, "
        "backend, quality, media_dir) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        c["id"],
        c["tenant_id"],
        c["owner_id"],
        c["owner_age_band"],
        c["protected"],
        c["display_name"],
        c["aliases"],
        c["audience"],
        c["backend"],
        c["quality"],
        c["media_dir"],
    )


async def insert_cameo_faces(
    conn: asyncpg.Connection, cameo_id: uuid.UUID, tenant_id: uuid.UUID, backend: str, rows: list[tuple[str, Any]]
) -> None:
    await conn.executemany(
        "INSERT INTO cameo_faces (cameo_id, tenant_id, backend, kind, embedding) VALUES ($1, $2, $3, $4, $5::vector)",
        [(cameo_id, tenant_id, backend, kind, vector_literal(v)) for kind, v in rows],
    )


async def get_cameo(
    conn: asyncpg.Connection, cameo_id: uuid.UUID, tenant_id: uuid.UUID, *, lock: str = ""
) -> asyncpg.Record | None:
    """``lock``: '' | 'FOR UPDATE' | 'FOR SHARE'."""
    return await conn.fetchrow(
        f"SELECT {CAMEO_COLUMNS} FROM cameos WHERE id = $1 AND tenant_id = $2 {lock}", cameo_id, tenant_id
    )


async def cameos_by_ids(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, ids: list[uuid.UUID], *, lock: str = ""
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {CAMEO_COLUMNS} FROM cameos WHERE tenant_id = $1 AND id = ANY($2::uuid[]) ORDER BY id {lock}",
        tenant_id,
        ids,
    )


async def protected_cameos(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {CAMEO_COLUMNS} FROM cameos WHERE tenant_id = $1 AND protected AND status = 'active'", tenant_id
    )


async def update_cameo_policy(
    conn: asyncpg.Connection, cameo_id: uuid.UUID, audience: str, approved: list[str], restrictions: list[str]
) -> None:
    # Approving someone again lifts an earlier per-user revocation.
    await conn.execute(
        "UPDATE cameos SET audience = $2, approved_user_ids = $3, restrictions = $4, "
        "revoked_user_ids = ARRAY(SELECT u FROM unnest(revoked_user_ids) u WHERE u <> ALL($3::text[])), "
        "updated_at = now() WHERE id = $1",
        cameo_id,
        audience,
        approved,
        restrictions,
    )


async def revoke_cameo(conn: asyncpg.Connection, cameo_id: uuid.UUID, user_id: str | None) -> None:
    if user_id is None:
        await conn.execute(
            "UPDATE cameos SET audience = 'only_me', approved_user_ids = '{}', updated_at = now() WHERE id = $1",
            cameo_id,
        )
    else:
        await conn.execute(
            "UPDATE cameos SET approved_user_ids = array_remove(approved_user_ids, $2), "
            "revoked_user_ids = CASE WHEN $2 = ANY(revoked_user_ids) THEN revoked_user_ids "
            "ELSE array_append(revoked_user_ids, $2) END, updated_at = now() WHERE id = $1",
            cameo_id,
            user_id,
        )


async def delete_cameo(conn: asyncpg.Connection, cameo_id: uuid.UUID) -> None:
    """Embeddings and appearances go with the row (ON DELETE CASCADE)."""
    await conn.execute("DELETE FROM cameos WHERE id = $1", cameo_id)


async def nearest_cameos(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, backend: str, embedding: Any, k: int = 8, *, exact: bool = False
) -> list[asyncpg.Record]:
    """The ``k`` nearest stored faces of this tenant (HNSW index; ``exact`` scans)."""
    async with conn.transaction():
        if exact:
            await conn.execute("SET LOCAL enable_indexscan = off")
        else:
            # Filtered HNSW: keep scanning until k rows of this tenant and backend are found.
            await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            await conn.execute("SET LOCAL hnsw.ef_search = 100")
        return await conn.fetch(
            "SELECT cameo_id, 1 - (embedding <=> $3::vector) AS similarity FROM cameo_faces "
            "WHERE tenant_id = $1 AND backend = $2 ORDER BY embedding <=> $3::vector LIMIT $4",
            tenant_id,
            backend,
            vector_literal(embedding),
            k,
        )


async def insert_appearances(conn: asyncpg.Connection, rows: list[dict[str, Any]]) -> None:
    await conn.executemany(
        "INSERT INTO appearances (generation_id, cameo_id, tenant_id, kind, similarity, frames) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (generation_id, cameo_id) DO UPDATE SET "
        "kind = EXCLUDED.kind, similarity = GREATEST(appearances.similarity, EXCLUDED.similarity), "
        "frames = EXCLUDED.frames",
        [
            (r["generation_id"], r["cameo_id"], r["tenant_id"], r["kind"], r.get("similarity"), r.get("frames", 0))
            for r in rows
        ],
    )


async def appearances_of(conn: asyncpg.Connection, cameo_id: uuid.UUID, limit: int = 1000) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT a.generation_id, a.kind, a.similarity, a.frames, a.created_at, g.status, g.user_id "
        "FROM appearances a JOIN generations g ON g.id = a.generation_id WHERE a.cameo_id = $1 "
        "ORDER BY a.created_at DESC LIMIT $2",
        cameo_id,
        limit,
    )


async def appearance_cameos(conn: asyncpg.Connection, gen_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT a.cameo_id, a.kind, c.owner_id FROM appearances a JOIN cameos c ON c.id = a.cameo_id "
        "WHERE a.generation_id = $1",
        gen_id,
    )


# -- users: connections and guardians --------------------------------------------------------------
async def touch_user(conn: asyncpg.Connection, tenant_id: uuid.UUID, user_id: str, age_band: str | None) -> None:
    await conn.execute(
        "INSERT INTO users (tenant_id, user_id, age_band) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, user_id) "
        "DO UPDATE SET age_band = COALESCE(EXCLUDED.age_band, users.age_band), updated_at = now()",
        tenant_id,
        user_id,
        age_band,
    )


async def get_user(conn: asyncpg.Connection, tenant_id: uuid.UUID, user_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT user_id, age_band, guardian_limit, guardian_cameos FROM users WHERE tenant_id = $1 AND user_id = $2",
        tenant_id,
        user_id,
    )


async def set_guardian(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, user_id: str, daily_limit: int | None, cameos: bool | None
) -> None:
    await conn.execute(
        "INSERT INTO users (tenant_id, user_id, age_band, guardian_limit, guardian_cameos) "
        "VALUES ($1, $2, 'teen', $3, $4) ON CONFLICT (tenant_id, user_id) DO UPDATE SET "
        "guardian_limit = EXCLUDED.guardian_limit, guardian_cameos = EXCLUDED.guardian_cameos, updated_at = now()",
        tenant_id,
        user_id,
        daily_limit,
        cameos,
    )


async def set_connections(conn: asyncpg.Connection, tenant_id: uuid.UUID, user_id: str, others: list[str]) -> None:
    await conn.execute("DELETE FROM user_connections WHERE tenant_id = $1 AND user_id = $2", tenant_id, user_id)
    await conn.executemany(
        "INSERT INTO user_connections (tenant_id, user_id, other_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        [(tenant_id, user_id, o) for o in dict.fromkeys(others)],
    )


async def connections(conn: asyncpg.Connection, tenant_id: uuid.UUID, user_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT other_id FROM user_connections WHERE tenant_id = $1 AND user_id = $2 ORDER BY other_id",
        tenant_id,
        user_id,
    )
    return [r["other_id"] for r in rows]
