from __future__ import annotations

import asyncio
import contextlib
import importlib.resources

from litestar import Request, Response, get, post
from litestar.params import JSONBody

from schemas.api import Health, ModerationRequest, ModerationResponse, VerifyReport

from .. import repo
from ..admission import prompt_scores
from ..errors import PayloadTooLarge, Unprocessable
from ..verification import MAX_VERIFY_BYTES, verify
from .deps import AuthPrincipal, authenticate, services_of, strict_body


@post("/v1/moderations", status_code=200, summary="Run the prompt classifiers on a text")
async def moderate(request: Request, data: JSONBody[ModerationRequest], principal: AuthPrincipal) -> ModerationResponse:
    data = await strict_body(request, data)
    services = services_of(request)
    age_band = data.user.age_band if data.user else "adult"
    scores = await services.run_blocking(prompt_scores, services, data.input)
    decision = services.policy.decide(scores, age_band, stage="moderation")
    flags = services.policy.flagged(scores, age_band)
    return ModerationResponse(
        flagged=decision.outcome != "allow", categories=flags, category_scores=decision.categories, decision=decision
    )


@post(
    "/v1/verify",
    status_code=200,
    summary="Verify a file's C2PA manifest, watermark and record",
    request_max_body_size=MAX_VERIFY_BYTES,
)
async def verify_file(request: Request) -> VerifyReport:
    """Public by design: content credentials are meant to be checked by anyone. A key, if
    sent, must be valid; the report's record holds no personal data."""
    services = services_of(request)
    if request.headers.get("authorization"):
        await authenticate(request)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Unprocessable(
                "the multipart body needs one file part named `file`", code="missing_file", details={"field": "file"}
            )
        data = await upload.read()
    else:
        data = await request.body()
    if len(data) > MAX_VERIFY_BYTES:
        raise PayloadTooLarge(f"file is larger than {MAX_VERIFY_BYTES} bytes")
    return await verify(services, data)


def _page(name: str) -> Response[str]:
    html = importlib.resources.files("gateway").joinpath(f"static/{name}").read_text("utf-8")
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@get("/console", summary="Review console (reviewer API key)", include_in_schema=False)
async def console_page() -> Response[str]:
    return _page("console.html")


@get("/verify", summary="Verify page (public)", include_in_schema=False)
async def verify_page() -> Response[str]:
    return _page("verify.html")


@get("/healthz", summary="Liveness")
async def healthz() -> Health:
    return Health(status="ok")


async def _broker_reachable(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip(" []") or "127.0.0.1", int(port)), 2)
    except (TimeoutError, OSError, ValueError):
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


@get("/readyz", summary="Readiness: database and broker reachable")
async def readyz(request: Request) -> Response[Health]:
    services = services_of(request)
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(services.db.fetchval("SELECT 1"), 3)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["database"] = f"unavailable: {type(exc).__name__}"
    checks["broker"] = "ok" if await _broker_reachable(services.settings.kafka.bootstrap) else "unavailable"
    try:
        services.signer.check()
        checks["signing"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["signing"] = f"unavailable: {exc}"
    ok = all(v == "ok" for v in checks.values())
    return Response(Health(status="ok" if ok else "unavailable", checks=checks), status_code=200 if ok else 503)


@get("/metrics", summary="Prometheus metrics", media_type="text/plain; version=0.0.4")
async def metrics(request: Request) -> Response[bytes]:
    services = services_of(request)
    m = services.metrics
    with contextlib.suppress(Exception):
        async with services.db.connection() as conn:
            depth = await repo.queue_depth(conn)
            pending, lag = await repo.outbox_lag(conn)
        for status in ("queued", "running", "under_review"):
            m.queue_depth.labels(status).set(depth.get(status, 0))
        m.outbox_pending.set(pending)
        m.outbox_lag.set(lag)
    return Response(m.render(), media_type="text/plain; version=0.0.4")
