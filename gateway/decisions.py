"""Consumes ``provgate.review.decisions``: reviewer tools that prefer Kafka send decisions
there instead of calling the API. Idempotent (the same decision twice changes nothing), so
at-least-once delivery is safe; offsets are committed only after a message was applied or
found unusable, so a database outage delays decisions and loses none."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import msgspec
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from schemas.api import ReviewDecisionRequest
from schemas.events import TOPIC_REVIEW_DECISIONS, ReviewDecisionMessage

from .auth import Principal
from .errors import ProvgateError, Unavailable
from .lifecycle import decide_review
from .relay import stop_kafka_client
from .services import Services

log = logging.getLogger("provgate.decisions")
_decoder = msgspec.json.Decoder(ReviewDecisionMessage)


class DecisionConsumer:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._task: asyncio.Task[None] | None = None
        self.applied = 0
        self.rejected = 0

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="provgate-decisions")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def apply(self, raw: bytes) -> bool:
        """Apply one message; True when it may be committed (applied, or unusable forever)."""
        try:
            msg = _decoder.decode(raw)
            # The same type, hence the same limits, as the API's decision body.
            body = msgspec.convert(
                {"decision": msg.decision, "notes": msg.notes, "reviewer": msg.reviewer}, ReviewDecisionRequest
            )
            principal = Principal(
                tenant_id=uuid.UUID(msg.tenant_id),
                tenant_name="",
                key_id=uuid.UUID(int=0),
                roles=frozenset({"reviewer"}),
            )
            review_id = uuid.UUID(msg.review_id)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            log.warning("decisions: dropping an unusable message: %s", exc)
            self.rejected += 1
            return True
        try:
            await decide_review(self.services, principal, review_id, body, source="kafka")
        except Unavailable:
            return False  # retry later, do not commit
        except ProvgateError as exc:
            log.warning("decisions: review %s: %s (%s)", review_id, exc.message, exc.code)
            self.rejected += 1
            return True
        self.applied += 1
        return True

    async def _loop(self) -> None:
        backoff = 0.5
        while True:
            consumer = AIOKafkaConsumer(
                TOPIC_REVIEW_DECISIONS,
                bootstrap_servers=self.services.settings.kafka.bootstrap,
                group_id=self.services.settings.kafka.group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=10_000,
                heartbeat_interval_ms=1_000,
            )
            try:
                await consumer.start()
                backoff = 0.5
                while True:
                    batch = await consumer.getmany(timeout_ms=500, max_records=100)
                    for tp, records in batch.items():
                        for rec in records:
                            while not await self.apply(rec.value or b""):
                                await asyncio.sleep(1.0)
                            await consumer.commit({tp: rec.offset + 1})
            except asyncio.CancelledError:
                raise
            except (KafkaError, OSError) as exc:
                log.warning("decisions: Kafka unavailable (%s); retrying in %.1fs", type(exc).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(10.0, backoff * 2)
            finally:
                await stop_kafka_client(consumer, consumer._client)
