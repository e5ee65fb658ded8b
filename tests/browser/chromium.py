"""How provgate's browser tests and the console benchmark start Debian's Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Without the background-networking flags Chromium tries to reach the internet at every start.
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def executable() -> str | None:
    path = os.environ.get("PROVGATE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if Path(path).is_file() else None
