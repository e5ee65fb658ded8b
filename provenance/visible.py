"""The visible watermark: a semi-transparent label that moves to a new corner every few
seconds, drawn on every frame before encoding (platform name and creator handle)."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont


@functools.lru_cache(maxsize=32)
def _label(text: str, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Render ``text`` once: returns (rgb, alpha in [0, 1]) arrays."""
    size = max(12, height // 28)
    try:
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow without FreeType
        font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    x0, y0, x1, y1 = probe.textbbox((0, 0), text, font=font)
    pad = size // 3
    w, h = int(x1 - x0 + 2 * pad), int(y1 - y0 + 2 * pad)
    alpha = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(alpha)
    d.rounded_rectangle((0, 0, w - 1, h - 1), radius=pad, fill=90)
    d.text((pad - x0, pad - y0), text, font=font, fill=230)
    rgb = Image.new("RGB", (w, h), (255, 255, 255))
    ImageDraw.Draw(rgb).rounded_rectangle((0, 0, w - 1, h - 1), radius=pad, fill=(0, 0, 0))
    ImageDraw.Draw(rgb).text((pad - x0, pad - y0), text, font=font, fill=(255, 255, 255))
    return np.asarray(rgb, dtype=np.float32), np.asarray(alpha, dtype=np.float32)[:, :, None] / 255.0


def draw_label(frames: np.ndarray, text: str, fps: float, *, period_s: float = 3.0, opacity: float = 0.8) -> np.ndarray:
    """Blend ``text`` into every frame in place; the position cycles through four corners."""
    n, h, w, _ = frames.shape
    rgb, alpha = _label(text, h)
    alpha = alpha * opacity
    lh, lw = rgb.shape[:2]
    margin = max(8, h // 40)
    spots = [(margin, margin), (w - lw - margin, h - lh - margin), (w - lw - margin, margin), (margin, h - lh - margin)]
    period = max(1, int(round(period_s * fps)))
    for i in range(n):
        x, y = spots[(i // period) % len(spots)]
        x, y = max(0, x), max(0, y)
        region = frames[i, y : y + lh, x : x + lw].astype(np.float32)
        a = alpha[: region.shape[0], : region.shape[1]]
        frames[i, y : y + lh, x : x + lw] = (region * (1 - a) + rgb[: region.shape[0], : region.shape[1]] * a).astype(
            np.uint8
        )
    return frames
