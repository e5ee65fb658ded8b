"""The stages after admission, for one claimed job: generate, check output, mark, encode,
sign, store, release. Blocking stages run on the services' thread pool.

Release happens in one transaction that also re-checks the lease, so a worker that lost
its job (crash, lease expiry, takedown) can never release it; a job is run to completion
at most once. Nothing is released unless it was checked, marked and signed.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import logging
import os
import shutil
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import msgspec
import numpy as np
from PIL import Image

from classifiers.age import MINOR_AGE
from classifiers.output import OutputCheckResult
from generator.base import GenerationSpec, GeneratorError
from provenance import registry as provenance_registry
from provenance.base import SigningError
from provenance.media import encode_mp4
from provenance.visible import draw_label
from provenance.watermark import derive_payload
from schemas.api import Decision
from schemas.events import (
    STATUS_EVENT,
    GenerationFailed,
    GenerationReleased,
    ReviewRequested,
)
from schemas.manifest import CheckOutcome, ProvgateAssertion

from . import __version__, repo
from .cameos import (
    FaceCheck,
    cameo_faces_for,
    face_check_failed,
    match_tracks,
    recheck_at_release,
    record_appearances,
    scan_faces,
)
from .outbox import emit, emit_review
from .services import Services

log = logging.getLogger("provgate.pipeline")
T = TypeVar("T")
OUTCOME_RANK = {"allow": 0, "review": 1, "block": 2}
TOP_PRIORITY = {"sexual/minors": 0, "likeness/public-figure": 1}


class LeaseLost(Exception):
    """This worker no longer owns the job; drop the work."""


class JobFailed(Exception):
    def __init__(self, code: str, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retriable = retriable


def combine(*decisions: Decision) -> Decision:
    worst = max(decisions, key=lambda d: OUTCOME_RANK[d.outcome])
    cats: dict[str, float] = {}
    for d in decisions:
        for k, v in d.categories.items():
            cats[k] = max(cats.get(k, 0.0), v)
    reasons = [f"{d.stage}: {r}" for d in decisions for r in d.reasons]
    return Decision(
        outcome=worst.outcome, reasons=reasons, categories=cats, policy_version=worst.policy_version, stage=worst.stage
    )


def withdrawn(decision: Decision | None, reason: str, services: Services) -> Decision:
    """The decision once consent was withdrawn before release."""
    return Decision(
        outcome="block",
        reasons=[*(decision.reasons if decision else []), f"consent: {reason}"],
        categories=decision.categories if decision else {},
        policy_version=decision.policy_version if decision else services.policy.version,
        stage="consent",
    )


def review_priority(decision: Decision) -> int:
    """0 is most urgent: minors first, then non-consented likeness, then by score."""
    pri = 9
    for cat, score in decision.categories.items():
        if cat in TOP_PRIORITY and score >= 0.3:
            pri = min(pri, TOP_PRIORITY[cat])
    if pri == 9 and any("check_failed" in r for r in decision.reasons):
        pri = 3
    if pri == 9:
        top = max(decision.categories.values(), default=0.0)
        pri = 4 if top >= 0.7 else 6
    return pri


class Job:
    """One claimed generation and the worker's hold on it."""

    def __init__(self, row: asyncpg.Record, owner: str) -> None:
        self.row = row
        self.id: uuid.UUID = row["id"]
        self.tenant_id: uuid.UUID = row["tenant_id"]
        self.owner = owner
        self.attempt: int = row["attempts"]
        self.lost = threading.Event()

    def cancelled(self) -> bool:
        return self.lost.is_set()


@contextmanager
def _timed(services: Services, stage: str, timings: dict[str, float]):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    try:
        yield
    finally:
        dt = time.perf_counter() - t0
        timings[stage] = dt
        services.metrics.stage_seconds.labels(stage).observe(dt)


def _input_image(raw: bytes | None) -> np.ndarray | None:
    if not raw:
        return None
    with Image.open(io.BytesIO(raw)) as img:
        return np.asarray(img.convert("RGB"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


async def _allocate_payload(services: Services, job: Job) -> int:
    key = services.watermark_key
    async with services.db.connection() as conn:
        for attempt in range(16):
            payload = derive_payload(key, str(job.id), attempt)
            if await repo.set_payload(conn, job.id, payload):
                return payload
    raise JobFailed("watermark_payload_exhausted", "no free watermark payload after 16 derivations", retriable=False)


async def _label_text(services: Services, row: asyncpg.Record) -> str:
    """The tenant's platform name (tenant setting `label`, else PROVGATE_LABEL) and the creator."""
    async with services.db.connection() as conn:
        tenant = await repo.tenant_settings(conn, row["tenant_id"])
    platform = str(tenant.get("label") or services.settings.provenance.label)[:60]
    return f"{platform} · AI-generated · @{row['user_id']}"


def mark_media(
    services: Services,
    frames: np.ndarray,
    audio: np.ndarray,
    fps: float,
    payload: int,
    label: str,
    video_marked: bool = False,
) -> None:
    """Invisible watermark first (it must not be disturbed by the label), then the visible
    label; the soundtrack carries the same payload. ``video_marked``: the generator already
    embedded the invisible mark on its device, before copying the frames to the CPU."""
    if not video_marked:
        services.watermark.embed(frames, payload)
    draw_label(frames, label, fps)
    services.audio_watermark.embed(audio, payload)


async def process(services: Services, job: Job) -> dict[str, float]:
    """Run every stage for ``job``; returns per-stage timings. Raises LeaseLost / JobFailed."""
    row = job.row
    timings: dict[str, float] = {}
    # The payload is known before generation, so a GPU generator can mark on its device.
    payload = await _allocate_payload(services, job)
    spec = GenerationSpec(
        prompt=row["prompt"],
        seed=int(row["seed"]),
        duration_s=float(row["duration_s"]),
        resolution=row["resolution"],
        fps=int(row["fps"]),
        input_image=_input_image(row["input_image"]),
        cameo_faces=await cameo_faces_for(services, job.tenant_id, list(row["cameos"])) if row["cameos"] else (),
        device_marker=functools.partial(services.watermark.embed_torch, payload=payload),
    )
    with _timed(services, "generate", timings):
        try:
            media = await services.run_blocking(services.generator.generate, spec, job.cancelled)
        except GeneratorError as exc:
            if job.cancelled():
                raise LeaseLost() from exc
            if exc.code == "upstream_refused":
                # The hosted model's own policy said no: a block with its reason, not a failure.
                refusal = Decision(
                    outcome="block",
                    reasons=[str(exc)],
                    categories={},
                    policy_version=services.policy.version,
                    stage="generator",
                )
                await finish(services, job, "blocked", refusal)
                return timings
            raise JobFailed(exc.code, str(exc), retriable=exc.retriable) from exc
    if job.cancelled():
        raise LeaseLost()
    texts = [*media.scene_text, *([media.transcript] if media.transcript else [])]
    post_t0 = time.perf_counter()
    # The output check works on a copy of the sampled frames and runs while the frames are
    # marked and encoded. Signing waits for its decision (the manifest records it), and
    # nothing is released before it: a blocked result discards the encoded file.
    sampled = services.output_checker.sample(media.frames, media.fps)
    prompt_categories = (row["prompt_decision"] or {}).get("categories", {})
    check_task = asyncio.ensure_future(_checked(services, sampled, row["age_band"], texts, timings, prompt_categories))
    faces_task = asyncio.ensure_future(_faces_checked(services, job, sampled, timings))
    out_dir = services.settings.server.artifacts_dir / str(job.tenant_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    unsigned = out_dir / f".{job.id}.{job.attempt}.unsigned.mp4"
    final = out_dir / f"{job.id}.{job.attempt}.mp4"
    try:
        with _timed(services, "mark", timings):
            await services.run_blocking(
                mark_media,
                services,
                media.frames,
                media.audio,
                media.fps,
                payload,
                await _label_text(services, row),
                media.marked,
            )
        with _timed(services, "encode", timings):
            await services.run_blocking(encode_mp4, unsigned, media.frames, media.audio, media.fps, media.sample_rate)
        fps = media.fps
        del media
        check = await check_task
        faces = await faces_task
        services.metrics.decisions.labels("output", check.decision.outcome).inc()
        services.metrics.decisions.labels("faces", faces.decision.outcome).inc()
        prompt_decision = msgspec.convert(row["prompt_decision"], Decision) if row["prompt_decision"] else None
        decisions = [d for d in (prompt_decision, check.decision, faces.decision) if d is not None]
        minors = minors_rule(services, check, faces)
        if minors is not None:
            decisions.append(minors)
        decision = combine(*decisions)
        # A human looks at what is uncertain, and at every block for an apparent minor.
        needs_review = decision.outcome == "review" or decision.categories.get("sexual/minors", 0.0) >= 0.5
        thumbs = 0
        if needs_review:
            thumbs = await services.run_blocking(
                write_thumbnails, thumbnail_dir(services, job.tenant_id, job.id), sampled
            )
        if decision.outcome == "block":
            await finish(
                services,
                job,
                "blocked",
                decision,
                review=needs_review,
                thumbnails=thumbs,
                appearances=faces.appearances,
            )
            return timings
        if job.cancelled():
            raise LeaseLost()
        manifest = _manifest(services, job, decision, decisions, payload)
        with _timed(services, "sign", timings):
            try:
                await services.run_blocking(services.signer.sign, unsigned, final, manifest)
            except SigningError as exc:
                raise JobFailed("signing_failed", str(exc), retriable=exc.retriable) from exc
        with _timed(services, "store", timings):
            artifact = {
                "path": str(final),
                "sha256": await services.run_blocking(_sha256, final),
                "bytes": final.stat().st_size,
                # Kept for durable content credentials: if the file loses its manifest, the
                # watermark still leads here and verification returns this.
                "manifest": {
                    "payload": payload,
                    "generator": services.generator.model,
                    "fps": fps,
                    "definition": manifest,
                },
            }
            status = "succeeded" if decision.outcome == "allow" else "under_review"
            await finish(
                services,
                job,
                status,
                decision,
                artifact=artifact,
                review=needs_review,
                thumbnails=thumbs,
                appearances=faces.appearances,
            )
    except BaseException:
        check_task.cancel()
        faces_task.cancel()
        final.unlink(missing_ok=True)
        # Nothing of an unfinished attempt stays on disk, review thumbnails included.
        shutil.rmtree(thumbnail_dir(services, job.tenant_id, job.id), ignore_errors=True)
        raise
    finally:
        unsigned.unlink(missing_ok=True)
    timings["post_generate"] = time.perf_counter() - post_t0
    services.metrics.stage_seconds.labels("post_generate").observe(timings["post_generate"])
    return timings


async def _checked(
    services: Services,
    sampled: np.ndarray,
    age_band: str,
    texts: list[str],
    timings: dict[str, float],
    prompt_categories: dict[str, float],
) -> OutputCheckResult:
    with _timed(services, "check", timings):
        return await services.run_blocking(
            functools.partial(
                services.output_checker.check_sampled,
                sampled,
                age_band=age_band,
                texts=texts,
                prompt_categories=prompt_categories,
            )
        )


MINOR_SEXUAL_SIGNAL = 0.3  # below the adult review line on purpose: any sexual signal counts


def minors_rule(services: Services, check: OutputCheckResult, faces: FaceCheck) -> Decision | None:
    """An apparent minor together with any sexual signal is sexual/minors: block, top-priority review."""
    sexual = check.decision.categories.get("sexual", 0.0)
    if faces.min_age is None or faces.min_age >= MINOR_AGE or sexual < MINOR_SEXUAL_SIGNAL:
        return None
    return Decision(
        outcome="block",
        reasons=[f"apparent minor (age {faces.min_age:.0f}) with a sexual signal ({sexual:.2f})"],
        categories={"sexual/minors": 1.0},
        policy_version=services.policy.version,
        stage="output",
    )


async def _faces_checked(services: Services, job: Job, sampled: np.ndarray, timings: dict[str, float]) -> FaceCheck:
    """Faces in the output, tracked and matched against the tenant's cameos (fail closed)."""
    with _timed(services, "faces", timings):
        try:
            tracks, ages = await asyncio.wait_for(
                services.run_blocking(scan_faces, services, sampled), services.settings.classifiers.timeout_s
            )
            result = await match_tracks(services, job.tenant_id, job.row, tracks)
            result.min_age = min(ages, default=None)
            return result
        except (asyncio.CancelledError, LeaseLost):
            raise
        except Exception as exc:  # noqa: BLE001 - any failure sends the job to a human
            log.warning("face check of %s failed: %s", job.id, exc)
            return face_check_failed(services, exc)


def _manifest(
    services: Services, job: Job, decision: Decision, decisions: list[Decision], payload: int
) -> dict[str, Any]:
    assertion = ProvgateAssertion(
        generation_id=str(job.id),
        policy_version=decision.policy_version,
        checks=[CheckOutcome(stage=d.stage, outcome=d.outcome, categories=sorted(d.categories)) for d in decisions],
        generator=services.generator.model,
        watermark_algorithm=services.watermark.algorithm,
        provgate_version=__version__,
    )
    return provenance_registry.build_manifest(
        title=f"{job.id}.mp4",
        generator_model=services.generator.model,
        provgate_version=__version__,
        watermark_algorithm=services.watermark.algorithm,
        watermark_payload=payload,
        provgate_assertion=msgspec.to_builtins(assertion),
    )


async def finish(
    services: Services,
    job: Job,
    status: str,
    decision: Decision | None,
    *,
    error: dict[str, Any] | None = None,
    artifact: dict[str, Any] | None = None,
    review: bool = False,
    thumbnails: int = 0,
    appearances: list[dict[str, Any]] | None = None,
) -> None:
    """Final state + its events (and the review request) in one transaction, only while this
    worker holds the lease. A release re-checks, in this transaction, that every cameo in
    the video still grants the user; a revocation that came first turns it into a block."""
    async with services.db.transaction() as conn:
        if await repo.lock_own_job(conn, job.id, job.owner) is None:
            raise LeaseLost()
        await record_appearances(conn, job.tenant_id, job.id, appearances or [])
        discarded = None
        if status == "succeeded":
            grant = await recheck_at_release(conn, job.tenant_id, job.id, job.row["user_id"], job.row["age_band"])
            if not grant.granted:
                discarded = (artifact or {}).get("path")
                status, decision, artifact = "blocked", withdrawn(decision, grant.reason, services), None
        d = msgspec.to_builtins(decision) if decision else None
        await repo.finish_job(conn, job.id, status=status, decision=d, error=error, artifact=artifact)
        await emit_status(
            conn,
            job.id,
            job.tenant_id,
            status,
            decision,
            attempt=job.attempt,
            sha256=(artifact or {}).get("sha256", ""),
            error_code=(error or {}).get("code", ""),
        )
        if (review or status == "under_review") and decision is not None:
            await request_review(conn, job.id, job.tenant_id, decision, thumbnails=thumbnails)
    if discarded:
        Path(discarded).unlink(missing_ok=True)
    services.metrics.jobs.labels(status).inc()


async def emit_status(
    conn: asyncpg.Connection,
    gen_id: uuid.UUID,
    tenant_id: uuid.UUID,
    status: str,
    decision: Decision | None,
    *,
    attempt: int = 0,
    sha256: str = "",
    error_code: str = "",
    requested_by: str = "",
) -> None:
    cls = STATUS_EVENT[status]
    kwargs: dict[str, Any] = {
        "generation_id": str(gen_id),
        "tenant_id": str(tenant_id),
        "status": status,
        "attempt": attempt,
        "outcome": decision.outcome if decision else None,
        "reasons": decision.reasons if decision else [],
        "categories": decision.categories if decision else {},
        "policy_version": decision.policy_version if decision else "",
    }
    if cls is GenerationReleased:
        kwargs["sha256"] = sha256
    elif cls is GenerationFailed:
        kwargs["error_code"] = error_code
    elif status == "taken_down":
        kwargs["requested_by"] = requested_by
    await emit(conn, cls(**kwargs), subject=str(gen_id))


async def request_review(
    conn: asyncpg.Connection,
    gen_id: uuid.UUID,
    tenant_id: uuid.UUID,
    decision: Decision,
    *,
    thumbnails: int = 0,
    reason: str = "",
) -> uuid.UUID:
    review_id = uuid.uuid4()
    priority = review_priority(decision)
    deadline = datetime.now(UTC) + timedelta(hours=1 if priority <= 1 else 24)
    await repo.insert_review(
        conn,
        {
            "id": review_id,
            "tenant_id": tenant_id,
            "generation_id": gen_id,
            "priority": priority,
            "categories": decision.categories,
            "reasons": decision.reasons,
            "deadline": deadline,
            "thumbnails": thumbnails,
            "reason": reason,
        },
    )
    await emit_review(
        conn,
        ReviewRequested(
            review_id=str(review_id),
            generation_id=str(gen_id),
            tenant_id=str(tenant_id),
            priority=priority,
            categories=decision.categories,
            reasons=decision.reasons,
            deadline=deadline,
            thumbnails=[thumbnail_ref(review_id, i) for i in range(thumbnails)],
        ),
        subject=str(gen_id),
    )
    return review_id


def thumbnail_ref(review_id: uuid.UUID, index: int) -> str:
    return f"/v1/reviews/{review_id}/frames/{index}"


def thumbnail_dir(services: Services, tenant_id: uuid.UUID, gen_id: uuid.UUID) -> Path:
    return services.settings.server.artifacts_dir / str(tenant_id) / "thumbs" / str(gen_id)


def write_thumbnails(directory: Path, sampled: np.ndarray, limit: int = 6, width: int = 320) -> int:
    """Small JPEGs of evenly spaced sampled frames, for reviewers (served by reference)."""
    directory.mkdir(parents=True, exist_ok=True)
    picks = np.linspace(0, len(sampled) - 1, num=min(limit, len(sampled))).round().astype(int)
    for n, i in enumerate(picks):
        img = Image.fromarray(sampled[i])
        img.thumbnail((width, width * 2))
        img.save(directory / f"{n}.jpg", "JPEG", quality=80)
    return len(picks)


def cleanup_stale_unsigned(artifacts_dir: Path, older_than_s: float = 3600) -> None:
    """Remove half-written files left by crashed workers."""
    if not artifacts_dir.is_dir():
        return
    cutoff = time.time() - older_than_s
    for path in artifacts_dir.glob("*/.*.unsigned.mp4"):
        try:
            if path.stat().st_mtime < cutoff:
                os.unlink(path)
        except OSError:
            pass
