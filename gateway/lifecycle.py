"""State changes after a job finished: reviewer decisions and takedowns."""

from __future__ import annotations

import uuid

import msgspec

from schemas.api import Decision, ReviewDecisionRequest
from schemas.events import ReviewDecided

from . import repo
from .auth import Principal
from .errors import Conflict, NotFound
from .outbox import emit_review
from .pipeline import emit_status
from .services import Services

TAKEDOWN_FROM = {"queued", "running", "succeeded", "blocked", "under_review"}


async def decide_review(
    services: Services, principal: Principal, review_id: uuid.UUID, body: ReviewDecisionRequest
) -> tuple[str, str]:
    """Approve releases the generation, reject blocks it. Returns (review status, generation status)."""
    principal.require("reviewer")
    async with services.db.transaction() as conn:
        review = await repo.lock_review(conn, review_id, principal.tenant_id)
        if review is None:
            raise NotFound(f"review {review_id} not found", code="review_not_found")
        if review["status"] != "open":
            if review["decision"] == body.decision:
                gen = await repo.get_generation(conn, review["generation_id"], principal.tenant_id)
                return "decided", gen["status"] if gen else "unknown"
            raise Conflict(
                f"review {review_id} was already decided: {review['decision']}", code="review_already_decided"
            )
        gen = await conn.fetchrow(
            "SELECT id, status, decision FROM generations WHERE id = $1 FOR UPDATE", review["generation_id"]
        )
        await repo.decide_review(conn, review_id, body.decision, body.notes, principal.actor)
        await emit_review(
            conn,
            ReviewDecided(
                review_id=str(review_id),
                generation_id=str(gen["id"]),
                tenant_id=str(principal.tenant_id),
                decision=body.decision,
                reviewer=principal.actor,
                notes=body.notes,
            ),
            subject=str(gen["id"]),
        )
        if gen["status"] != "under_review":
            return "decided", gen["status"]
        base = msgspec.convert(gen["decision"], Decision) if gen["decision"] else None
        new_status = "succeeded" if body.decision == "approve" else "blocked"
        decision = Decision(
            outcome="allow" if body.decision == "approve" else "block",
            reasons=[*(base.reasons if base else []), f"review: {body.decision} by {principal.actor}"],
            categories=base.categories if base else {},
            policy_version=base.policy_version if base else "",
            stage="review",
        )
        await conn.execute(
            "UPDATE generations SET decision = $2 WHERE id = $1", gen["id"], msgspec.to_builtins(decision)
        )
        await repo.set_status(conn, gen["id"], new_status, release=new_status == "succeeded")
        await emit_status(conn, gen["id"], principal.tenant_id, new_status, decision, requested_by=principal.actor)
    return "decided", new_status


async def takedown(services: Services, principal: Principal, gen_id: uuid.UUID, reason: str) -> str:
    principal.require("platform")
    async with services.db.transaction() as conn:
        gen = await conn.fetchrow(
            "SELECT id, status, decision FROM generations WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
            gen_id,
            principal.tenant_id,
        )
        if gen is None:
            raise NotFound(f"generation {gen_id} not found", code="generation_not_found")
        if gen["status"] == "taken_down":
            return "taken_down"
        if gen["status"] not in TAKEDOWN_FROM:
            raise Conflict(
                f"generation {gen_id} is {gen['status']} and cannot be taken down",
                code="invalid_state",
                details={"status": gen["status"]},
            )
        await repo.set_status(conn, gen_id, "taken_down")
        await repo.close_open_reviews(conn, gen_id, principal.actor, f"taken down: {reason}")
        decision = msgspec.convert(gen["decision"], Decision) if gen["decision"] else None
        await emit_status(conn, gen_id, principal.tenant_id, "taken_down", decision, requested_by=principal.actor)
    return "taken_down"
