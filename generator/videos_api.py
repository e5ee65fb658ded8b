"""A client for the OpenAI-compatible Videos API, so provgate can front a hosted video model
(through LiteLLM or another proxy, or a self-hosted server that speaks the same shape).

    POST /v1/videos            {model, prompt, seconds, size} (multipart with input_reference
                               when an input image is given)       -> Video {id, status, ...}
    GET  /v1/videos/{id}       poll until completed | failed
    GET  /v1/videos/{id}/content   the MP4
    DELETE /v1/videos/{id}     best effort, when provgate cancels the job

The MP4 is decoded back to frames and PCM, so provgate's checks, watermarks and signature
apply exactly as for a local generator. Retries with backoff (and Retry-After) on 429, 5xx
and connection errors; one deadline for the whole job; cancellation when the provgate job
is taken down, revoked or its lease is lost; the upstream's own refusals become
``GeneratorRefused`` (a provgate block), not failures.

Settings: PROVGATE_VIDEOS_API_URL (base URL, e.g. http://litellm:4000), PROVGATE_VIDEOS_API_KEY,
PROVGATE_VIDEOS_API_MODEL (default sora-2), PROVGATE_VIDEOS_API_TIMEOUT_S (default 900).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from .base import GeneratedMedia, GenerationSpec, Generator, GeneratorError

REFUSAL_CODES = ("moderation", "content_policy", "safety", "policy_violation", "refus")


class GeneratorRefused(GeneratorError):
    """The upstream model refused the request (its own policy): a block, not a failure."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retriable=False, code="upstream_refused")


def _is_refusal(code: str | None, message: str | None = "") -> bool:
    text = f"{code or ''} {message or ''}".lower()
    return any(k in text for k in REFUSAL_CODES)


class VideosApiGenerator(Generator):
    name = "videos_api"

    def __init__(
        self,
        base_url: str,
        api_key: str = "",
        model: str = "sora-2",
        *,
        timeout_s: float = 900.0,
        poll_s: float = 2.0,
        max_retries: int = 6,
        backoff_s: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"PROVGATE_VIDEOS_API_URL must be an http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.model_name = model
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self._transport = transport
        self._client: httpx.Client | None = None
        self.upstream_seconds = 0.0  # the upstream's own time for the last job (create -> completed)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> VideosApiGenerator:
        env = os.environ if env is None else env
        url = env.get("PROVGATE_VIDEOS_API_URL", "")
        if not url:
            raise ValueError("PROVGATE_VIDEOS_API_URL is not set (the Videos API base URL)")
        return cls(
            url,
            env.get("PROVGATE_VIDEOS_API_KEY", ""),
            env.get("PROVGATE_VIDEOS_API_MODEL", "sora-2"),
            timeout_s=float(env.get("PROVGATE_VIDEOS_API_TIMEOUT_S", "900")),
        )

    @property
    def model(self) -> str:
        return self.model_name

    def start(self) -> None:
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=60, transport=self._transport)

    def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- HTTP with retries --------------------------------------------------------------
    def _request(self, method: str, path: str, deadline: float, **kwargs: Any) -> httpx.Response:
        self.start()
        assert self._client is not None
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GeneratorError(f"upstream deadline of {self.timeout_s:.0f}s exceeded", code="upstream_timeout")
            try:
                r = self._client.request(method, path, timeout=min(60.0, remaining), **kwargs)
            except httpx.TransportError as exc:
                error: str = f"{type(exc).__name__}: {exc}"
                retry_after = None
            else:
                if r.status_code < 400:
                    return r
                if r.status_code not in (408, 409, 425, 429) and r.status_code < 500:
                    self._raise_client_error(r)
                error = f"HTTP {r.status_code}"
                retry_after = r.headers.get("retry-after")
            attempt += 1
            if attempt > self.max_retries:
                raise GeneratorError(
                    f"upstream {method} {path} failed after {attempt} attempts: {error}", code="upstream_unavailable"
                )
            delay = self.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random())
            if retry_after is not None:
                with contextlib.suppress(ValueError):
                    delay = max(0.0, float(retry_after))
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))

    @staticmethod
    def _raise_client_error(r: httpx.Response) -> None:
        try:
            err = r.json().get("error") or {}
        except ValueError:
            err = {}
        code, message = err.get("code"), err.get("message") or r.text[:300]
        if _is_refusal(code, message):
            raise GeneratorRefused(f"upstream refused: {code}: {message}")
        raise GeneratorError(
            f"upstream rejected the request (HTTP {r.status_code}): {code}: {message}",
            retriable=False,
            code="upstream_rejected",
        )

    # -- the job --------------------------------------------------------------------------
    def _create(self, spec: GenerationSpec, deadline: float) -> dict[str, Any]:
        w, h = spec.size
        fields = {
            "model": self.model_name,
            "prompt": spec.prompt,
            "seconds": str(max(1, round(spec.duration_s))),
            "size": f"{w}x{h}",
        }
        if spec.input_image is not None:
            buf = io.BytesIO()
            Image.fromarray(spec.input_image).save(buf, "PNG")
            files = {"input_reference": ("input.png", buf.getvalue(), "image/png")}
            r = self._request("POST", "/v1/videos", deadline, data=fields, files=files)
        else:
            r = self._request("POST", "/v1/videos", deadline, json=fields)
        return r.json()  # type: ignore[no-any-return]

    def _cancel(self, video_id: str) -> None:
        with contextlib.suppress(GeneratorError):
            self._request("DELETE", f"/v1/videos/{video_id}", time.monotonic() + 5)

    def _wait(
        self, video: dict[str, Any], video_id: str, deadline: float, cancelled: Callable[[], bool]
    ) -> dict[str, Any]:
        while video.get("status") not in ("completed", "failed"):
            if cancelled():
                raise GeneratorError("cancelled by provgate", retriable=False, code="cancelled")
            if time.monotonic() > deadline:
                raise GeneratorError(f"upstream job {video_id} exceeded {self.timeout_s:.0f}s", code="upstream_timeout")
            time.sleep(self.poll_s)
            video = self._request("GET", f"/v1/videos/{video_id}", deadline).json()
        return video

    def _generate(self, spec: GenerationSpec, cancelled: Callable[[], bool]) -> GeneratedMedia:
        t0 = time.monotonic()
        deadline = t0 + self.timeout_s
        video = self._create(spec, deadline)
        video_id = str(video["id"])
        try:
            video = self._wait(video, video_id, deadline, cancelled)
        except GeneratorError as exc:
            if exc.code in ("upstream_timeout", "cancelled"):
                self._cancel(video_id)  # do not leave the upstream working (and billing) for nothing
            raise
        self.upstream_seconds = time.monotonic() - t0
        if video["status"] == "failed":
            err = video.get("error") or {}
            if _is_refusal(err.get("code"), err.get("message")):
                raise GeneratorRefused(f"upstream refused: {err.get('code')}: {err.get('message')}")
            raise GeneratorError(
                f"upstream job {video_id} failed: {err.get('code')}: {err.get('message')}", code="upstream_failed"
            )
        content = self._request("GET", f"/v1/videos/{video_id}/content", deadline).content
        return self._decode(content, spec)

    def _decode(self, content: bytes, spec: GenerationSpec) -> GeneratedMedia:
        from provenance.media import MediaError, decode_audio, decode_frames

        with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
            tmp.write(content)
            tmp.flush()
            try:
                frames, fps = decode_frames(Path(tmp.name), max_frames=int(20 * 60 + 1))
            except MediaError as exc:
                raise GeneratorError(
                    f"upstream returned an unreadable video: {exc}", code="upstream_bad_media"
                ) from exc
            sound = decode_audio(Path(tmp.name), max_seconds=25)
        w, h = spec.size
        if frames.shape[1:3] != (h, w):  # the upstream's size list may differ from ours
            frames = np.stack(
                [np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.BILINEAR)) for f in frames]
            )
        n_audio = int(round(len(frames) / fps * spec.sample_rate))
        if sound is None:
            audio = np.zeros((n_audio, 2), dtype=np.float32)
        else:
            pcm, rate = sound
            if pcm.shape[1] == 1:
                pcm = np.repeat(pcm, 2, axis=1)
            if rate != spec.sample_rate:  # linear resampling to the pipeline's rate
                t_src = np.arange(len(pcm)) / rate
                t_dst = np.arange(int(len(pcm) * spec.sample_rate / rate)) / spec.sample_rate
                pcm = np.stack([np.interp(t_dst, t_src, pcm[:, c]) for c in range(2)], axis=1)
            audio = np.zeros((n_audio, 2), dtype=np.float32)
            audio[: min(n_audio, len(pcm))] = pcm[:n_audio, :2]
        return GeneratedMedia(
            frames=np.ascontiguousarray(frames),
            audio=audio,
            fps=int(round(fps)),
            sample_rate=spec.sample_rate,
            model=self.model,
        )
