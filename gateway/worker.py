"""The job worker: claims generations from Postgres (``FOR UPDATE SKIP LOCKED`` + lease),
keeps the lease alive while it works, and finishes or hands the job back.

A worker that dies mid-job stops renewing its lease; once the lease expires another
worker claims the job (attempt + 1). The release transaction checks the lease, so the
dead worker's half-done work can never be released, and a job that exhausted its attempts
becomes ``failed`` instead of looping forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

from . import repo
from .errors import Unavailable
from .pipeline import Job, JobFailed, LeaseLost, cleanup_stale_unsigned, emit_status, finish, process
from .services import Services

log = logging.getLogger("provgate.worker")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(self, services: Services, *, concurrency: int | None = None, owner: str | None = None) -> None:
        self.services = services
        self.settings = services.settings.worker
        self.concurrency = self.settings.concurrency if concurrency is None else concurrency
        self.owner = owner or worker_id()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.completed = 0

    async def start(self) -> None:
        if self._tasks:
            return
        self._stopping.clear()
        cleanup_stale_unsigned(self.services.settings.server.artifacts_dir)
        self._tasks = [asyncio.create_task(self._loop(i), name=f"provgate-worker-{i}") for i in range(self.concurrency)]

    async def stop(self) -> None:
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def _loop(self, slot: int) -> None:
        backoff = self.settings.poll_interval_s
        while not self._stopping.is_set():
            try:
                did = await self.run_once(f"{self.owner}/{slot}")
                backoff = self.settings.poll_interval_s
                if not did:
                    await asyncio.sleep(self.settings.poll_interval_s)
            except asyncio.CancelledError:
                raise
            except Unavailable as exc:
                log.warning("worker: %s; retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)
            except Exception:
                log.exception("worker loop error")
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)

    async def claim(self, owner: str) -> Job | None:
        s = self.settings
        async with self.services.db.transaction() as conn:
            for r in await repo.fail_exhausted(conn, s.max_attempts):
                await emit_status(
                    conn,
                    r["id"],
                    r["tenant_id"],
                    "failed",
                    None,
                    attempt=r["attempts"],
                    error_code="attempts_exhausted",
                )
            row = await repo.claim_job(conn, owner, s.lease_s, s.max_attempts)
            if row is None:
                return None
            await emit_status(conn, row["id"], row["tenant_id"], "running", None, attempt=row["attempts"])
        return Job(row, owner)

    async def run_once(self, owner: str | None = None) -> bool:
        """Claim and run one job; False when the queue is empty."""
        job = await self.claim(owner or self.owner)
        if job is None:
            return False
        heartbeat = asyncio.create_task(self._heartbeat(job))
        try:
            await process(self.services, job)
            self.completed += 1
        except LeaseLost:
            log.warning("job %s: lease lost, dropping this attempt", job.id)
        except JobFailed as exc:
            await self._fail(job, exc.code, str(exc), retriable=exc.retriable)
        except Unavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - an unexpected error fails this attempt, closed
            log.exception("job %s failed", job.id)
            await self._fail(job, "internal_error", f"{type(exc).__name__}: {exc}"[:500], retriable=True)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        return True

    async def _fail(self, job: Job, code: str, message: str, *, retriable: bool) -> None:
        error = {"code": code, "message": message}
        if retriable and job.attempt < self.settings.max_attempts:
            async with self.services.db.transaction() as conn:
                delay = min(300.0, self.settings.retry_backoff_s * 2 ** (job.attempt - 1))
                await repo.requeue_job(conn, job.id, job.owner, error, delay)
            return
        with contextlib.suppress(LeaseLost):
            await finish(self.services, job, "failed", None, error=error)

    async def _heartbeat(self, job: Job) -> None:
        interval = max(0.2, self.settings.lease_s / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.services.db.connection() as conn:
                    held = await repo.extend_lease(conn, job.id, job.owner, self.settings.lease_s)
            except Unavailable:
                continue  # keep working; the release transaction re-checks the lease anyway
            if not held:
                job.lost.set()
                return
