"""Admission: everything that happens inside ``POST /v1/generations`` before the 202.

Order (cheapest and most final first): rate limit, input image, idempotency, cameo
permissions, prompt classifiers, daily quota; then the job row and its ``admitted`` event
in one transaction. A refusal is a 403 with a machine-readable code and an audit event.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import uuid
import warnings
from dataclasses import dataclass

import asyncpg
import msgspec
from PIL import Image

from classifiers.base import Scores
from schemas.api import Decision, GenerationRequest
from schemas.events import GenerationAdmitted, GenerationRefused

from . import repo
from .auth import Principal
from .errors import Conflict, Forbidden, PayloadTooLarge, RateLimited, Unprocessable
from .outbox import emit
from .services import Services

MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_IMAGE_SIDE = 4096
DAILY_LIMITS = {"teen": 10, "adult": 100}


@dataclass(frozen=True)
class Admitted:
    id: uuid.UUID
    status: str
    created: bool


def decode_input_image(data: str) -> bytes:
    """Check that ``input_image`` is base64 of a real, bounded image; return the bytes."""
    payload = data.split(",", 1)[1] if data.startswith("data:") else data
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise Unprocessable(
            "input_image is not valid base64", code="invalid_input_image", details={"field": "input_image"}
        ) from None
    if len(raw) > MAX_IMAGE_BYTES:
        raise PayloadTooLarge(
            f"input_image is {len(raw)} bytes; the limit is {MAX_IMAGE_BYTES}",
            code="input_image_too_large",
            details={"field": "input_image"},
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as img:
                w, h = img.size
                if w > MAX_IMAGE_SIDE or h > MAX_IMAGE_SIDE:
                    raise PayloadTooLarge(
                        f"input_image is {w}x{h}; the limit is {MAX_IMAGE_SIDE} per side",
                        code="input_image_too_large",
                        details={"field": "input_image"},
                    )
                img.convert("RGB").load()
    except PayloadTooLarge:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure is the client's bad image
        raise Unprocessable(
            f"input_image is not a decodable image ({type(exc).__name__})",
            code="invalid_input_image",
            details={"field": "input_image"},
        ) from None
    return raw


def request_hash(req: GenerationRequest) -> str:
    return hashlib.sha256(msgspec.json.encode(req)).hexdigest()


def default_seed(gen_id: uuid.UUID) -> int:
    return int.from_bytes(gen_id.bytes[:6], "big")


async def _refuse(
    services: Services,
    principal: Principal,
    code: str,
    message: str,
    decision: Decision | None = None,
    details: dict | None = None,
) -> Forbidden:
    services.metrics.decisions.labels("admission", "block").inc()
    async with services.db.transaction() as conn:
        await emit(
            conn,
            GenerationRefused(
                tenant_id=str(principal.tenant_id),
                code=code,
                reasons=decision.reasons if decision else [message],
                categories=decision.categories if decision else {},
                policy_version=services.policy.version,
            ),
            subject=str(principal.tenant_id),
        )
    return Forbidden(message, code=code, details=details or {})


def prompt_scores(services: Services, text: str) -> Scores:
    scores = Scores()
    for clf in services.prompt_classifiers:
        scores = scores.merge(clf.score(text))
    return scores


def classify_prompt(services: Services, text: str, age_band: str, *, stage: str = "prompt") -> Decision:
    return services.policy.decide(prompt_scores(services, text), age_band, stage=stage)


async def admit(
    services: Services, principal: Principal, req: GenerationRequest, idempotency_key: str | None
) -> Admitted:
    principal.require("platform")
    if services.limiter is not None:
        ok, wait = services.limiter.allow(principal.tenant_id)
        if not ok:
            raise RateLimited(f"rate limit reached; retry in {wait:.2f}s", details={"retry_after_s": round(wait, 2)})
    image = await services.run_blocking(decode_input_image, req.input_image) if req.input_image else None
    rhash = request_hash(req)
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= 255:
            raise Unprocessable(
                "Idempotency-Key must be 1..255 characters",
                code="invalid_idempotency_key",
                details={"header": "Idempotency-Key"},
            )
        async with services.db.connection() as conn:
            existing = await repo.generation_by_idempotency(conn, principal.tenant_id, idempotency_key)
        if existing is not None:
            return _replay(existing, rhash)
    if req.cameos:
        # The cameo registry (consent/) is not built yet: no cameo can have granted anything,
        # so every requested cameo is refused rather than generated without consent.
        raise await _refuse(
            services,
            principal,
            "cameo_not_granted",
            f"cameo {req.cameos[0]!r} does not exist or has not granted user {req.user.id!r}",
            details={"cameos": req.cameos},
        )
    decision = classify_prompt(services, req.prompt, req.user.age_band)
    services.metrics.decisions.labels("prompt", decision.outcome).inc()
    if decision.outcome == "block":
        raise await _refuse(
            services,
            principal,
            "prompt_blocked",
            "the prompt violates the content policy",
            decision,
            details={
                "categories": decision.categories,
                "reasons": decision.reasons,
                "policy_version": decision.policy_version,
            },
        )
    gen_id = uuid.uuid4()
    row = {
        "id": gen_id,
        "tenant_id": principal.tenant_id,
        "user_id": req.user.id,
        "age_band": req.user.age_band,
        "prompt": req.prompt,
        "cameos": list(req.cameos),
        "input_image": image,
        "duration_s": req.duration_s,
        "resolution": req.resolution,
        "fps": services.settings.worker.fps,
        "seed": req.seed if req.seed is not None else default_seed(gen_id),
        "prompt_decision": msgspec.to_builtins(decision),
        "idempotency_key": idempotency_key,
        "request_hash": rhash,
        "policy_version": services.policy.version,
    }
    try:
        async with services.db.transaction() as conn:
            limit = DAILY_LIMITS.get(req.user.age_band, DAILY_LIMITS["adult"])
            if not await repo.bump_daily_usage(conn, principal.tenant_id, req.user.id, limit):
                raise _QuotaReached(limit)
            await repo.insert_generation(conn, row)
            await emit(
                conn,
                GenerationAdmitted(
                    generation_id=str(gen_id),
                    tenant_id=str(principal.tenant_id),
                    status="queued",
                    outcome=decision.outcome,
                    reasons=decision.reasons,
                    categories=decision.categories,
                    policy_version=decision.policy_version,
                ),
                subject=str(gen_id),
            )
    except _QuotaReached as q:
        code = "teen_limit_reached" if req.user.age_band == "teen" else "daily_limit_reached"
        raise await _refuse(
            services,
            principal,
            code,
            f"user {req.user.id!r} reached the daily limit of {q.limit} generations",
            details={"limit": q.limit},
        ) from None
    except asyncpg.UniqueViolationError:
        # A concurrent request with the same Idempotency-Key won the race.
        async with services.db.connection() as conn:
            existing = await repo.generation_by_idempotency(conn, principal.tenant_id, idempotency_key or "")
        if existing is None:
            raise
        return _replay(existing, rhash)
    return Admitted(gen_id, "queued", True)


class _QuotaReached(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit


def _replay(existing: asyncpg.Record, rhash: str) -> Admitted:
    if existing["request_hash"] != rhash:
        raise Conflict(
            "this Idempotency-Key was already used with a different request body",
            code="idempotency_key_reused",
            details={"generation_id": str(existing["id"])},
        )
    return Admitted(existing["id"], existing["status"], False)
