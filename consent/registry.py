"""Face backends by config name (``PROVGATE_FACE_BACKEND``)."""

from __future__ import annotations

import importlib
from pathlib import Path

from .base import FaceBackend

FACE_BACKENDS: dict[str, str] = {
    "insightface": "consent.insightface_backend:InsightFaceBackend",
    "yunet": "consent.yunet_backend:YuNetSFaceBackend",
}


def face_backend(name: str, models_dir: Path | None = None, threads: int | None = None) -> FaceBackend:
    if name not in FACE_BACKENDS:
        raise ValueError(f"unknown face backend {name!r}; choose from {sorted(FACE_BACKENDS)}")
    module, _, attr = FACE_BACKENDS[name].partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise RuntimeError(f"face backend {name!r} needs a missing package: {exc.name}") from exc
    backend: FaceBackend = cls(models_dir=models_dir, threads=threads)
    return backend
