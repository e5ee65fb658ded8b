"""A complete provgate on this machine, for tests and benchmarks: embedded Postgres and
Kafka in a temporary directory, and servers running the real app in a thread."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenance.keys import init_dev_keys

from .embedded import EmbeddedKafka, EmbeddedPostgres, free_port
from .settings import Settings


@dataclass
class Stack:
    root: Path
    pg: EmbeddedPostgres
    kafka: EmbeddedKafka

    @classmethod
    def start(cls, prefix: str = "provgate-") -> Stack:
        root = Path(tempfile.mkdtemp(prefix=prefix))
        root.chmod(root.stat().st_mode | stat.S_IXOTH | stat.S_IROTH)
        pg = EmbeddedPostgres(root / "pg")
        pg.start()
        kafka = EmbeddedKafka(root / "kafka")
        kafka.start()
        return cls(root, pg, kafka)

    def stop(self) -> None:
        self.kafka.stop()
        self.pg.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def new_tenant_env(self, **extra: str) -> tuple[dict[str, str], str]:
        """A fresh database and data directory (with a dev signing chain); returns (env, db url)."""
        name = f"t_{uuid.uuid4().hex[:10]}"
        db_url = self.pg.create_database(name)
        data_dir = self.root / name
        data_dir.mkdir()
        init_dev_keys(data_dir / "keys")
        env = {
            "PROVGATE_DATABASE_URL": db_url,
            "PROVGATE_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
            "PROVGATE_DATA_DIR": str(data_dir),
            "PROVGATE_DB_POOL_MIN": "1",
            "PROVGATE_DB_POOL_MAX": "8",
            "PROVGATE_POLL_INTERVAL_S": "0.05",
            # One decisions consumer group per test server: servers that share a broker must not
            # take each other's review decisions.
            "PROVGATE_KAFKA_GROUP": f"provgate-review-decisions-{name}",
        }
        env.update(extra)
        return env, db_url


class ServerThread:
    """A real uvicorn server running ``app`` in a thread."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.port = port
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, name=f"server-{port}", daemon=True)

    def start(self, timeout: float = 60) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("provgate server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``provgate ARGS`` as its own process (own session, output to ``log``)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("PROVGATE_")} | env
    with open(log, "ab") as fh:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", *args],
            env=full,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 60) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    return proc.returncode


def wait_http(url: str, timeout: float = 60, proc: subprocess.Popen[bytes] | None = None) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited {proc.returncode} before {url} answered")
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def run_sync(coro: Any) -> Any:
    """``asyncio.run`` that also works where this thread already runs a loop (Playwright's
    sync API does): then the coroutine runs on a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def create_key(db_url: str, name: str, roles: list[str]) -> str:
    from .cli import create_tenant

    return str(run_sync(create_tenant(db_url, name, roles)))


def start_app_thread(
    env: dict[str, str], *, run_worker: bool = True, services_overrides: dict[str, Any] | None = None
) -> tuple[ServerThread, Any, Settings]:
    from .app import create_app
    from .services import Services

    settings = Settings.from_env(env)
    # Backends with settings of their own (e.g. the Videos API generator) read the same env.
    services = Services.build(settings, env=env, **(services_overrides or {}))
    app = create_app(settings, services, run_worker=run_worker)
    thread = ServerThread(app, free_port())
    thread.start()
    return thread, app, settings
