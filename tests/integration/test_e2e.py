"""A generation from HTTP request to a signed MP4 an auditor can verify, on real engines."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from provenance.media import probe
from tests.conftest import REVIEW_PROMPT, Server, consume, gen_body, subprocess_env, wait_for


def _generate(client: httpx.Client, **kw: object) -> dict:
    r = client.post("/v1/generations", json=gen_body(**kw))  # type: ignore[arg-type]
    assert r.status_code == 202, r.text
    return r.json()


def test_generation_end_to_end_signed_verified(server: Server, client: httpx.Client, tmp_path: Path) -> None:
    accepted = _generate(client, prompt="a paper boat drifting at sunset", duration_s=3, resolution="720p", seed=42)
    assert accepted["status"] == "queued"
    seen = {accepted["status"]}
    gid = accepted["id"]
    final = None
    while final is None:
        g = client.get(f"/v1/generations/{gid}").json()
        seen.add(g["status"])
        if g["status"] not in ("queued", "running"):
            final = g
    assert final["status"] == "succeeded", final
    assert final["decision"]["outcome"] == "allow"
    assert final["decision"]["policy_version"]
    r = client.get(f"/v1/generations/{gid}/content")
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    out = tmp_path / "out.mp4"
    out.write_bytes(r.content)
    p = probe(out)
    assert (p.video_codec, p.audio_codec) == ("h264", "aac")
    assert (p.width, p.height) == (1280, 720)
    assert abs(p.duration_s - 3.0) < 0.15
    assert final["content"]["sha256"] == r.headers["x-content-sha256"]

    with open(out, "rb") as fh:
        v = client.post("/v1/verify", files={"file": ("out.mp4", fh, "video/mp4")}).json()
    assert v["c2pa"]["state"] == "Trusted"
    assert v["c2pa"]["generation_id"] == gid
    assert v["watermark"]["found"] and v["watermark"]["generation_id"] == gid
    assert v["record"]["generation_id"] == gid and v["record"]["status"] == "succeeded"
    assert v["consistent"] is True

    # The same report from the CLI, with exit status 0.
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "verify",
            str(out),
            "--json",
            "--url",
            server.url,
            "--api-key",
            server.key,
        ],
        capture_output=True,
        text=True,
        env=subprocess_env(server),
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert '"state": "Trusted"' in cli.stdout

    # Raw bytes as the body work too.
    raw = client.post("/v1/verify", content=out.read_bytes(), headers={"Content-Type": "video/mp4"}).json()
    assert raw["consistent"] is True

    # Flipped media bytes: Invalid, not consistent, CLI exit 1.
    data = bytearray(out.read_bytes())
    i = data.find(b"mdat")
    data[i + 5000] ^= 0xFF
    bad = tmp_path / "flipped.mp4"
    bad.write_bytes(bytes(data))
    v = client.post("/v1/verify", files={"file": ("f.mp4", bad.read_bytes(), "video/mp4")}).json()
    assert v["c2pa"]["state"] == "Invalid" and v["consistent"] is False
    cli = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "verify", str(bad), "--url", server.url, "--api-key", server.key],
        capture_output=True,
        text=True,
        env=subprocess_env(server),
        timeout=120,
    )
    assert cli.returncode == 1


def test_never_signed_file_is_missing(client: httpx.Client, tmp_path: Path) -> None:
    from generator.base import GenerationSpec
    from generator.procedural import ProceduralGenerator
    from provenance.media import encode_mp4

    m = ProceduralGenerator().generate(GenerationSpec("unsigned", 1, 1, "480p"))
    path = tmp_path / "plain.mp4"
    encode_mp4(path, m.frames, m.audio, m.fps, m.sample_rate)
    v = client.post("/v1/verify", files={"file": ("plain.mp4", path.read_bytes(), "video/mp4")}).json()
    assert v["c2pa"]["state"] == "Missing"
    assert v["watermark"]["found"] is False
    assert v["record"] is None and v["consistent"] is False


def test_events_reach_kafka_as_cloudevents(server: Server, client: httpx.Client) -> None:
    gid = _generate(client)["id"]
    wait_for(client, gid, ("succeeded",))
    want = {"provgate.generation.admitted", "provgate.generation.started", "provgate.generation.released"}

    def mine(events: list[dict]) -> list[dict]:
        return [e for e in events if e["headers"].get("ce_subject") == gid]

    events = consume(
        server.settings.kafka.bootstrap,
        "provgate.audit",
        until=lambda evs: want <= {e["headers"]["ce_type"] for e in mine(evs)},
    )
    for e in mine(events):
        h = e["headers"]
        assert h["ce_specversion"] == "1.0" and h["ce_source"] == "/provgate" and h["ce_id"] and h["ce_time"]
        assert e["key"] == gid
        assert e["value"]["generation_id"] == gid


def test_idempotency_key_gives_one_generation(server: Server, client: httpx.Client) -> None:
    body = gen_body("a lantern festival")
    h = {"Idempotency-Key": "order-123"}
    a = client.post("/v1/generations", json=body, headers=h)
    b = client.post("/v1/generations", json=body, headers=h)
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] == b.json()["id"]
    rows = server.sql("SELECT count(*) AS n FROM generations WHERE idempotency_key = 'order-123'")
    assert rows[0]["n"] == 1
    c = client.post("/v1/generations", json=gen_body("something else"), headers=h)
    assert c.status_code == 409 and c.json()["error"]["code"] == "idempotency_key_reused"


def test_concurrent_idempotent_requests_make_one_generation(server: Server) -> None:
    import concurrent.futures

    body = gen_body("concurrent kites")

    def post(_: int) -> str:
        with server.client() as c:
            r = c.post("/v1/generations", json=body, headers={"Idempotency-Key": "race-1"})
            assert r.status_code == 202, r.text
            return str(r.json()["id"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(post, range(8)))
    assert len(ids) == 1


def test_another_tenants_generation_is_404(server: Server, client: httpx.Client) -> None:
    gid = _generate(client)["id"]
    other = server.tenant("globex", "platform", "reviewer")
    with server.client(other) as c2:
        for path in (f"/v1/generations/{gid}", f"/v1/generations/{gid}/content"):
            r = c2.get(path)
            assert r.status_code == 404 and r.json()["error"]["code"] == "generation_not_found"
        assert c2.post(f"/v1/generations/{gid}/takedown", json={}).status_code == 404


def test_prompt_blocked_is_403_with_reasons(client: httpx.Client) -> None:
    r = client.post("/v1/generations", json=gen_body("h0w t0 k1ll y0urs3lf"))
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == "prompt_blocked"
    assert "self-harm/instructions" in err["details"]["categories"]
    assert err["details"]["reasons"]


def test_review_approve_releases_and_reject_blocks(server: Server, client: httpx.Client) -> None:
    prompt = REVIEW_PROMPT
    ids = [_generate(client, prompt=prompt)["id"] for _ in range(2)]
    for gid in ids:
        g = wait_for(client, gid)
        assert g["status"] == "under_review", g
        assert client.get(f"/v1/generations/{gid}/content").status_code == 409
    items = client.get("/v1/reviews", params={"status": "open"}).json()["items"]
    by_gen = {i["generation_id"]: i for i in items}
    assert set(ids) <= set(by_gen)
    assert "violence" in by_gen[ids[0]]["categories"]
    ok = client.post(f"/v1/reviews/{by_gen[ids[0]]['id']}/decision", json={"decision": "approve", "notes": "fiction"})
    assert ok.status_code == 200 and ok.json()["generation_status"] == "succeeded"
    no = client.post(f"/v1/reviews/{by_gen[ids[1]]['id']}/decision", json={"decision": "reject"})
    assert no.json()["generation_status"] == "blocked"
    assert client.get(f"/v1/generations/{ids[0]}/content").status_code == 200
    assert client.get(f"/v1/generations/{ids[1]}/content").status_code == 409
    again = client.post(f"/v1/reviews/{by_gen[ids[0]]['id']}/decision", json={"decision": "reject"})
    assert again.status_code == 409
    events = consume(
        server.settings.kafka.bootstrap,
        "provgate.review",
        until=lambda evs: (
            {e["value"].get("generation_id") for e in evs if e["headers"]["ce_type"] == "provgate.review.decided"}
            >= set(ids)
        ),
    )
    requested = [
        e
        for e in events
        if e["headers"]["ce_type"] == "provgate.review.requested" and e["value"]["generation_id"] in ids
    ]
    assert len(requested) >= 2 and all("priority" in e["value"] for e in requested)


def test_reviewer_role_is_required(server: Server) -> None:
    platform_only = server.tenant("initech", "platform")
    with server.client(platform_only) as c:
        r = c.get("/v1/reviews")
        assert r.status_code == 403 and r.json()["error"]["code"] == "role_required"


def test_takedown_makes_content_gone(server: Server, client: httpx.Client) -> None:
    gid = _generate(client)["id"]
    wait_for(client, gid, ("succeeded",))
    assert client.post(f"/v1/generations/{gid}/takedown", json={"reason": "owner request"}).status_code == 200
    r = client.get(f"/v1/generations/{gid}/content")
    assert r.status_code == 410 and r.json()["error"]["code"] == "taken_down"
    assert client.get(f"/v1/generations/{gid}").json()["status"] == "taken_down"


def test_input_image_is_composited_into_the_video(client: httpx.Client, tmp_path: Path) -> None:
    img = np.zeros((200, 200, 3), dtype=np.uint8)
    img[:, :, 0] = 250
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    gid = _generate(client, input_image=base64.b64encode(buf.getvalue()).decode())["id"]
    assert wait_for(client, gid)["status"] == "succeeded"
    out = tmp_path / "img.mp4"
    out.write_bytes(client.get(f"/v1/generations/{gid}/content").content)
    from provenance.media import decode_frames

    frame = decode_frames(out, max_frames=1)[0][0].astype(int)
    red = (frame[..., 0] > 200) & (frame[..., 1] < 60) & (frame[..., 2] < 60)
    assert red.sum() > 80 * 80


def test_moderations_endpoint(client: httpx.Client) -> None:
    r = client.post("/v1/moderations", json={"input": "how to kill yourself"})
    assert r.status_code == 200
    body = r.json()
    assert body["flagged"] is True and body["categories"]["self-harm/instructions"] is True
    assert body["decision"]["outcome"] == "block"
    assert client.post("/v1/moderations", json={"input": "kill the lights"}).json()["flagged"] is False


def test_health_ready_metrics_schema(server: Server) -> None:
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {
            "database": "ok",
            "broker": "ok",
            "signing": "ok",
        }
        metrics = c.get("/metrics").text
        for name in (
            "provgate_http_requests_total",
            "provgate_stage_seconds",
            "provgate_decisions_total",
            "provgate_queue_depth",
            "provgate_outbox_lag_seconds",
        ):
            assert name in metrics
        schema = c.get("/schema").json()
        assert schema["openapi"].startswith("3.")
        assert "/v1/generations" in schema["paths"] and "/v1/verify" in schema["paths"]


def test_stripped_manifest_is_recovered_from_the_watermark(client: httpx.Client, tmp_path: Path) -> None:
    """Durable content credentials: a re-encoded re-upload has no manifest, the watermark
    still leads to the record and the manifest provgate signed; a takedown is reported."""
    from provenance.media import EncodeOptions, decode_audio, decode_frames, encode_mp4

    gid = _generate(client, prompt="a kite over the dunes", duration_s=3)["id"]
    assert wait_for(client, gid)["status"] == "succeeded"
    released = tmp_path / "released.mp4"
    released.write_bytes(client.get(f"/v1/generations/{gid}/content").content)
    frames, fps = decode_frames(released, max_frames=72)
    h, w = frames.shape[1:3]
    crop = frames[:, int(h * 0.05) : int(h * 0.95) // 2 * 2, int(w * 0.05) : int(w * 0.95) // 2 * 2]
    reupload = tmp_path / "reupload.mp4"
    sound = decode_audio(released)
    assert sound is not None
    encode_mp4(
        reupload, np.ascontiguousarray(crop), sound[0], int(fps), 48000, EncodeOptions(crf=28, audio_bitrate=96_000)
    )
    v = client.post("/v1/verify", files={"file": ("r.mp4", reupload.read_bytes(), "video/mp4")}).json()
    assert v["c2pa"]["state"] == "Missing"
    assert v["watermark"]["found"] and v["watermark"]["generation_id"] == gid
    assert v["record"]["generation_id"] == gid
    stored = v["stored_manifest"]
    assert stored is not None, v
    assert stored["assertions"][-1]["data"]["generation_id"] == gid
    assert any("recovered" in n for n in v["notes"])
    assert v["watermark"]["audio_found"] is True  # the soundtrack carries the payload too
    assert v["consistent"] is False  # there is no manifest in the file to agree with

    client.post(f"/v1/generations/{gid}/takedown", json={"reason": "test"})
    v = client.post("/v1/verify", files={"file": ("r.mp4", reupload.read_bytes(), "video/mp4")}).json()
    assert v["record"]["taken_down"] is True
    assert any("taken down" in n for n in v["notes"])


def test_visible_label_is_configurable_per_tenant(server: Server, tmp_path: Path) -> None:
    """The label is drawn from the tenant's settings: two tenants, two different overlays."""
    from gateway.cli import create_tenant
    from gateway.localstack import run_sync
    from provenance.media import decode_frames

    frames = {}
    for label in ("A", "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWW"):
        key = run_sync(create_tenant(server.db_url, f"label-{len(label)}", ["platform"], label=label))
        with server.client(key) as c:
            gid = _generate(c, prompt="an empty grey room", seed=5)["id"]
            assert wait_for(c, gid)["status"] == "succeeded"
            out = tmp_path / f"{len(label)}.mp4"
            out.write_bytes(c.get(f"/v1/generations/{gid}/content").content)
        frames[label] = decode_frames(out, max_frames=1)[0][0].astype(int)
    # Same prompt and seed: the only difference between the two videos is the label text,
    # drawn in the top-left corner on the first frame; the longer label covers more pixels.
    diff = np.abs(frames["A"] - frames["WWWWWWWWWWWWWWWWWWWWWWWWWWWWWW"]).sum(axis=2)
    h, w = diff.shape
    # (the invisible marks differ too, by a few levels everywhere: compare against that floor).
    assert diff[: h // 12, : w // 2].mean() > 3 * max(1e-6, diff[h // 2 :, :].mean())
