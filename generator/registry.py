"""Generator backends by config name (``PROVGATE_GENERATOR``)."""

from __future__ import annotations

import importlib

from .base import Generator

BACKENDS: dict[str, str] = {
    "procedural": "generator.procedural:ProceduralGenerator",
}


def create(name: str) -> Generator:
    if name not in BACKENDS:
        raise ValueError(f"unknown generator {name!r}; choose from {sorted(BACKENDS)}")
    module, _, attr = BACKENDS[name].partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise RuntimeError(f"generator {name!r} needs a missing package: {exc.name}") from exc
    return cls()
