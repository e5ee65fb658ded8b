"""The attacks of the provenance issue, applied the way people re-upload videos: decode,
transform, re-encode with libx264. Shared by bench/watermark.py and the robustness tests."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from provenance.media import EncodeOptions, decode_frames, encode_mp4

Frames = np.ndarray


def _resize(frames: Frames, scale: float) -> Frames:
    h, w = frames.shape[1:3]
    size = (max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2))
    return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BILINEAR)) for f in frames])


def _crop(frames: Frames, keep: float) -> Frames:
    h, w = frames.shape[1:3]
    ch, cw = int(h * keep) // 2 * 2, int(w * keep) // 2 * 2
    y, x = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(frames[:, y : y + ch, x : x + cw])


def _brightness(frames: Frames, factor: float) -> Frames:
    return np.clip(frames.astype(np.float32) * factor, 0, 255).astype(np.uint8)


def _contrast(frames: Frames, factor: float) -> Frames:
    f = frames.astype(np.float32)
    mean = f.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip((f - mean) * factor + mean, 0, 255).astype(np.uint8)


def _fps(frames: Frames, src: float, dst: float) -> Frames:
    idx = np.round(np.arange(0, len(frames) * dst / src) * src / dst).astype(int)
    return frames[idx[idx < len(frames)]]


# name -> (transform on decoded frames, output fps factor, CRF of the re-encode)
ATTACKS: dict[str, tuple[Callable[[Frames], Frames], float, int]] = {
    "none (as released)": (lambda f: f, 1.0, 0),
    "H.264 CRF 23": (lambda f: f, 1.0, 23),
    "H.264 CRF 28": (lambda f: f, 1.0, 28),
    "H.264 CRF 35": (lambda f: f, 1.0, 35),
    "H.264 CRF 40": (lambda f: f, 1.0, 40),
    "downscale 50%": (lambda f: _resize(f, 0.5), 1.0, 23),
    "centre crop 90%": (lambda f: _crop(f, 0.9), 1.0, 23),
    "centre crop 80%": (lambda f: _crop(f, 0.8), 1.0, 23),
    "brightness +20%": (lambda f: _brightness(f, 1.2), 1.0, 23),
    "brightness -20%": (lambda f: _brightness(f, 0.8), 1.0, 23),
    "contrast 0.8": (lambda f: _contrast(f, 0.8), 1.0, 23),
    "15 fps": (lambda f: _fps(f, 24, 15), 15 / 24, 23),
    "trim (start at 3.3 s)": (lambda f: f[79:], 1.0, 23),
    "crop 90% + 50% + CRF 30": (lambda f: _resize(_crop(f, 0.9), 0.5), 1.0, 30),
}


def attacked_segment(
    released: Path, name: str, *, fps: float = 24, seconds: float = 2.0, source_frames: int = 240
) -> Frames:
    """Apply attack ``name`` to the released file and return a ``seconds`` segment of the result."""
    fn, fps_factor, crf = ATTACKS[name]
    frames, src_fps = decode_frames(released, max_frames=source_frames)
    out = fn(frames)
    if crf:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "attacked.mp4"
            new_fps = max(1, round(src_fps * fps_factor))
            encode_mp4(path, out, np.zeros((48000, 2), np.float32), new_fps, 48000, EncodeOptions(crf=crf))
            seg, seg_fps = decode_frames(path, max_frames=int(seconds * new_fps))
            return seg
    return out[: int(seconds * fps * fps_factor)]


def busy_clip(seconds: float = 10, size: tuple[int, int] = (1280, 720), fps: int = 24, seed: int = 5) -> np.ndarray:
    """A hard clip for a watermark: fine random texture (gravel, foliage) panning across the frame."""
    w, h = size
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, size=(h + 64, w * 2, 3), dtype=np.uint8)
    coarse = np.asarray(
        Image.fromarray(rng.integers(0, 256, size=((h + 64) // 8, w // 4, 3), dtype=np.uint8)).resize(
            (w * 2, h + 64), Image.Resampling.BILINEAR
        )
    )
    texture = (texture // 2 + coarse // 2).astype(np.uint8)
    n = int(seconds * fps)
    return np.stack([texture[(t % 64) : (t % 64) + h, 3 * t : 3 * t + w] for t in range(n)])
