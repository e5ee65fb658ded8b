"""Generations per minute with 1, 2 and 3 worker processes (procedural generator) on one
machine, one API process, embedded Postgres and Kafka; the scaling curve of this box.

    .venv/bin/python bench/scale.py [--jobs 24] [--duration 2] [--resolution 480p]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.embedded import free_port  # noqa: E402
from gateway.localstack import Stack, create_key, spawn, stop_process, wait_http  # noqa: E402

FINAL = ("succeeded", "blocked", "under_review", "failed")


async def count_final(db: str, ids: list[str]) -> int:
    conn = await asyncpg.connect(db)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM generations WHERE id = ANY($1::uuid[]) AND status = ANY($2::text[])",
                ids,
                list(FINAL),
            )
        )
    finally:
        await conn.close()


def run(stack: Stack, workers: int, jobs: int, duration: float, resolution: str) -> float:
    env, db = stack.new_tenant_env(PROVGATE_LOG_LEVEL="WARNING")
    key = create_key(db, "bench", ["platform"])
    port = free_port()
    procs = [
        spawn(
            ["serve", "--port", str(port)],
            env | {"PROVGATE_WORKER_CONCURRENCY": "0"},
            stack.root / f"api-{workers}.log",
        )
    ]
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=procs[0])
        procs += [spawn(["worker"], env, stack.root / f"w{workers}-{i}.log") for i in range(workers)]
        time.sleep(4)  # let every worker load its models before the clock starts
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as c:
            t0 = time.perf_counter()
            ids = [
                c.post(
                    "/v1/generations",
                    json={
                        "prompt": f"scene {i}",
                        "user": {"id": "b", "age_band": "adult"},
                        "duration_s": duration,
                        "resolution": resolution,
                        "seed": i,
                    },
                ).json()["id"]
                for i in range(jobs)
            ]
            while asyncio.run(count_final(db, ids)) < jobs:
                time.sleep(0.25)
            wall = time.perf_counter() - t0
        return jobs / wall * 60
    finally:
        for p in procs:
            stop_process(p)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=24)
    ap.add_argument("--duration", type=float, default=2)
    ap.add_argument("--resolution", default="480p")
    args = ap.parse_args()
    print(f"# scale: {args.jobs} generations of {args.duration:.0f} s {args.resolution}, 1 API process", flush=True)
    stack = Stack.start("provgate-bench-")
    try:
        results = {}
        for n in (1, 2, 3):
            results[n] = run(stack, n, args.jobs, args.duration, args.resolution)
            print(f"  {n} worker(s): {results[n]:.1f} generations/min", flush=True)
    finally:
        stack.stop()
    print("\nworkers  generations/min  speed-up vs 1")
    for n, gpm in results.items():
        print(f"{n:>7}  {gpm:>15.1f}  {gpm / results[1]:>13.2f}")


if __name__ == "__main__":
    main()
