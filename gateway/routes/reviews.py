from __future__ import annotations

from typing import Annotated, Literal

import asyncpg
from litestar import Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from schemas.api import Review, ReviewDecisionRequest, ReviewList

from .. import repo
from ..lifecycle import decide_review
from .deps import AuthPrincipal, parse_id, services_of


def to_review(row: asyncpg.Record) -> Review:
    return Review(
        id=str(row["id"]),
        generation_id=str(row["generation_id"]),
        status=row["status"],
        priority=row["priority"],
        categories=row["categories"],
        reasons=row["reasons"],
        created_at=row["created_at"],
        deadline=row["deadline"],
        decision=row["decision"],
        notes=row["notes"],
        reviewer=row["reviewer"],
        decided_at=row["decided_at"],
    )


@get("/v1/reviews", summary="Review items, most urgent first")
async def list_reviews(
    request: Request,
    principal: AuthPrincipal,
    status: FromQuery[Literal["open", "decided"]] = "open",
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
) -> ReviewList:
    principal.require("reviewer")
    services = services_of(request)
    async with services.db.connection() as conn:
        rows = await repo.list_reviews(conn, principal.tenant_id, status, limit)
    return ReviewList(items=[to_review(r) for r in rows])


@post("/v1/reviews/{review_id:str}/decision", status_code=200, summary="Approve or reject a review item")
async def post_decision(
    request: Request, review_id: FromPath[str], data: JSONBody[ReviewDecisionRequest], principal: AuthPrincipal
) -> dict[str, str]:
    status, gen_status = await decide_review(services_of(request), principal, parse_id(review_id, "review"), data)
    return {"id": review_id, "status": status, "generation_status": gen_status}
