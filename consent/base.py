"""The face backend interface: detect faces and embed them.

A backend is loaded once (``start``) and called from worker threads. Images are RGB uint8
(H×W×3), as everywhere else in provgate. Embeddings are L2-normalised float32 rows, so the
cosine similarity of two faces is their dot product. ``match_threshold`` is the calibrated
cosine above which two faces are taken to be the same person (see bench/faces_calibrate.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

# Templates are stored in one pgvector column for every backend; shorter embeddings are
# zero-padded, which leaves cosine similarities unchanged.
STORED_DIM = 512


class FaceBackendError(RuntimeError):
    """A face model could not run. Callers fail closed on it."""


@dataclass
class Face:
    bbox: np.ndarray  # x1, y1, x2, y2 in pixels (float32)
    score: float
    kps: np.ndarray  # 5×2 landmarks: right eye, left eye, nose, right mouth corner, left mouth corner
    embedding: np.ndarray | None = field(default=None, repr=False)

    @property
    def width(self) -> float:
        return float(self.bbox[2] - self.bbox[0])

    @property
    def height(self) -> float:
        return float(self.bbox[3] - self.bbox[1])

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)


class FaceBackend(ABC):
    name: str = ""
    dim: int = 0
    match_threshold: float = 0.0

    def start(self) -> None:  # noqa: B027 - optional hook
        """Load the models (called once, before the first request)."""

    @abstractmethod
    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in the image, most confident first."""

    @abstractmethod
    def embed(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        """One L2-normalised row per face (aligned on its landmarks); sets ``face.embedding``."""

    def analyze(self, rgb: np.ndarray) -> list[Face]:
        faces = self.detect(rgb)
        if faces:
            self.embed(rgb, faces)
        return faces


def normalise(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norms, 1e-12)


def to_stored(embedding: np.ndarray) -> np.ndarray:
    """Pad a backend embedding to the stored dimension (cosine-preserving)."""
    e = np.asarray(embedding, dtype=np.float32).ravel()
    if e.shape[0] > STORED_DIM:
        raise ValueError(f"embedding of dimension {e.shape[0]} exceeds the stored {STORED_DIM}")
    out = np.zeros(STORED_DIM, dtype=np.float32)
    out[: e.shape[0]] = e
    return out
