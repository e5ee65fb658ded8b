"""Admission throughput: POST /v1/generations requests/s and p50/p99 latency with 32
concurrent clients against an API-only provgate process (workers elsewhere, as in a
scaled deployment), on embedded Postgres and Kafka.

    .venv/bin/python bench/admission.py [--clients 32] [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.embedded import free_port  # noqa: E402
from gateway.localstack import Stack, create_key  # noqa: E402


async def load(url: str, key: str, clients: int, total: int) -> tuple[list[float], dict[int, int], float]:
    latencies: list[float] = []
    codes: dict[int, int] = {}
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=30
    ) as c:

        async def client(n: int) -> None:
            for i in counter:
                body = {
                    "prompt": f"a paper boat number {i} on a pond",
                    "user": {"id": f"u{i % 50}", "age_band": "adult"},
                    "duration_s": 2,
                    "resolution": "480p",
                }
                t0 = time.perf_counter()
                r = await c.post("/v1/generations", json=body)
                latencies.append(time.perf_counter() - t0)
                codes[r.status_code] = codes.get(r.status_code, 0) + 1

        # Warm-up (connections, key cache, prepared statements), not measured.
        for _ in range(20):
            await c.post("/v1/generations", json={"prompt": "warm", "user": {"id": "w", "age_band": "adult"}})
        t0 = time.perf_counter()
        await asyncio.gather(*(client(n) for n in range(clients)))
        wall = time.perf_counter() - t0
    return latencies, codes, wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=3000)
    args = ap.parse_args()
    stack = Stack.start("provgate-bench-")
    proc = None
    try:
        env, db_url = stack.new_tenant_env(
            PROVGATE_WORKER_CONCURRENCY="0",
            PROVGATE_RATE_PER_S="1000000",
            PROVGATE_RATE_BURST="1000000",
            PROVGATE_DB_POOL_MAX="20",
            PROVGATE_LOG_LEVEL="WARNING",
        )
        port = free_port()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("PROVGATE_")} | env
        key = create_key(db_url, "bench", ["platform"])
        log = open(stack.root / "serve.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit((stack.root / "serve.log").read_text())
            time.sleep(0.2)
        print(f"# admission: {args.requests} requests, {args.clients} concurrent clients, API-only process", flush=True)
        lat, codes, wall = asyncio.run(load(url, key, args.clients, args.requests))
        lat.sort()
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
        print(f"status codes: {codes}")
        print(f"throughput: {len(lat) / wall:.0f} requests/s over {wall:.1f} s")
        print(f"latency: p50 {p(0.50):.1f} ms  p99 {p(0.99):.1f} ms  mean {statistics.mean(lat) * 1000:.1f} ms")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        stack.stop()


if __name__ == "__main__":
    main()
