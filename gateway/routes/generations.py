from __future__ import annotations

from pathlib import Path
from typing import Annotated

import asyncpg
import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, HeaderParameter, JSONBody
from litestar.response import File

from schemas.api import (
    Accepted,
    ContentInfo,
    Decision,
    ErrorInfo,
    Generation,
    GenerationRequest,
    TakedownRequest,
)

from .. import repo
from ..admission import admit
from ..errors import Conflict, Gone, NotFound, Unavailable
from ..lifecycle import takedown
from .deps import AuthPrincipal, parse_id, requires, services_of, strict_body


def to_generation(r: asyncpg.Record, base_url: str = "") -> Generation:
    content = None
    if r["status"] == "succeeded" and r["artifact_sha256"]:
        content = ContentInfo(
            url=f"{base_url}/v1/generations/{r['id']}/content",
            sha256=r["artifact_sha256"],
            bytes=r["artifact_bytes"],
        )
    return Generation(
        id=str(r["id"]),
        status=r["status"],
        decision=msgspec.convert(r["decision"] or r["prompt_decision"], Decision)
        if (r["decision"] or r["prompt_decision"])
        else None,
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        user_id=r["user_id"],
        prompt=r["prompt"],
        cameos=list(r["cameos"]),
        duration_s=float(r["duration_s"]),
        resolution=r["resolution"],
        fps=r["fps"],
        seed=int(r["seed"]),
        attempts=r["attempts"],
        content=content,
        error=msgspec.convert(r["error"], ErrorInfo) if r["error"] and r["status"] == "failed" else None,
        released_at=r["released_at"],
    )


@post("/v1/generations", status_code=202, summary="Submit a generation", guards=[requires("platform")])
async def create_generation(
    request: Request,
    data: JSONBody[GenerationRequest],
    principal: AuthPrincipal,
    idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key", required=False)] = None,
) -> Response[Accepted]:
    data = await strict_body(request, data)
    services = services_of(request)
    admitted = await admit(services, principal, data, idempotency_key)
    return Response(
        Accepted(id=str(admitted.id), status=admitted.status),  # type: ignore[arg-type]
        status_code=202,
        headers={"Location": f"/v1/generations/{admitted.id}"},
    )


@get("/v1/generations/{gen_id:str}", summary="A generation's status and decision")
async def get_generation(request: Request, gen_id: FromPath[str], principal: AuthPrincipal) -> Generation:
    services = services_of(request)
    async with services.db.connection() as conn:
        row = await repo.get_generation(conn, parse_id(gen_id, "generation"), principal.tenant_id)
    if row is None:
        raise NotFound(f"generation {gen_id} not found", code="generation_not_found")
    return to_generation(row)


@get("/v1/generations/{gen_id:str}/content", summary="The signed MP4, once released", media_type="video/mp4")
async def get_content(request: Request, gen_id: FromPath[str], principal: AuthPrincipal) -> File:
    services = services_of(request)
    async with services.db.connection() as conn:
        row = await repo.get_generation(conn, parse_id(gen_id, "generation"), principal.tenant_id)
    if row is None:
        raise NotFound(f"generation {gen_id} not found", code="generation_not_found")
    if row["status"] == "taken_down":
        raise Gone(f"generation {gen_id} was taken down", code="taken_down")
    if row["status"] != "succeeded" or not row["artifact_path"]:
        raise Conflict(
            f"generation {gen_id} is {row['status']}; content is served only once released",
            code="not_released",
            details={"status": row["status"]},
        )
    path = Path(row["artifact_path"])
    if not path.is_file():
        raise Unavailable(
            f"the artifact of generation {gen_id} is not available on this node", code="artifact_unavailable"
        )
    return File(
        path=path,
        filename=f"{gen_id}.mp4",
        media_type="video/mp4",
        content_disposition_type="inline",
        headers={"X-Content-SHA256": row["artifact_sha256"]},
    )


@post(
    "/v1/generations/{gen_id:str}/takedown",
    status_code=200,
    summary="Take a generation down",
    guards=[requires("platform")],
)
async def takedown_generation(
    request: Request, gen_id: FromPath[str], principal: AuthPrincipal, data: JSONBody[TakedownRequest | None] = None
) -> dict[str, str]:
    data = await strict_body(request, data)
    status = await takedown(
        services_of(request),
        principal,
        parse_id(gen_id, "generation"),
        data.reason if data else "",
        cameo_owner=data.cameo_owner if data else None,
    )
    return {"id": gen_id, "status": status}
