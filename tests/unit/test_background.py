"""The plugin that runs long checks beside the suite (``tests/background.py``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.mark.background(["python", "-c", "import os, sys; print('nice', os.nice(0)); sys.exit(3)"])
def test_a_background_command_gives_its_exit_code_and_output(background: Callable[[], tuple[int, str]]) -> None:
    code, output = background()
    assert code == 3 and "nice 19" in output  # its verdict, from a process at the lowest CPU priority


def test_the_marked_tests_run_last(request: pytest.FixtureRequest) -> None:
    items = request.session.items
    marked = [i for i in items if i.get_closest_marker("background") is not None]
    assert marked and items[-len(marked) :] == marked
