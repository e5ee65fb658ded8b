"""The one app factory: routes, dependencies, error handlers, metrics, lifespan."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, Request, Response
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException, SerializationException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.types import ASGIApp, Receive, Scope, Send

from schemas.api import NO_NUL, ErrorBody, ErrorResponse

from . import __version__
from .decisions import DecisionConsumer
from .errors import ProvgateError
from .relay import Relay
from .routes import cameos, generations, misc, reviews
from .routes.deps import authenticated, principal
from .services import Services
from .settings import Settings
from .worker import Worker

log = logging.getLogger("provgate.app")

HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    503: "unavailable",
}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> Response[ErrorResponse]:
    return Response(
        ErrorResponse(error=ErrorBody(code=code, message=message, details=details or {})),
        status_code=status,
        headers=headers,
    )


def _provgate_error(_: Request, exc: ProvgateError) -> Response[ErrorResponse]:
    headers = {"Retry-After": "1"} if exc.http_status in (429, 503) else None
    return error_response(exc.http_status, exc.code, exc.message, exc.details, headers)


_AT = re.compile(r"at `\$\.?([^`]*)`")
_UNKNOWN = re.compile(r"unknown field `([^`]*)`")
_NUL_RULE = f"matching regex {NO_NUL!r}"  # msgspec's words for the rule (``schemas.api.NO_NUL``)


def _validation_error(request: Request, exc: ValidationException) -> Response[ErrorResponse]:
    """msgspec/litestar validation → 400 naming the field (``$.duration_s``)."""
    extra = exc.extra if isinstance(exc.extra, list) else ([exc.extra] if exc.extra else [])
    problems: list[dict[str, Any]] = []
    for item in extra:
        if isinstance(item, dict):
            msg = str(item.get("message", "")).replace(_NUL_RULE, "without NUL (U+0000) characters")
            key = item.get("key") or (m.group(1) if (m := _AT.search(msg)) else None)
            if (u := _UNKNOWN.search(msg)) is not None:
                key = u.group(1) if key in (None, "data") else f"{key}.{u.group(1)}"
            if msg == "'data'" and key == "data":  # litestar's words for a body that is not there
                msg, key = "the request body is empty: send a JSON object", None
            elif key == "data" and msg.startswith("Expected `object`, got "):  # "data" is our parameter's name
                msg, key = f"the request body must be a JSON object, not {msg.rsplit('`', 2)[-2]}", None
            problems.append({"field": key, "message": msg, "source": item.get("source")})
        else:
            problems.append({"message": str(item)})
    if problems:
        first = problems[0]
        where = f" at `{first['field']}`" if first.get("field") else ""
        message = f"{first['message']}{where}"
    else:
        message = exc.detail or "invalid request"
    if "malformed" in message.lower() or "json" in message.lower() and "decode" in message.lower():
        code = "malformed_json"
    elif "unknown field" in message.lower():
        code = "unknown_field"
    else:
        code = "invalid_request"
    return error_response(400, code, message, {"errors": problems, "path": request.url.path})


def _http_error(_: Request, exc: HTTPException) -> Response[ErrorResponse]:
    status = exc.status_code
    code = HTTP_CODES.get(status, "error")
    if isinstance(exc, NotFoundException):
        code = "not_found"
    elif status == 400 and isinstance(exc.__cause__, SerializationException):
        return error_response(400, "malformed_json", f"the request body is not valid JSON: {exc.detail}")
    return error_response(status, code, str(exc.detail), exc.extra if isinstance(exc.extra, dict) else None)


def _recursion_error(request: Request, exc: RecursionError) -> Response[ErrorResponse]:
    """msgspec gives up on JSON nested past Python's recursion limit (``[[[[...]]]]``): the
    body's fault, a 400. Any other RecursionError is ours."""
    if "deserializing" in str(exc):
        return error_response(400, "malformed_json", "the request body is not valid JSON: it nests too deeply")
    return _internal_error(request, exc)


def _internal_error(request: Request, exc: Exception) -> Response[ErrorResponse]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error; it has been logged")


class MetricsMiddleware:
    """Counts requests by route template and status; times them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def _send(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, _send)
        finally:
            services: Services | None = getattr(scope["app"].state, "services", None)
            if services is not None:
                handler = scope.get("route_handler")
                route = next(iter(handler.paths)) if handler is not None else "unmatched"
                services.metrics.requests.labels(scope.get("method", "-"), route, str(status["code"])).inc()
                services.metrics.request_seconds.labels(route).observe(time.perf_counter() - t0)


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    *,
    run_worker: bool = True,
    run_relay: bool = True,
) -> Litestar:
    settings = settings or Settings.from_env()
    settings.validate()
    svc = services or Services.build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        worker = Worker(svc) if run_worker and settings.worker.concurrency > 0 else None
        relay = Relay(svc) if run_relay else None
        decisions = DecisionConsumer(svc) if run_relay else None
        app.state.worker, app.state.relay, app.state.decisions = worker, relay, decisions
        try:
            await svc.start()
            if relay is not None:
                await relay.start()
            if decisions is not None:
                await decisions.start()
            if worker is not None:
                await worker.start()
            yield
        finally:
            if worker is not None:
                await worker.stop()
            if decisions is not None:
                await decisions.stop()
            if relay is not None:
                await relay.stop()
            await svc.stop()
            svc.close()

    app = Litestar(
        route_handlers=[
            generations.create_generation,
            generations.get_generation,
            generations.get_content,
            generations.takedown_generation,
            cameos.enroll_cameo,
            cameos.get_cameo,
            cameos.delete_cameo,
            cameos.put_policy,
            cameos.revoke_cameo,
            cameos.get_appearances,
            cameos.put_connections,
            cameos.put_guardian,
            reviews.list_reviews,
            reviews.claim,
            reviews.stats,
            reviews.get_review,
            reviews.frame,
            reviews.post_decision,
            reviews.report_generation,
            misc.moderate,
            misc.verify_file,
            misc.console_page,
            misc.verify_page,
            misc.healthz,
            misc.readyz,
            misc.metrics,
        ],
        dependencies={"principal": Provide(principal)},
        guards=[authenticated],  # 401 before the body is read (routes add their roles: 403 before 400)
        exception_handlers={
            ProvgateError: _provgate_error,
            ValidationException: _validation_error,
            HTTPException: _http_error,
            RecursionError: _recursion_error,
            Exception: _internal_error,
        },
        middleware=[MetricsMiddleware],
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="provgate",
            version=__version__,
            path="/schema",
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
        ),
        request_max_body_size=settings.server.max_body_bytes,
        debug=False,
        # Litestar's default logging config re-configures the root logger when the app starts
        # (its own format, level INFO): it would undo PROVGATE_LOG_LEVEL and the CLI's format.
        # Unhandled errors are logged by ``_internal_error``.
        logging_config=None,
    )
    app.state.services = svc
    app.state.settings = settings
    return app
