"""The hosted Videos API backend against a local server that speaks the documented shapes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from generator.base import GenerationSpec, GeneratorError
from generator.registry import create
from generator.videos_api import GeneratorRefused, VideosApiGenerator
from tests.fake_videos_api import FakeVideosApi


@pytest.fixture()
def upstream() -> Iterator[FakeVideosApi]:
    api = FakeVideosApi().start()
    yield api
    api.stop()


def gen(api: FakeVideosApi, **kw: object) -> VideosApiGenerator:
    g = VideosApiGenerator(api.url, "upstream-key", "sora-2", poll_s=0.05, backoff_s=0.01, **kw)  # type: ignore[arg-type]
    g.start()
    return g


def test_completed_job_is_decoded_to_frames_and_pcm(upstream: FakeVideosApi) -> None:
    g = gen(upstream)
    media = g.generate(GenerationSpec("a kite over a beach", 1, 2, "480p"))
    g.stop()
    assert media.frames.shape == (60, 480, 854, 3) and media.fps == 30  # the upstream's frame rate is kept
    assert media.sample_rate == 48_000 and media.audio.shape == (96_000, 2)  # 44.1 kHz mono -> 48 kHz stereo
    assert float(np.abs(media.audio).max()) > 0.01
    assert media.model == "sora-2"
    body = upstream.bodies[0]
    assert body == {"model": "sora-2", "prompt": "a kite over a beach", "seconds": "2", "size": "854x480"}
    assert [m for m, _ in upstream.requests].count("GET") >= 2  # polled, then downloaded


def test_input_image_goes_as_input_reference(upstream: FakeVideosApi) -> None:
    img = np.zeros((64, 64, 3), dtype=np.uint8)
    g = gen(upstream)
    g.generate(GenerationSpec("animate this", 1, 1, "480p", input_image=img))
    g.stop()
    assert upstream.bodies[0]["input_reference"][:8] == b"\x89PNG\r\n\x1a\n"
    assert upstream.bodies[0]["prompt"] == "animate this"


def test_429_is_retried(upstream: FakeVideosApi) -> None:
    g = gen(upstream)
    media = g.generate(GenerationSpec("busy afternoon", 1, 1, "480p"))
    g.stop()
    assert len(media.frames) == 30
    assert [r for r in upstream.requests if r[0] == "POST"].__len__() == 3  # 429, 429, accepted


def test_upstream_refusal_is_a_refusal_not_a_failure(upstream: FakeVideosApi) -> None:
    g = gen(upstream)
    with pytest.raises(GeneratorRefused, match="moderation_blocked"):
        g.generate(GenerationSpec("please refuse this", 1, 1, "480p"))
    with pytest.raises(GeneratorRefused):
        g.generate(GenerationSpec("unsafe-later prompt", 1, 1, "480p"))
    g.stop()


def test_upstream_failure_is_retriable(upstream: FakeVideosApi) -> None:
    g = gen(upstream)
    with pytest.raises(GeneratorError) as exc:
        g.generate(GenerationSpec("explode", 1, 1, "480p"))
    g.stop()
    assert exc.value.code == "upstream_failed" and exc.value.retriable


def test_cancellation_deletes_the_upstream_job(upstream: FakeVideosApi) -> None:
    g = gen(upstream)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    with pytest.raises(GeneratorError) as exc:
        g.generate(GenerationSpec("slow sunset", 1, 1, "480p"), cancelled=stop.is_set)
    g.stop()
    assert exc.value.code == "cancelled" and time.monotonic() - t0 < 5
    assert len(upstream.deleted) == 1


def test_total_deadline(upstream: FakeVideosApi) -> None:
    g = gen(upstream, timeout_s=0.5)
    with pytest.raises(GeneratorError) as exc:
        g.generate(GenerationSpec("slow sunrise", 1, 1, "480p"))
    g.stop()
    assert exc.value.code == "upstream_timeout" and upstream.deleted


def test_unreachable_upstream_gives_up_with_a_clear_error() -> None:
    g = VideosApiGenerator("http://127.0.0.1:9", "k", poll_s=0.01, backoff_s=0.01, max_retries=2)
    with pytest.raises(GeneratorError) as exc:
        g.generate(GenerationSpec("x", 1, 1, "480p"))
    g.stop()
    assert exc.value.code == "upstream_unavailable" and "3 attempts" in str(exc.value)


def test_configuration_is_named() -> None:
    with pytest.raises(ValueError, match="PROVGATE_VIDEOS_API_URL"):
        create("videos_api", {})
    with pytest.raises(ValueError, match="PROVGATE_VIDEOS_API_URL"):
        create("videos_api", {"PROVGATE_VIDEOS_API_URL": "ftp://x"})
    assert isinstance(create("videos_api", {"PROVGATE_VIDEOS_API_URL": "http://h:1"}), VideosApiGenerator)
