"""The procedural generator: the embedded default, no model weights needed.

Deterministic from prompt + seed: a drifting colour field, orbiting shapes whose colours and
paths come from the prompt's hash, the ``input_image`` (and cameo faces) composited as
moving tiles, and a chord soundtrack with a pulse. It produces real moving content so
every later stage (checks, watermark, encoding, signing) works on honest pixels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from .base import GeneratedMedia, GenerationSpec, Generator, GeneratorError

VERSION = "procedural-1"


def _rng(prompt: str, seed: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _fit(img: np.ndarray, box: int) -> np.ndarray:
    h, w = img.shape[:2]
    scale = box / max(h, w)
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    return np.asarray(Image.fromarray(img).convert("RGB").resize(size, Image.Resampling.BILINEAR))


class ProceduralGenerator(Generator):
    name = "procedural"

    @property
    def model(self) -> str:
        return f"provgate-{VERSION}"

    def _generate(self, spec: GenerationSpec, cancelled: Callable[[], bool]) -> GeneratedMedia:
        rng = _rng(spec.prompt, spec.seed)
        w, h = spec.size
        n = spec.n_frames
        # Work at quarter resolution for the colour field, upsample by repetition (fast).
        q = 4
        gh, gw = -(-h // q), -(-w // q)
        yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
        yy /= gh
        xx /= gw
        base = rng.uniform(0.15, 0.85, size=(3,)).astype(np.float32)
        freq = rng.uniform(1.0, 4.0, size=(3, 2)).astype(np.float32)
        speed = rng.uniform(0.2, 1.2, size=(3,)).astype(np.float32)
        shapes: list[dict[str, Any]] = [
            {
                "color": rng.integers(30, 255, size=3).astype(np.uint8),
                "radius": int(rng.uniform(0.05, 0.12) * h),
                "orbit": rng.uniform(0.1, 0.35, size=2),
                "centre": rng.uniform(0.3, 0.7, size=2),
                "speed": rng.uniform(0.3, 1.5),
                "phase": rng.uniform(0, 2 * np.pi),
            }
            for _ in range(int(rng.integers(3, 7)))
        ]
        tiles = [_fit(img, h // 3) for img in (spec.input_image, *spec.cameo_faces) if img is not None]
        frames = np.empty((n, h, w, 3), dtype=np.uint8)
        for t in range(n):
            if t % 24 == 0 and cancelled():
                raise GeneratorError("cancelled", retriable=False, code="cancelled")
            ts = t / spec.fps
            field = np.empty((gh, gw, 3), dtype=np.float32)
            for c in range(3):
                field[..., c] = base[c] + 0.25 * np.sin(
                    2 * np.pi * (freq[c, 0] * xx + freq[c, 1] * yy) + speed[c] * ts * 2 * np.pi
                )
            small = np.clip(field * 255.0, 0, 255).astype(np.uint8)
            frame = frames[t]
            frame[:] = small.repeat(q, 0).repeat(q, 1)[:h, :w]
            for s in shapes:
                ang = s["phase"] + s["speed"] * ts
                cx = int((s["centre"][0] + s["orbit"][0] * np.cos(ang)) * w)
                cy = int((s["centre"][1] + s["orbit"][1] * np.sin(ang)) * h)
                r = s["radius"]
                y0, y1, x0, x1 = max(0, cy - r), min(h, cy + r), max(0, cx - r), min(w, cx + r)
                if y0 >= y1 or x0 >= x1:
                    continue
                py, px = np.ogrid[y0:y1, x0:x1]
                mask = (py - cy) ** 2 + (px - cx) ** 2 <= r * r
                frame[y0:y1, x0:x1][mask] = s["color"]
            for i, tile in enumerate(tiles):
                th, tw = tile.shape[:2]
                ang = 0.4 * ts + i * 2.1
                x = int((w - tw) * (0.5 + 0.4 * np.cos(ang)))
                y = int((h - th) * (0.5 + 0.35 * np.sin(1.3 * ang)))
                frame[y : y + th, x : x + tw] = tile
        return GeneratedMedia(
            frames=frames,
            audio=self._soundtrack(rng, spec),
            fps=spec.fps,
            sample_rate=spec.sample_rate,
            model=self.model,
        )

    @staticmethod
    def _soundtrack(rng: np.random.Generator, spec: GenerationSpec) -> np.ndarray:
        n = int(round(spec.n_frames / spec.fps * spec.sample_rate))
        t = np.arange(n, dtype=np.float32) / spec.sample_rate
        root = float(rng.uniform(110, 220))
        ratios = (1.0, 1.25, 1.5, 2.0) if rng.random() < 0.5 else (1.0, 1.2, 1.5, 1.8)
        chord = sum(np.sin(2 * np.pi * root * r * t, dtype=np.float32) for r in ratios) / len(ratios)
        bpm = float(rng.uniform(80, 140))
        pulse = 0.55 + 0.45 * np.exp(-((t * bpm / 60.0) % 1.0) * 6.0)
        fade = np.minimum(1.0, np.minimum(t / 0.05, (t[-1] - t + 1e-3) / 0.05)) if n else t
        mono = (0.3 * chord * pulse * fade).astype(np.float32)
        pan = float(rng.uniform(0.3, 0.7))
        return np.stack([mono * (1 - pan) * 2 * 0.7, mono * pan * 2 * 0.7], axis=1).astype(np.float32)
