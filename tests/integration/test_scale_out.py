"""Multi-process proof on one machine: 2 API processes and 3 worker processes share one
Postgres and one broker; 60 generations across both APIs; one worker is killed mid-job.
Every generation reaches a final state exactly once, no event is lost, no job ran to
completion twice."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from gateway.embedded import free_port
from gateway.localstack import Stack, create_key, spawn, stop_process, wait_http
from tests.conftest import consume, gen_body, wait_until

N = 60


def sql(db_url: str, query: str, *args: Any) -> list[Any]:
    import asyncio

    async def run() -> list[Any]:
        conn = await asyncpg.connect(db_url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.fixture()
def cluster() -> Iterator[dict[str, Any]]:
    stack = Stack.start("provgate-scale-")
    procs: dict[str, Any] = {}
    try:
        env, db_url = stack.new_tenant_env(
            PROVGATE_LEASE_S="3",
            PROVGATE_LOG_LEVEL="WARNING",
            PROVGATE_WATERMARK_KEY="00112233445566778899aabbccddeeff",
        )
        key = create_key(db_url, "acme", ["platform"])
        apis = []
        for i in range(2):
            port = free_port()
            procs[f"api{i}"] = spawn(
                ["serve", "--port", str(port)], env | {"PROVGATE_WORKER_CONCURRENCY": "0"}, stack.root / f"api{i}.log"
            )
            apis.append(f"http://127.0.0.1:{port}")
        for i in range(3):
            procs[f"worker{i}"] = spawn(["worker"], env, stack.root / f"worker{i}.log")
        for i, url in enumerate(apis):
            wait_http(f"{url}/healthz", proc=procs[f"api{i}"])
        yield {"stack": stack, "apis": apis, "key": key, "db": db_url, "procs": procs}
    finally:
        for p in procs.values():
            stop_process(p)
        stack.stop()


def test_two_apis_three_workers_sixty_generations_one_worker_killed(cluster: dict[str, Any]) -> None:
    apis, key, db = cluster["apis"], cluster["key"], cluster["db"]

    def submit(i: int) -> str:
        with httpx.Client(base_url=apis[i % 2], headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
            r = c.post(
                "/v1/generations",
                json=gen_body(f"scene {i}: boats on a lake", seed=i),
                headers={"Idempotency-Key": f"job-{i}"},
            )
            assert r.status_code == 202, r.text
            return str(r.json()["id"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(submit, range(N)))
    assert len(set(ids)) == N

    victim = cluster["procs"]["worker0"]
    held: list[dict[str, Any]] = []

    def frozen_holding_a_job() -> bool:
        """Stop worker0 while it holds a job, so that the job it is killed with is the job read
        here (unstopped, it can finish the job between the read and the kill)."""
        running = "SELECT id FROM generations WHERE status = 'running' AND lease_owner LIKE $1"
        if not sql(db, running, f"%:{victim.pid}:%"):
            return False
        os.killpg(victim.pid, signal.SIGSTOP)
        held[:] = sql(db, running, f"%:{victim.pid}:%")
        if not held:  # it finished in between: let it take another
            os.killpg(victim.pid, signal.SIGCONT)
        return bool(held)

    wait_until(frozen_holding_a_job, timeout=120, what="worker0 to hold a job")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(10)

    final = {"succeeded", "blocked", "under_review", "failed"}
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        rows = sql(db, "SELECT id, status, attempts FROM generations WHERE id = ANY($1::uuid[])", ids)
        if all(r["status"] in final for r in rows):
            break
        time.sleep(1)
    rows = {
        str(r["id"]): r for r in sql(db, "SELECT id, status, attempts FROM generations WHERE id = ANY($1::uuid[])", ids)
    }
    assert {r["status"] for r in rows.values()} == {"succeeded"}, Counter(r["status"] for r in rows.values())
    killed_job = str(held[0]["id"])
    assert rows[killed_job]["attempts"] >= 2  # picked up again after the lease expired

    # Exactly once: one final event per generation, started once per attempt.
    outbox = sql(db, "SELECT ce_id, ce_type, ce_subject FROM outbox WHERE ce_subject = ANY($1::text[])", ids)
    per = Counter((r["ce_subject"], r["ce_type"]) for r in outbox)
    for gid in ids:
        assert per[(gid, "provgate.generation.released")] == 1
        assert per[(gid, "provgate.generation.admitted")] == 1
        assert per[(gid, "provgate.generation.started")] == rows[gid]["attempts"]
    artifacts = list(cluster["stack"].root.rglob("*.mp4"))
    assert Counter(p.name.split(".")[0] for p in artifacts if not p.name.startswith(".")) == dict.fromkeys(ids, 1)

    # No event lost: every outbox row of these generations reaches Kafka (ce_id de-duplicates).
    wanted = {str(r["ce_id"]) for r in outbox}
    events = consume(
        cluster["stack"].kafka.bootstrap,
        "provgate.audit",
        until=lambda evs: wanted <= {e["headers"]["ce_id"] for e in evs},
        timeout=120,
    )
    assert wanted <= {e["headers"]["ce_id"] for e in events}
