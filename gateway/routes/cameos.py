from __future__ import annotations

from litestar import Request, Response, delete, get, post, put
from litestar.params import FromPath, JSONBody

from schemas.api import (
    AppearanceList,
    Cameo,
    CameoPolicyRequest,
    ConnectionsRequest,
    GuardianRequest,
    RevokeRequest,
    UserSettings,
)

from .. import cameos, repo
from ..errors import BadRequest
from .deps import AuthPrincipal, parse_id, requires, services_of, strict_body

ENROLL_MAX_BODY = cameos.MAX_ENROLL_VIDEO_BYTES + cameos.MAX_ENROLL_IMAGES * cameos.MAX_IMAGE_BYTES // 2


@post(
    "/v1/cameos",
    status_code=201,
    summary="Enroll a cameo (multipart)",
    request_max_body_size=ENROLL_MAX_BODY,
    guards=[requires("platform")],
)
async def enroll_cameo(request: Request, principal: AuthPrincipal) -> Response[Cameo]:
    """multipart/form-data: ``owner_id``, ``owner_age_band``, one or more ``images`` file parts
    or one ``video`` part; an admin may add ``protected=true``, ``display_name`` and
    ``aliases`` (comma-separated) for a public figure."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest("enrollment is a multipart/form-data body", code="multipart_required")
    services = services_of(request)
    form = await cameos.parse_enroll_form(await request.form())
    cameo = await cameos.create_cameo(services, principal, form)
    return Response(cameo, status_code=201, headers={"Location": f"/v1/cameos/{cameo.id}"})


@get("/v1/cameos/{cameo_id:str}", summary="A cameo (no biometric data)", guards=[requires("platform")])
async def get_cameo(request: Request, cameo_id: FromPath[str], principal: AuthPrincipal) -> Cameo:
    async with services_of(request).db.connection() as conn:
        row = await cameos.cameo_or_404(conn, principal, parse_id(cameo_id, "cameo"))
    return cameos.to_cameo(row)


@delete(
    "/v1/cameos/{cameo_id:str}",
    status_code=204,
    summary="Delete a cameo: embeddings and media are erased",
    guards=[requires("platform")],
)
async def delete_cameo(request: Request, cameo_id: FromPath[str], principal: AuthPrincipal) -> None:
    await cameos.delete_cameo(services_of(request), principal, parse_id(cameo_id, "cameo"))


@put(
    "/v1/cameos/{cameo_id:str}/policy",
    summary="Who may use this cameo, and the owner's restrictions",
    guards=[requires("platform")],
)
async def put_policy(
    request: Request, cameo_id: FromPath[str], data: JSONBody[CameoPolicyRequest], principal: AuthPrincipal
) -> Cameo:
    data = await strict_body(request, data)
    return await cameos.set_policy(services_of(request), principal, parse_id(cameo_id, "cameo"), data)


@post(
    "/v1/cameos/{cameo_id:str}/revoke",
    status_code=200,
    summary="Withdraw one user's grant or all grants",
    guards=[requires("platform")],
)
async def revoke_cameo(
    request: Request, cameo_id: FromPath[str], data: JSONBody[RevokeRequest], principal: AuthPrincipal
) -> Cameo:
    data = await strict_body(request, data)
    return await cameos.revoke(services_of(request), principal, parse_id(cameo_id, "cameo"), data)


@get(
    "/v1/cameos/{cameo_id:str}/appearances",
    summary="Every generation this cameo's face was found in",
    guards=[requires("platform")],
)
async def get_appearances(request: Request, cameo_id: FromPath[str], principal: AuthPrincipal) -> AppearanceList:
    return await cameos.appearances(services_of(request), principal, parse_id(cameo_id, "cameo"))


def _user_id(user_id: str) -> str:
    if not cameos.ID_RE.match(user_id):
        raise BadRequest("the user id must be 1..128 characters of letters, digits and _.:@-", code="invalid_user_id")
    return user_id


@put(
    "/v1/users/{user_id:str}/connections",
    summary="A user's mutual connections, as the platform knows them",
    guards=[requires("platform")],
)
async def put_connections(
    request: Request, user_id: FromPath[str], data: JSONBody[ConnectionsRequest], principal: AuthPrincipal
) -> UserSettings:
    data = await strict_body(request, data)
    uid = _user_id(user_id)
    async with services_of(request).db.transaction() as conn:
        await repo.touch_user(conn, principal.tenant_id, uid, None)
        await repo.set_connections(conn, principal.tenant_id, uid, list(data.connections))
        conns = await repo.connections(conn, principal.tenant_id, uid)
    return UserSettings(user_id=uid, connections=conns)


@put("/v1/users/{user_id:str}/guardian", summary="A guardian's settings for a teen", guards=[requires("platform")])
async def put_guardian(
    request: Request, user_id: FromPath[str], data: JSONBody[GuardianRequest], principal: AuthPrincipal
) -> UserSettings:
    data = await strict_body(request, data)
    uid = _user_id(user_id)
    async with services_of(request).db.transaction() as conn:
        user = await repo.get_user(conn, principal.tenant_id, uid)
        if user is not None and user["age_band"] == "adult":
            raise BadRequest(f"user {uid!r} is an adult; guardian settings apply to teens", code="not_a_teen")
        await repo.set_guardian(conn, principal.tenant_id, uid, data.daily_limit, data.cameos_allowed)
        conns = await repo.connections(conn, principal.tenant_id, uid)
    return UserSettings(user_id=uid, connections=conns, guardian=data)
