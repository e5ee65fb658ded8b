"""Admission: everything that happens inside ``POST /v1/generations`` before the 202.

Order (cheapest and most final first): rate limit, input image, idempotency, cameo
permissions, prompt classifiers, daily quota; then the job row and its ``admitted`` event
in one transaction. A refusal is a 403 with a machine-readable code and an audit event.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import uuid
from dataclasses import dataclass

import asyncpg
import msgspec
import numpy as np

from classifiers.base import Scores, combine
from schemas.api import Decision, GenerationRequest
from schemas.events import GenerationAdmitted, GenerationRefused

from . import repo
from .auth import Principal
from .cameos import ConsentRefused, check_admission, daily_limit, detect_input_faces, record_appearances
from .errors import Conflict, Forbidden, RateLimited, Unavailable, Unprocessable
from .images import open_image
from .outbox import emit
from .services import Services


@dataclass(frozen=True)
class Admitted:
    id: uuid.UUID
    status: str
    created: bool


def decode_input_image(data: str) -> tuple[bytes, np.ndarray]:
    """Check that ``input_image`` is base64 of a real, bounded image; the bytes and the pixels."""
    payload = data.split(",", 1)[1] if data.startswith("data:") else data
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise Unprocessable(
            "input_image is not valid base64", code="invalid_input_image", details={"field": "input_image"}
        ) from None
    return raw, open_image(raw, "input_image")


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


def prompt_scores(services: Services, text: str, consented: frozenset[str] = frozenset()) -> Scores:
    """Every prompt classifier, merged. A classifier that fails is a 503, never a pass.
    ``consented``: names of people whose granted cameo this request uses (not a likeness finding)."""
    layers: list[tuple[str, Scores]] = []
    for clf in services.prompt_classifiers:
        try:
            layers.append((clf.name, clf.score(text, consented)))
        except Exception as exc:  # noqa: BLE001 - fail closed: nothing is admitted unchecked
            raise Unavailable(
                f"the {clf.name} prompt classifier failed ({type(exc).__name__}); retry later",
                code="classifier_unavailable",
            ) from exc
    return combine(layers)


def classify_prompt(
    services: Services, text: str, age_band: str, *, stage: str = "prompt", consented: frozenset[str] = frozenset()
) -> Decision:
    return services.policy.decide(prompt_scores(services, text, consented), age_band, stage=stage)


async def admit(
    services: Services, principal: Principal, req: GenerationRequest, idempotency_key: str | None
) -> Admitted:
    principal.require("platform")
    if services.limiter is not None:
        ok, wait = services.limiter.allow(principal.tenant_id)
        if not ok:
            raise RateLimited(f"rate limit reached; retry in {wait:.2f}s", details={"retry_after_s": round(wait, 2)})
    image, pixels = (
        await services.run_blocking(decode_input_image, req.input_image) if req.input_image else (None, None)
    )
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
    input_faces = await services.run_blocking(detect_input_faces, services, pixels) if pixels is not None else None
    try:
        async with services.db.connection() as conn:
            consent = await check_admission(
                services,
                conn,
                principal,
                user_id=req.user.id,
                age_band=req.user.age_band,
                prompt=req.prompt,
                cameo_ids=list(req.cameos),
                input_faces=input_faces,
                input_image_consent=req.input_image_consent,
            )
    except ConsentRefused as r:
        raise await _refuse(services, principal, r.code, r.message, r.decision, details=r.details) from None
    # Off the event loop: the semantic layer runs a model.
    decision = await services.run_blocking(
        functools.partial(classify_prompt, consented=consent.granted_names),
        services,
        req.prompt,
        req.user.age_band,
    )
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
            limit = await daily_limit(conn, services, principal.tenant_id, consent.requester)
            if not await repo.bump_daily_usage(conn, principal.tenant_id, req.user.id, limit):
                raise _QuotaReached(limit)
            await repo.insert_generation(conn, row)
            await repo.touch_user(conn, principal.tenant_id, req.user.id, req.user.age_band)
            await record_appearances(conn, principal.tenant_id, gen_id, consent.appearances)
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
