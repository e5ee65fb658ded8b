"""Time per pipeline stage for a 10 s 720p 24 fps clip run through the real worker, and the
ratio (every stage except generation) / (encoding the same frames alone), same run.

    .venv/bin/python bench/pipeline.py [--duration 10] [--resolution 720p] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.localstack import Stack, create_key, start_app_thread  # noqa: E402
from generator.base import GenerationSpec  # noqa: E402
from generator.procedural import ProceduralGenerator  # noqa: E402
from provenance.media import encode_mp4  # noqa: E402

STAGES = ("generate", "check", "faces", "mark", "encode", "sign", "store", "post_generate")


def stage_sums(metrics_text: str) -> dict[str, float]:
    out = {}
    for line in metrics_text.splitlines():
        if line.startswith("provgate_stage_seconds_sum{"):
            stage = line.split('stage="')[1].split('"')[0]
            out[stage] = float(line.rsplit(" ", 1)[1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--resolution", default="720p")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print(f"# pipeline: {args.duration:.0f} s {args.resolution} 24 fps, {args.runs} runs", flush=True)
    stack = Stack.start("provgate-bench-")
    try:
        env, db_url = stack.new_tenant_env()
        thread, _app, _settings = start_app_thread(env)
        key = create_key(db_url, "bench", ["platform"])
        per_run: list[dict[str, float]] = []
        baseline: list[float] = []
        prompt = "a lighthouse beam sweeping over a stormy sea"
        with httpx.Client(
            base_url=f"http://127.0.0.1:{thread.port}", headers={"Authorization": f"Bearer {key}"}, timeout=600
        ) as c:
            before = stage_sums(c.get("/metrics").text)
            for run in range(args.runs):
                body = {
                    "prompt": prompt,
                    "user": {"id": "bench", "age_band": "adult"},
                    "seed": run,
                    "duration_s": args.duration,
                    "resolution": args.resolution,
                }
                gid = c.post("/v1/generations", json=body).json()["id"]
                while (g := c.get(f"/v1/generations/{gid}").json())["status"] in ("queued", "running"):
                    time.sleep(0.1)
                assert g["status"] == "succeeded", g
                after = stage_sums(c.get("/metrics").text)
                per_run.append({s: after.get(s, 0) - before.get(s, 0) for s in STAGES})
                before = after
                # Baseline in the same run: encode the same frames alone.
                media = ProceduralGenerator().generate(GenerationSpec(prompt, run, args.duration, args.resolution))
                with tempfile.TemporaryDirectory() as tmp:
                    t0 = time.perf_counter()
                    encode_mp4(Path(tmp) / "b.mp4", media.frames, media.audio, media.fps, media.sample_rate)
                    baseline.append(time.perf_counter() - t0)
                print(
                    f"  run {run + 1}: "
                    + " ".join(f"{s}={per_run[-1][s]:.3f}s" for s in STAGES)
                    + f" | encode-alone={baseline[-1]:.3f}s",
                    flush=True,
                )
        thread.stop()
    finally:
        stack.stop()
    med = {s: statistics.median(r[s] for r in per_run) for s in STAGES}
    enc = statistics.median(baseline)
    serial = sum(med[s] for s in ("check", "mark", "encode", "sign", "store"))
    print("\nstage          median_s")
    for s in STAGES:
        print(f"{s:<14} {med[s]:.3f}")
    print(f"{'encode-alone':<14} {enc:.3f}  (baseline: the same frames encoded alone, same run)")
    print("\npost_generate = wall time from the end of generation to release (check runs beside mark+encode)")
    print(f"ratio post_generate / encode-alone = {med['post_generate'] / enc:.2f}  (target <= 1.5)")
    ratios = [r["post_generate"] / b for r, b in zip(per_run, baseline, strict=True)]
    print(
        f"per-run ratios (each run against its own baseline): {', '.join(f'{x:.2f}' for x in ratios)}; "
        f"median {statistics.median(ratios):.2f}"
    )
    print(f"ratio sum of stages (check+mark+encode+sign+store) / encode-alone = {serial / enc:.2f}")


if __name__ == "__main__":
    main()
