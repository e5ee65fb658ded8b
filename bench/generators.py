"""Hosted-backend latency: provgate's added time over the upstream's own time, same run,
against the local Videos API server (which takes --upstream-s to "generate").

    .venv/bin/python bench/generators.py [--runs 5] [--seconds 4] [--upstream-s 2]

Three figures per run: the upstream's own time (a bare client: create, poll, download),
provgate's generator stage (the same calls + decoding the MP4 to frames and PCM), and the
whole provgate job (admission to release: generator, checks, marks, encode, sign).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.localstack import Stack, create_key, start_app_thread  # noqa: E402
from generator.base import GenerationSpec  # noqa: E402
from generator.videos_api import VideosApiGenerator  # noqa: E402
from tests.fake_videos_api import FakeVideosApi  # noqa: E402


def bare(url: str, prompt: str, seconds: int) -> float:
    t0 = time.perf_counter()
    with httpx.Client(base_url=url, headers={"Authorization": "Bearer upstream-key"}, timeout=60) as c:
        v = c.post(
            "/v1/videos", json={"model": "sora-2", "prompt": prompt, "seconds": str(seconds), "size": "1280x720"}
        ).json()
        while v["status"] not in ("completed", "failed"):
            time.sleep(0.05)
            v = c.get(f"/v1/videos/{v['id']}").json()
        c.get(f"/v1/videos/{v['id']}/content").raise_for_status()
    return time.perf_counter() - t0


def diffusers_per_step(runs: int) -> tuple[float, float]:
    """Time per denoising step of the tiny random-weight pipeline on this CPU (slope between
    2 and 8 steps, so fixed costs such as VAE decoding cancel out), and one whole call."""
    import tempfile

    from generator.registry import create
    from tests.tiny_diffusers import build_tiny_t2v

    with tempfile.TemporaryDirectory() as tmp:
        build_tiny_t2v(Path(tmp))
        times = {}
        for steps in (2, 8):
            g = create(
                "diffusers",
                {
                    "PROVGATE_MODELS_DIR": tmp,
                    "PROVGATE_DIFFUSERS_MODEL": "tiny-t2v",
                    "PROVGATE_DIFFUSERS_STEPS": str(steps),
                    "PROVGATE_DIFFUSERS_FPS": "8",
                    "PROVGATE_DIFFUSERS_RENDER": "64x64",
                },
            )
            g.start()
            g.generate(GenerationSpec("warm up", 0, 2, "480p"))
            samples = []
            for i in range(runs):
                t0 = time.perf_counter()
                g.generate(GenerationSpec("a quiet pond", i, 2, "480p"))
                samples.append(time.perf_counter() - t0)
            times[steps] = statistics.median(samples)
            g.stop()
    return (times[8] - times[2]) / 6, times[2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--upstream-s", type=float, default=2.0)
    args = ap.parse_args()
    upstream = FakeVideosApi(processing_s=args.upstream_s).start()
    stack = Stack.start("provgate-bench-")
    try:
        env, db = stack.new_tenant_env(
            PROVGATE_GENERATOR="videos_api",
            PROVGATE_VIDEOS_API_URL=upstream.url,
            PROVGATE_VIDEOS_API_KEY="upstream-key",
            PROVGATE_LOG_LEVEL="WARNING",
        )
        thread, _app, _ = start_app_thread(env)
        key = create_key(db, "bench", ["platform"])
        gen = VideosApiGenerator(upstream.url, "upstream-key", poll_s=0.05)
        rows = []
        with httpx.Client(
            base_url=f"http://127.0.0.1:{thread.port}", headers={"Authorization": f"Bearer {key}"}, timeout=120
        ) as c:
            for i in range(args.runs):
                prompt = f"a lighthouse in the fog, take {i}"
                direct = bare(upstream.url, prompt, args.seconds)
                t0 = time.perf_counter()
                gen.generate(GenerationSpec(prompt, i, args.seconds, "720p"))
                stage = time.perf_counter() - t0
                t0 = time.perf_counter()
                gid = c.post(
                    "/v1/generations",
                    json={
                        "prompt": prompt,
                        "user": {"id": "b", "age_band": "adult"},
                        "duration_s": args.seconds,
                        "resolution": "720p",
                    },
                ).json()["id"]
                while c.get(f"/v1/generations/{gid}").json()["status"] in ("queued", "running"):
                    time.sleep(0.05)
                job = time.perf_counter() - t0
                rows.append((direct, stage, job))
                print(
                    f"  run {i + 1}: upstream {direct:.2f}s  generator stage {stage:.2f}s  whole job {job:.2f}s",
                    flush=True,
                )
        gen.stop()
        thread.stop()
    finally:
        stack.stop()
        upstream.stop()
    d, s, j = (statistics.median(col) for col in zip(*rows, strict=True))
    print(
        f"\n# hosted backend, {args.seconds} s 720p clips, upstream takes {args.upstream_s:.1f} s + render, "
        f"median of {args.runs}"
    )
    print(f"upstream's own time (bare client)        {d:.2f} s")
    print(f"provgate generator stage                 {s:.2f} s  (+{s - d:.2f} s: polling granularity, MP4 decode)")
    print(
        f"provgate whole job (admission->release)  {j:.2f} s  (+{j - d:.2f} s over the upstream: "
        f"checks, marks, encode, sign, queue)"
    )
    step, call = diffusers_per_step(args.runs)
    print("\n# diffusers backend, tiny random-weight text-to-video pipeline on this CPU (16 frames at 64x64)")
    print(f"time per denoising step                  {step * 1000:.1f} ms")
    print(f"one 2-step call (incl. VAE decode, resize to 480p, copy)  {call * 1000:.0f} ms")


if __name__ == "__main__":
    main()
