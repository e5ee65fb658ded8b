"""Review console and decision figures: time to first render of a queue of 500 items,
measured in headless Chromium (performance.now() from navigation start to the queue being
in the DOM), and review decisions per second through the API with 16 concurrent reviewers.

    .venv/bin/python bench/console.py [--items 500]

The 500 review items are inserted directly (generation + open review rows): this measures the
console and the decision path, not the generation pipeline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.localstack import Stack, create_key, start_app_thread  # noqa: E402
from tests.browser.chromium import FLAGS, executable  # noqa: E402


async def seed(db: str, tenant_name: str, n: int) -> list[str]:
    conn = await asyncpg.connect(db)
    try:
        tenant = await conn.fetchval("SELECT id FROM tenants WHERE name = $1", tenant_name)
        ids = []
        for i in range(n):
            gid, rid = uuid.uuid4(), uuid.uuid4()
            await conn.execute(
                "INSERT INTO generations (id, tenant_id, user_id, age_band, prompt, duration_s, resolution, fps, seed, "
                "status, policy_version) VALUES ($1, $2, 'u', 'adult', $3, 2, '480p', 24, $4, 'under_review', 'bench')",
                gid,
                tenant,
                f"item {i}: a street fight turns into a knife attack",
                i,
            )
            await conn.execute(
                "INSERT INTO reviews (id, tenant_id, generation_id, priority, categories, reasons, deadline) "
                "VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, now() + interval '1 day')",
                rid,
                tenant,
                gid,
                i % 7,
                json.dumps({"violence": 0.5 + (i % 50) / 100}),
                json.dumps(["violence >= review", "lexicon: violence (attack, fight, knife)"]),
            )
            ids.append(str(rid))
        return ids
    finally:
        await conn.close()


def first_render(url: str, key: str, runs: int) -> tuple[list[float], int]:
    from playwright.sync_api import sync_playwright

    out, size = [], 0
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable() or "/usr/bin/chromium", args=FLAGS)
        for _ in range(runs):
            ctx = b.new_context()
            ctx.add_init_script(f"sessionStorage.setItem('provgate-key', {json.dumps(key)})")
            page = ctx.new_page()
            page.goto(f"{url}/console")
            page.wait_for_function("() => window.__firstRender !== undefined", timeout=60_000)
            out.append(page.evaluate("window.__firstRender"))
            size = page.evaluate("window.__queueSize")
            ctx.close()
        b.close()
    return out, size


async def decide_all(url: str, key: str, ids: list[str], concurrency: int) -> float:
    it = iter(ids)
    async with httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
        limits=httpx.Limits(max_connections=concurrency),
    ) as c:

        async def reviewer() -> None:
            for rid in it:
                r = await c.post(f"/v1/reviews/{rid}/decision", json={"decision": "approve"})
                assert r.status_code == 200, r.text

        t0 = time.perf_counter()
        await asyncio.gather(*(reviewer() for _ in range(concurrency)))
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=500)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    stack = Stack.start("provgate-bench-")
    try:
        env, db = stack.new_tenant_env(
            PROVGATE_WORKER_CONCURRENCY="0", PROVGATE_RATE_PER_S="100000", PROVGATE_RATE_BURST="100000"
        )
        thread, _app, _settings = start_app_thread(env)
        key = create_key(db, "bench", ["platform", "reviewer"])
        ids = asyncio.run(seed(db, "bench", args.items))
        url = f"http://127.0.0.1:{thread.port}"
        times, size = first_render(url, key, args.runs)
        wall = asyncio.run(decide_all(url, key, ids, 16))
        thread.stop()
    finally:
        stack.stop()
    print(f"# console: queue of {size} items, {args.runs} page loads in headless Chromium")
    print(
        f"time to first render (navigation start -> queue in the DOM): median {statistics.median(times):.0f} ms, "
        f"max {max(times):.0f} ms"
    )
    print(f"# decisions: {len(ids)} approvals through POST /v1/reviews/{{id}}/decision, 16 concurrent reviewers")
    print(f"throughput: {len(ids) / wall:.0f} decisions/s ({wall:.2f} s)")


if __name__ == "__main__":
    main()
