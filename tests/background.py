"""Long checks that run beside the rest of the suite (a pytest plugin, loaded by conftest).

Proving that the shipped encoder layers are what the tuning script makes means tuning them
again: 10 to 25 minutes of both cores, more than the rest of the suite together. Much of the
rest waits (on Postgres, Kafka, servers starting, workers finishing a job) and leaves the
cores idle. So a test marked ``@pytest.mark.background(command)`` has its command started as
soon as the run is collected, in a process of its own at the lowest CPU priority (``nice
19``: it takes the cycles the other tests leave, and gives them back the moment one needs
them), and the test itself runs last and reads the command's verdict through the
``background`` fixture. The check is the same command a person runs; only when it runs
changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARK = "background"


@dataclass
class Check:
    command: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.process is not None:
            return
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=lambda: os.nice(19),  # noqa: PLW1509 (no threads in the child before exec)
            )

    def result(self) -> tuple[int, str]:
        """Waits for the command; its exit code and output."""
        self.start()
        assert self.process is not None
        code = self.process.wait()
        return code, self.log.read_text("utf-8", errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


_checks: dict[str, Check] = {}


def _command(item: pytest.Item) -> list[str] | None:
    mark = item.get_closest_marker(MARK)
    return None if mark is None else [sys.executable if a == "python" else a for a in mark.args[0]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARK}(command): run the command beside the suite; the test reads its verdict, last"
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    marked = [item for item in items if _command(item) is not None]
    if not marked or config.option.collectonly:
        return
    items[:] = [item for item in items if _command(item) is None] + marked  # read last
    folder = Path(tempfile.mkdtemp(prefix="provgate-background-"))
    for n, item in enumerate(marked):
        command = _command(item)
        assert command is not None
        _checks[item.nodeid] = check = Check(command, folder / f"{n}.log")
        check.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    for check in _checks.values():  # an interrupted run leaves no tuning behind
        check.stop()
    _checks.clear()


@pytest.fixture()
def background(request: pytest.FixtureRequest) -> Iterator[Callable[[], tuple[int, str]]]:
    """The marked command's exit code and output (started now if the run did not start it)."""
    item = request.node
    check = _checks.get(item.nodeid)
    if check is None:
        command = _command(item)
        if command is None:
            pytest.fail(f"{item.nodeid} uses the background fixture without @pytest.mark.{MARK}(command)")
        check = _checks[item.nodeid] = Check(command, Path(tempfile.mkdtemp(prefix="provgate-background-")) / "0.log")
    yield check.result
