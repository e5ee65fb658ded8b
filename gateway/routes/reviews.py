from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import asyncpg
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import File

from schemas.api import ClaimRequest, ReportRequest, Review, ReviewDecisionRequest, ReviewList, ReviewStats

from .. import repo
from ..errors import NotFound
from ..lifecycle import decide_review, report
from ..pipeline import thumbnail_dir, thumbnail_ref
from .deps import AuthPrincipal, parse_id, requires, services_of, strict_body


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
        assigned_to=row["assigned_to"],
        lease_expires_at=row["lease_expires_at"],
        escalated=row["escalated"],
        thumbnails=[thumbnail_ref(row["id"], i) for i in range(row["thumbnails"])],
        prompt=row["prompt"],
        generation_status=row["generation_status"],
        cameos=list(row["cameos"]),
        reason=row["reason"],
    )


@get("/v1/reviews", summary="Review items, most urgent first (priority, then oldest)", guards=[requires("reviewer")])
async def list_reviews(
    request: Request,
    principal: AuthPrincipal,
    status: FromQuery[Literal["open", "decided"]] = "open",
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> ReviewList:
    services = services_of(request)
    async with services.db.connection() as conn:
        rows = await repo.list_reviews(conn, principal.tenant_id, status, limit)
    return ReviewList(items=[to_review(r) for r in rows])


@post(
    "/v1/reviews/claim",
    status_code=200,
    summary="Take the next item (leased: no two reviewers get the same)",
    guards=[requires("reviewer")],
)
async def claim(
    request: Request, principal: AuthPrincipal, data: JSONBody[ClaimRequest | None] = None
) -> Response[Review | None]:
    data = await strict_body(request, data)
    services = services_of(request)
    lease = (data or ClaimRequest()).lease_s
    async with services.db.transaction() as conn:
        row = await repo.claim_review(conn, principal.tenant_id, principal.actor, lease)
    if row is None:
        return Response(None, status_code=204)
    return Response(to_review(row))


@get(
    "/v1/reviews/stats",
    summary="Queue depth, age of the oldest item, decisions in the last hour",
    guards=[requires("reviewer")],
)
async def stats(request: Request, principal: AuthPrincipal) -> ReviewStats:
    services = services_of(request)
    async with services.db.connection() as conn:
        return ReviewStats(**await repo.review_stats(conn, principal.tenant_id))


@get("/v1/reviews/{review_id:str}", summary="One review item", guards=[requires("reviewer")])
async def get_review(request: Request, review_id: FromPath[str], principal: AuthPrincipal) -> Review:
    services = services_of(request)
    async with services.db.connection() as conn:
        row = await repo.get_review(conn, parse_id(review_id, "review"), principal.tenant_id)
    if row is None:
        raise NotFound(f"review {review_id} not found", code="review_not_found")
    return to_review(row)


@get(
    "/v1/reviews/{review_id:str}/frames/{index:int}",
    summary="A sampled frame (JPEG)",
    media_type="image/jpeg",
    guards=[requires("reviewer")],
)
async def frame(request: Request, review_id: FromPath[str], index: FromPath[int], principal: AuthPrincipal) -> File:
    services = services_of(request)
    async with services.db.connection() as conn:
        row = await repo.get_review(conn, parse_id(review_id, "review"), principal.tenant_id)
    if row is None or not 0 <= index < row["thumbnails"]:
        raise NotFound(f"frame {index} of review {review_id} not found", code="frame_not_found")
    path: Path = thumbnail_dir(services, row["tenant_id"], row["generation_id"]) / f"{index}.jpg"
    if not path.is_file():
        raise NotFound(f"frame {index} of review {review_id} is no longer stored", code="frame_not_found")
    return File(
        path=path,
        media_type="image/jpeg",
        content_disposition_type="inline",
        headers={"Cache-Control": "private, max-age=300"},
    )


@post(
    "/v1/reviews/{review_id:str}/decision",
    status_code=200,
    summary="approve, reject or escalate",
    guards=[requires("reviewer")],
)
async def post_decision(
    request: Request, review_id: FromPath[str], data: JSONBody[ReviewDecisionRequest], principal: AuthPrincipal
) -> dict[str, str]:
    data = await strict_body(request, data)
    status, gen_status = await decide_review(services_of(request), principal, parse_id(review_id, "review"), data)
    return {"id": review_id, "status": status, "generation_status": gen_status}


@post(
    "/v1/generations/{gen_id:str}/report",
    status_code=202,
    summary="Report a generation for human review",
    guards=[requires("platform")],
)
async def report_generation(
    request: Request, gen_id: FromPath[str], data: JSONBody[ReportRequest], principal: AuthPrincipal
) -> dict[str, str]:
    data = await strict_body(request, data)
    review_id = await report(services_of(request), principal, parse_id(gen_id, "generation"), data.reason)
    return {"review_id": str(review_id), "generation_id": gen_id}
