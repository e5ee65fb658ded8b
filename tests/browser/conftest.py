"""A real headless Chromium (Debian's package) driven by Playwright."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.chromium import FLAGS, executable


def chromium_path() -> str:
    path = executable()
    if path is None:
        pytest.fail("Chromium is not installed: `make test` installs Debian's chromium package")
    return path


# Module scope: Playwright's sync API runs an event loop in this thread while it is open,
# which must end before other tests use asyncio.run.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="provgate-chromium-")
    with sync_playwright() as p:
        # Playwright manages the profile directory itself; `profile` holds crash dumps and caches.
        b = p.chromium.launch(
            executable_path=chromium_path(),
            args=FLAGS,
            env={**os.environ, "HOME": profile, "XDG_CONFIG_HOME": profile},
        )
        yield b
        b.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()
