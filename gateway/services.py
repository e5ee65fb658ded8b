"""The services one provgate process needs, built from settings through the registries.

The gateway composes stages through their interfaces only; which backend sits behind each
is decided here by configuration names.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from classifiers import registry as classifier_registry
from classifiers.age import AgeEstimator
from classifiers.base import FrameClassifier, PromptClassifier
from classifiers.output import OutputChecker
from classifiers.policy import Policy
from consent import registry as face_registry
from consent.base import FaceBackend
from generator import registry as generator_registry
from generator.base import Generator
from provenance import registry as provenance_registry
from provenance.audio_watermark import AudioWatermark
from provenance.base import ManifestReader, ManifestSigner
from provenance.watermark import SpreadSpectrumWatermark

from .auth import KeyCache
from .db import Database
from .metrics import Metrics
from .ratelimit import RateLimiter
from .settings import Settings

T = TypeVar("T")
log = logging.getLogger("provgate.services")


@dataclass
class Services:
    settings: Settings
    db: Database
    policy: Policy
    prompt_classifiers: list[PromptClassifier]
    frame_classifiers: list[FrameClassifier]
    output_checker: OutputChecker
    generator: Generator
    signer: ManifestSigner
    reader: ManifestReader
    watermark_key: bytes
    watermark: SpreadSpectrumWatermark
    audio_watermark: AudioWatermark
    faces: FaceBackend
    ages: AgeEstimator
    metrics: Metrics = field(default_factory=Metrics)
    keys: KeyCache = field(default_factory=KeyCache)
    limiter: RateLimiter | None = None
    blocking: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(4, thread_name_prefix="provgate"))
    _started: bool = False

    @classmethod
    def build(cls, settings: Settings, **replace: Any) -> Services:
        """Build from settings; keyword arguments replace a component (tests, embedding apps)."""
        policy = replace.pop("policy", None) or Policy()
        env = replace.pop("env", None)
        prompt = replace.pop("prompt_classifiers", None) or [
            classifier_registry.prompt_classifier(n, env) for n in settings.classifiers.prompt
        ]
        frames = replace.pop("frame_classifiers", None)
        if frames is None:
            frames = [classifier_registry.frame_classifier(n, env) for n in settings.classifiers.frames]
        p = settings.provenance
        parts: dict[str, Any] = {
            "settings": settings,
            "db": Database(
                settings.database.url, min_size=settings.database.pool_min, max_size=settings.database.pool_max
            ),
            "policy": policy,
            "prompt_classifiers": prompt,
            "frame_classifiers": frames,
            "output_checker": OutputChecker(frames, prompt, policy, timeout_s=settings.classifiers.timeout_s),
            "generator": generator_registry.create(settings.generator, env),
            "signer": provenance_registry.create_signer(p.chain_path, p.key_path, tsa_url=p.tsa_url, signer=p.signer),
            "reader": provenance_registry.create_reader(p.anchor_paths),  # re-read per verification
            "watermark_key": (wm_key := settings.watermark_key()),
            "watermark": provenance_registry.create_watermark(wm_key),
            "audio_watermark": provenance_registry.create_audio_watermark(wm_key),
            "faces": face_registry.face_backend(
                settings.faces.backend, settings.faces.models_dir, settings.faces.threads
            ),
            "ages": AgeEstimator(),
            "limiter": RateLimiter(settings.server.rate_per_s, settings.server.rate_burst),
        }
        parts.update(replace)
        return cls(**parts)

    async def start(self) -> None:
        if self._started:
            return
        await self.db.start()
        # Load every model before serving: a broken model fails the start, not a request.
        await self.run_blocking(self._load_models)
        try:  # keys may be mounted later, so not a refusal to start; but said now, not per job
            await self.run_blocking(self.signer.check)  # reads the key files: off the event loop
        except Exception as exc:  # noqa: BLE001 - any reason the signer cannot sign
            log.warning(
                "signing is unavailable (%s): every generation fails with signing_failed until it is fixed "
                "(PROVGATE_SIGNING_KEY, PROVGATE_SIGNING_CERTS or the keys directory); /readyz reports it",
                exc,
            )
        self._started = True

    def _load_models(self) -> None:
        for c in self.prompt_classifiers:
            c.start()
        for f in self.frame_classifiers:
            f.start()
        self.faces.start()
        self.ages.start()
        self.generator.start()

    async def stop(self) -> None:
        self._started = False
        await self.db.stop()
        self.output_checker.close()
        self.generator.stop()

    def close(self) -> None:
        self.blocking.shutdown(wait=False, cancel_futures=True)

    async def run_blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        return await loop.run_in_executor(self.blocking, functools.partial(ctx.run, fn, *args, **kwargs))
