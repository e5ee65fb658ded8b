"""provgate in front of a hosted Videos API: the same checks, marks and signature apply, and
the upstream's own refusal becomes a provgate block."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, Stack, gen_body, start_server, wait_for
from tests.fake_videos_api import FakeVideosApi


@pytest.fixture(scope="module")
def hosted(stack: Stack) -> Iterator[tuple[Server, FakeVideosApi]]:
    upstream = FakeVideosApi().start()
    srv = start_server(
        stack,
        PROVGATE_GENERATOR="videos_api",
        PROVGATE_VIDEOS_API_URL=upstream.url,
        PROVGATE_VIDEOS_API_KEY="upstream-key",
        PROVGATE_VIDEOS_API_MODEL="sora-2",
    )
    yield srv, upstream
    srv.thread.stop()
    upstream.stop()


def test_hosted_video_is_checked_marked_and_signed(hosted: tuple[Server, FakeVideosApi], tmp_path: Path) -> None:
    srv, upstream = hosted
    with srv.client() as c:
        gid = c.post("/v1/generations", json=gen_body("a lighthouse in the fog", duration_s=3)).json()["id"]
        g = wait_for(c, gid)
        assert g["status"] == "succeeded", g
        out = tmp_path / "hosted.mp4"
        out.write_bytes(c.get(f"/v1/generations/{gid}/content").content)
        v = c.post("/v1/verify", files={"file": ("h.mp4", out.read_bytes(), "video/mp4")}).json()
    assert v["consistent"] and v["c2pa"]["state"] == "Trusted" and v["watermark"]["audio_found"] is True
    assert any("by sora-2" in a for a in v["c2pa"]["actions"])  # softwareAgent = the upstream model
    assert upstream.bodies[-1]["size"] == "854x480" and upstream.bodies[-1]["seconds"] == "3"


def test_upstream_refusal_is_a_block_with_its_reason(hosted: tuple[Server, FakeVideosApi]) -> None:
    srv, _ = hosted
    with srv.client() as c:
        gid = c.post("/v1/generations", json=gen_body("please refuse this harmless clip")).json()["id"]
        g = wait_for(c, gid)
    assert g["status"] == "blocked"
    assert g["decision"]["stage"] == "generator" and "moderation_blocked" in g["decision"]["reasons"][0]
    assert g["content"] is None


def test_diffusers_backend_end_to_end_marked_on_the_device(stack: Stack, tmp_path: Path) -> None:
    from tests.tiny_diffusers import build_tiny_t2v

    models = tmp_path / "models"
    build_tiny_t2v(models)
    srv = start_server(
        stack,
        PROVGATE_GENERATOR="diffusers",
        PROVGATE_MODELS_DIR=str(models),
        PROVGATE_DIFFUSERS_MODEL="tiny-t2v",
        PROVGATE_DIFFUSERS_STEPS="2",
        PROVGATE_DIFFUSERS_FPS="8",
        PROVGATE_DIFFUSERS_RENDER="48x32",
    )
    try:
        with srv.client() as c:
            gid = c.post("/v1/generations", json=gen_body("a quiet pond", duration_s=2)).json()["id"]
            g = wait_for(c, gid)
            assert g["status"] == "succeeded", g
            out = tmp_path / "d.mp4"
            out.write_bytes(c.get(f"/v1/generations/{gid}/content").content)
            v = c.post("/v1/verify", files={"file": ("d.mp4", out.read_bytes(), "video/mp4")}).json()
        assert v["consistent"] and v["watermark"]["generation_id"] == gid
        assert any("by tiny-t2v-random" in a for a in v["c2pa"]["actions"])
    finally:
        srv.thread.stop()
