"""The outbox relay: publishes outbox rows to Kafka as CloudEvents (binary mode).

At-least-once: rows are marked published only after the broker acknowledged them, so a
crash or a broker outage between send and mark re-sends the same rows with the same
``ce_id``. Kafka being down only delays events; admission never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.events import SPEC_VERSION

from . import repo
from .errors import Unavailable
from .services import Services

log = logging.getLogger("provgate.relay")


def ce_headers(r: asyncpg.Record) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", str(r["ce_id"]).encode()),
        ("ce_type", r["ce_type"].encode()),
        ("ce_source", r["ce_source"].encode()),
        ("ce_subject", r["ce_subject"].encode()),
        ("ce_time", r["ce_time"].isoformat().encode()),
        ("content-type", b"application/json"),
    ]


async def stop_kafka_client(client: Any, connections: Any, timeout: float = 5.0) -> None:
    """Stop an aiokafka producer/consumer; if a graceful stop does not finish (broker gone,
    group rebalancing), close its connections so no socket is left behind."""
    try:
        await asyncio.wait_for(client.stop(), timeout)
    except BaseException:  # noqa: BLE001 - timeouts, errors and cancellation alike
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(connections.close(), timeout)


class Relay:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings.kafka
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.connected = False

    async def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._loop(), name="provgate-relay")

    async def stop(self) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._close_producer()

    async def _producer_ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.bootstrap,
                client_id=self.settings.client_id,
                enable_idempotence=False,  # tansu rejects InitProducerId v0; ce_id de-duplicates instead
                acks="all",
                request_timeout_ms=5000,
                retry_backoff_ms=200,
                linger_ms=5,
            )
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
            self.connected = True
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        self.connected = False
        if producer is not None:
            await stop_kafka_client(producer, producer.client)

    async def _loop(self) -> None:
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                sent = await self.publish_batch()
                backoff = 0.2
                if sent == 0:
                    await asyncio.sleep(self.settings.relay_interval_s)
            except asyncio.CancelledError:
                raise
            except (TimeoutError, KafkaError, OSError) as exc:
                log.warning("relay: Kafka unavailable (%s); retrying in %.1fs", type(exc).__name__, backoff)
                await self._close_producer()
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)
            except Unavailable as exc:
                log.warning("relay: %s; retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)
            except Exception:
                log.exception("relay error")
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)

    async def publish_batch(self) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        async with self.services.db.transaction() as conn:
            rows = await repo.pending_events(conn, self.settings.relay_batch)
            if not rows:
                return 0
            producer = await self._producer_ready()
            futures = [
                await producer.send(r["topic"], value=bytes(r["data"]), key=r["key"].encode(), headers=ce_headers(r))
                for r in rows
            ]
            await asyncio.wait_for(asyncio.gather(*futures), timeout=15)
            await repo.mark_published(conn, [r["id"] for r in rows])
        self.services.metrics.events_published.inc(len(rows))
        return len(rows)
