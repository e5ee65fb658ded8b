"""Generator backends by config name (``PROVGATE_GENERATOR``)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from .base import Generator

BACKENDS: dict[str, str] = {
    "procedural": "generator.procedural:ProceduralGenerator",
    "videos_api": "generator.videos_api:VideosApiGenerator",
    "diffusers": "generator.diffusers_video:DiffusersVideoGenerator",
}


def create(name: str, env: Mapping[str, str] | None = None) -> Generator:
    """Backends with settings of their own read them in ``from_env`` (named PROVGATE_*)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown generator {name!r}; choose from {sorted(BACKENDS)}")
    module, _, attr = BACKENDS[name].partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise RuntimeError(f"generator {name!r} needs a missing package: {exc.name}") from exc
    return cls.from_env(env) if hasattr(cls, "from_env") else cls()
