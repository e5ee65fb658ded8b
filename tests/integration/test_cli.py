"""The commands a user types: `provgate serve --embedded` (what `make run` runs), tenant, keys."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.embedded import free_port
from tests.conftest import REVIEW_PROMPT, Server, subprocess_env, wait_for


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PROVGATE_")}


class Serve:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.log = data_dir.parent / f"serve-{time.monotonic_ns()}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gateway.cli",
                    "serve",
                    "--embedded",
                    "--port",
                    str(port),
                    "--data-dir",
                    str(data_dir),
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=_clean_env(),
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if "PROVGATE_URL=" in text and "curl " in text:
                return text
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}:\n{text}")
            time.sleep(0.2)
        raise AssertionError(f"serve did not become ready:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig) if sig == signal.SIGTERM else os.killpg(self.proc.pid, sig)
            try:
                return self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                return self.proc.wait(10)
        return self.proc.returncode


@pytest.fixture()
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("serve")
    for p in [root, *root.parents]:
        p.chmod(p.stat().st_mode | 0o005) if p.stat().st_uid == os.geteuid() else None
    yield root / ".provgate"


def test_serve_embedded_prints_a_working_curl_and_keeps_state(data_dir: Path) -> None:
    port = free_port()
    serve = Serve(data_dir, port)
    try:
        out = serve.wait_ready()
        url = re.search(r"^PROVGATE_URL=(\S+)$", out, re.M)
        key = re.search(r"^PROVGATE_API_KEY=(\S+)$", out, re.M)
        assert url and url.group(1) == f"http://127.0.0.1:{port}"
        assert key and (data_dir / "dev-api-key").read_text().strip() == key.group(1)
        assert (data_dir / "keys" / "root.pem").is_file()
        curl = next(line for line in out.splitlines() if line.startswith("curl "))
        res = subprocess.run(shlex.split(curl), capture_output=True, text=True, timeout=60)
        assert res.returncode == 0 and '"status":"queued"' in res.stdout, res.stdout + res.stderr
        gid = re.search(r'"id":"([^"]+)"', res.stdout).group(1)  # type: ignore[union-attr]
        with httpx.Client(base_url=url.group(1), headers={"Authorization": f"Bearer {key.group(1)}"}) as c:
            assert wait_for(c, gid)["status"] == "succeeded"
    finally:
        assert serve.stop() == 0, serve.log.read_text()
    # One log format from start to stop (Litestar's default config once re-configured the root
    # logger as the app started: its own format, and level INFO whatever PROVGATE_LOG_LEVEL
    # said), and no Kafka client connection chatter at INFO.
    log = serve.log.read_text()
    assert "no CLIP checkpoint configured" in log  # a line logged after the app has started
    assert not re.search(r"^(DEBUG|INFO|WARNING|ERROR) - \d{4}-", log, re.M), log
    assert not re.search(r"^\S+ \S+ INFO aiokafka", log, re.M), log

    # Second start reuses the data directory: no new key printed, the generation is still there.
    again = Serve(data_dir, port)
    try:
        out = again.wait_ready()
        assert "PROVGATE_API_KEY=" not in out
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key.group(1)}"}
        ) as c:
            g = c.get(f"/v1/generations/{gid}")
            assert g.status_code == 200 and g.json()["status"] == "succeeded"
            assert c.get(f"/v1/generations/{gid}/content").status_code == 200
    finally:
        # SIGTERM to serve alone (as `kill`, `docker stop` and systemd send it): uvicorn re-raises
        # it after its graceful shutdown, which once killed serve before it stopped its embedded
        # Postgres and Kafka, and they kept running.
        assert again.stop(signal.SIGTERM) == 0, again.log.read_text()
    assert not (data_dir / "postgres" / "data" / "postmaster.pid").exists()  # Postgres shut down cleanly
    broker_port = int((data_dir / "kafka" / "port").read_text())
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", broker_port), timeout=2).close()


def test_tenant_create_and_keys_init(server: Server, tmp_path: Path) -> None:
    env = subprocess_env(server, PROVGATE_DATA_DIR=str(tmp_path))
    res = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "tenant", "create", "umbrella", "--role", "reviewer"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    key = res.stdout.strip().removeprefix("PROVGATE_API_KEY=")
    with server.client(key) as c:
        assert c.get("/v1/reviews").status_code == 200
        assert c.post("/v1/generations", json={}).status_code == 403  # the role, before the body
    stored = server.sql("SELECT key_hash FROM api_keys")
    assert all(key.encode() not in bytes(r["key_hash"]) for r in stored)

    res = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "keys", "init", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=60,
    )
    assert res.returncode == 0 and (tmp_path / "keys" / "root.pem").is_file()
    assert oct((tmp_path / "keys" / "leaf.key").stat().st_mode & 0o777) == "0o600"


def test_bad_configuration_is_named(tmp_path: Path) -> None:
    env = _clean_env() | {"PROVGATE_PORT": "not-a-port"}
    res = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "worker"], capture_output=True, text=True, env=env, timeout=60
    )
    assert res.returncode == 2 and "PROVGATE_PORT" in res.stderr
    res = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "worker"], capture_output=True, text=True, env=_clean_env(), timeout=60
    )
    assert res.returncode == 2 and "PROVGATE_DATABASE_URL" in res.stderr


@pytest.mark.parametrize("command", ["serve", "worker", "relay"])
def test_a_bad_log_level_is_named(command: str) -> None:
    env = _clean_env() | {"PROVGATE_LOG_LEVEL": "verbose"}
    res = subprocess.run(
        [sys.executable, "-m", "gateway.cli", command], capture_output=True, text=True, env=env, timeout=60
    )
    assert res.returncode == 2 and "PROVGATE_LOG_LEVEL='VERBOSE' is not a log level" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["serve", "--embedded", "--port", "99999"], "'99999' is not a port (0..65535)"),
        (["verify", "."], ".: a directory, not a file"),
    ],
)
def test_bad_arguments_are_named_before_anything_starts(argv: list[str], says: str) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *argv], capture_output=True, text=True, env=_clean_env(), timeout=60
    )
    assert res.returncode == 2 and says in res.stderr, res.stderr


@pytest.mark.parametrize("command", ["serve", "worker", "relay"])
def test_an_unreachable_database_is_one_line_naming_it(command: str) -> None:
    url = f"postgresql://bob:secret@127.0.0.1:{free_port()}/provgate"  # nothing listens there
    env = _clean_env() | {"PROVGATE_DATABASE_URL": url, "PROVGATE_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    argv = [command, "--port", "0"] if command == "serve" else [command]
    res = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *argv], capture_output=True, text=True, env=env, timeout=120
    )
    assert res.returncode == 2, res.stderr
    assert "cannot connect to Postgres at 127.0.0.1:" in res.stderr and "PROVGATE_DATABASE_URL" in res.stderr
    assert "Traceback" not in res.stderr and "secret" not in res.stderr


def test_review_tail_prints_review_events(server: Server) -> None:
    with server.client() as c:
        gid = c.post(
            "/v1/generations",
            json={
                "prompt": REVIEW_PROMPT,
                "user": {"id": "u", "age_band": "adult"},
                "duration_s": 1,
                "resolution": "480p",
            },
        ).json()["id"]
        wait_for(c, gid)
    time.sleep(1.0)
    res = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "review", "tail", "--from-beginning", "--timeout", "5"],
        capture_output=True,
        text=True,
        env=subprocess_env(server),
        timeout=90,
    )
    assert res.returncode == 0, res.stderr
    assert "provgate.review.requested" in res.stdout and gid in res.stdout.replace("\n", "")
