"""Face backends by config name (``PROVGATE_FACE_BACKEND``)."""

from __future__ import annotations

from pathlib import Path

from classifiers.runtime import load_backend

from .base import FaceBackend

FACE_BACKENDS: dict[str, str] = {
    "insightface": "consent.insightface_backend:InsightFaceBackend",
    "yunet": "consent.yunet_backend:YuNetSFaceBackend",
}


def face_backend(name: str, models_dir: Path | None = None, threads: int | None = None) -> FaceBackend:
    cls = load_backend(FACE_BACKENDS, name, "face backend")
    backend: FaceBackend = cls(models_dir=models_dir, threads=threads)
    return backend
