"""Faces across the sampled frames of an output: detect, embed, and link detections of the
same person into tracks, so each person is matched once (on the mean of their embeddings)
instead of once per frame, and a single noisy detection is not a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import FaceBackend, normalise

LINK_SIMILARITY = 0.5  # same track when the embeddings agree this much...
LINK_IOU = 0.3  # ...or the boxes overlap this much between neighbouring samples
NEAR_SIMILARITY = 0.35  # and the embeddings still agree this much (a cut to another person does not)
# A detection that overlaps the previous sample's box of an established track this much is
# the same face and is not embedded again, except every EMBED_EVERY-th sample of the track
# (which also splits the track if the person changed, e.g. at a scene cut).
REUSE_IOU = 0.6
EMBED_EVERY = 3


@dataclass
class Track:
    embeddings: list[np.ndarray] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    @property
    def embedding(self) -> np.ndarray:
        return normalise(np.mean(self.embeddings, axis=0))

    @property
    def best_score(self) -> float:
        return max(self.scores)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _continuation(tracks: list[Track], free: set[int], face: Any, t: int) -> int | None:
    """An established track that ``face`` plainly continues (no new embedding needed)."""
    for k in free:
        tr = tracks[k]
        if (
            tr.frames[-1] == t - 1
            and len(tr.embeddings) >= 2
            and len(tr.frames) % EMBED_EVERY
            and _iou(tr.boxes[-1], face.bbox) >= REUSE_IOU
        ):
            return k
    return None


def scan(backend: FaceBackend, frames: np.ndarray, min_face_px: int = 24) -> list[Track]:
    """Tracks of every face at least ``min_face_px`` high in ``frames`` (T×H×W×3)."""
    tracks: list[Track] = []
    for t, frame in enumerate(frames):
        faces = [f for f in backend.detect(frame) if min(f.width, f.height) >= min_face_px]
        if not faces:
            continue
        free = set(range(len(tracks)))
        pending = []
        for face in faces:
            k = _continuation(tracks, free, face, t)
            if k is None:
                pending.append(face)
            else:
                free.discard(k)
                tr = tracks[k]
                tr.frames.append(t)
                tr.boxes.append(face.bbox)
                tr.scores.append(face.score)
        if not pending:
            continue
        embs = backend.embed(frame, pending)
        for face, emb in sorted(zip(pending, embs, strict=True), key=lambda p: -p[0].score):
            best, best_key = None, 0.0
            for k in free:
                tr = tracks[k]
                sim = float(tr.embedding @ emb)
                near = tr.frames[-1] >= t - 2 and _iou(tr.boxes[-1], face.bbox) >= LINK_IOU
                key = sim + (1.0 if near else 0.0)
                if (sim >= LINK_SIMILARITY or (near and sim >= NEAR_SIMILARITY)) and key > best_key:
                    best, best_key = k, key
            if best is None:
                tracks.append(Track())
                best = len(tracks) - 1
            else:
                free.discard(best)
            tr = tracks[best]
            tr.embeddings.append(emb)
            tr.frames.append(t)
            tr.boxes.append(face.bbox)
            tr.scores.append(face.score)
    return tracks
