"""State changes after a job finished: reviewer decisions and takedowns."""

from __future__ import annotations

import uuid

import asyncpg
import msgspec

from schemas.api import Decision, ReviewDecisionRequest
from schemas.events import ReviewDecided

from . import repo
from .auth import Principal
from .cameos import owner_may_take_down, recheck_at_release
from .errors import Conflict, Forbidden, NotFound
from .outbox import emit_review
from .pipeline import emit_status, request_review, withdrawn
from .services import Services

TAKEDOWN_FROM = {"queued", "running", "succeeded", "blocked", "under_review"}


async def decide_review(
    services: Services,
    principal: Principal,
    review_id: uuid.UUID,
    body: ReviewDecisionRequest,
    *,
    source: str = "api",
) -> tuple[str, str]:
    """Apply a reviewer's decision. Returns (review status, generation status).

    approve releases an ``under_review`` generation; reject blocks it, or takes down one that
    was already released (a reported video); escalate keeps the item open, one priority
    higher, for a senior reviewer. The same decision twice changes nothing (idempotent, for
    at-least-once delivery from Kafka); a different one on a decided item is a conflict. An
    item leased by another reviewer cannot be decided by someone else until the lease ends.
    """
    principal.require("reviewer")
    reviewer = body.reviewer or principal.actor
    async with services.db.transaction() as conn:
        review = await repo.lock_review(conn, review_id, principal.tenant_id)
        if review is None:
            raise NotFound(f"review {review_id} not found", code="review_not_found")
        gen = await conn.fetchrow(
            "SELECT id, status, decision, user_id, age_band FROM generations WHERE id = $1 FOR UPDATE",
            review["generation_id"],
        )
        if review["status"] != "open":
            if review["decision"] == body.decision:
                return "decided", gen["status"]
            raise Conflict(
                f"review {review_id} was already decided: {review['decision']}", code="review_already_decided"
            )
        if review["leased"] and review["assigned_to"] not in (None, principal.actor, reviewer):
            raise Conflict(
                f"review {review_id} is assigned to another reviewer until its lease ends",
                code="review_assigned_elsewhere",
            )
        await repo.log_decision(conn, review_id, principal.tenant_id, body.decision, reviewer, body.notes, source)
        await emit_review(
            conn,
            ReviewDecided(
                review_id=str(review_id),
                generation_id=str(gen["id"]),
                tenant_id=str(principal.tenant_id),
                decision=body.decision,
                reviewer=reviewer,
                notes=body.notes,
            ),
            subject=str(gen["id"]),
        )
        if body.decision == "escalate":
            await repo.escalate_review(conn, review_id, body.notes, reviewer)
            return "open", gen["status"]
        await repo.decide_review(conn, review_id, body.decision, body.notes, reviewer)
        base = msgspec.convert(gen["decision"], Decision) if gen["decision"] else None
        if gen["status"] == "under_review":
            new_status = "succeeded" if body.decision == "approve" else "blocked"
            if new_status == "succeeded":
                grant = await recheck_at_release(conn, principal.tenant_id, gen["id"], gen["user_id"], gen["age_band"])
                if not grant.granted:
                    new_status = "blocked"
                    base = withdrawn(base, grant.reason, services)
        elif gen["status"] == "succeeded" and body.decision == "reject":
            new_status = "taken_down"  # a released video that a reviewer rejects comes down
        else:
            return "decided", gen["status"]
        decision = Decision(
            outcome="allow" if new_status == "succeeded" else "block",
            reasons=[*(base.reasons if base else []), f"review: {body.decision} by {reviewer}"],
            categories=base.categories if base else {},
            policy_version=base.policy_version if base else "",
            stage="review",
        )
        await conn.execute(
            "UPDATE generations SET decision = $2 WHERE id = $1", gen["id"], msgspec.to_builtins(decision)
        )
        await repo.set_status(conn, gen["id"], new_status, release=new_status == "succeeded")
        await emit_status(conn, gen["id"], principal.tenant_id, new_status, decision, requested_by=reviewer)
    return "decided", new_status


async def _lock_generation(conn: asyncpg.Connection, gen_id: uuid.UUID, principal: Principal) -> asyncpg.Record:
    """This tenant's generation, locked for the state change; another tenant's is a 404."""
    gen = await conn.fetchrow(
        "SELECT id, status, decision FROM generations WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
        gen_id,
        principal.tenant_id,
    )
    if gen is None:
        raise NotFound(f"generation {gen_id} not found", code="generation_not_found")
    return gen


async def report(services: Services, principal: Principal, gen_id: uuid.UUID, reason: str) -> uuid.UUID:
    """A platform reports a generation (usually a released one) for human review."""
    principal.require("platform")
    async with services.db.transaction() as conn:
        gen = await _lock_generation(conn, gen_id, principal)
        if gen["status"] not in ("succeeded", "under_review"):
            raise Conflict(
                f"generation {gen_id} is {gen['status']}; only released or pending items can be reported",
                code="invalid_state",
                details={"status": gen["status"]},
            )
        existing = await repo.open_review_for(conn, gen_id)
        if existing is not None:
            return existing["id"]  # type: ignore[no-any-return]
        base = msgspec.convert(gen["decision"], Decision) if gen["decision"] else None
        decision = Decision(
            outcome="review",
            reasons=[f"reported by {principal.actor}: {reason}"],
            categories=base.categories if base else {},
            policy_version=base.policy_version if base else "",
            stage="report",
        )
        return await request_review(conn, gen_id, principal.tenant_id, decision, reason=reason)


async def takedown(
    services: Services, principal: Principal, gen_id: uuid.UUID, reason: str, cameo_owner: str | None = None
) -> str:
    """By the platform or an admin; or for a cameo owner (``cameo_owner``), only a generation
    their face appears in (requested, matched or blocked for them)."""
    principal.require("platform")
    async with services.db.transaction() as conn:
        gen = await _lock_generation(conn, gen_id, principal)
        requested_by = principal.actor
        if cameo_owner is not None:
            if not await owner_may_take_down(conn, gen_id, cameo_owner):
                raise Forbidden(
                    f"user {cameo_owner!r} owns no cameo that appears in generation {gen_id}",
                    code="not_an_appearance",
                    details={"cameo_owner": cameo_owner},
                )
            requested_by = f"cameo-owner:{cameo_owner}"
        if gen["status"] == "taken_down":
            return "taken_down"
        if gen["status"] not in TAKEDOWN_FROM:
            raise Conflict(
                f"generation {gen_id} is {gen['status']} and cannot be taken down",
                code="invalid_state",
                details={"status": gen["status"]},
            )
        await repo.set_status(conn, gen_id, "taken_down")
        await repo.close_open_reviews(conn, gen_id, requested_by, f"taken down: {reason}")
        decision = msgspec.convert(gen["decision"], Decision) if gen["decision"] else None
        await emit_status(conn, gen_id, principal.tenant_id, "taken_down", decision, requested_by=requested_by)
    return "taken_down"
