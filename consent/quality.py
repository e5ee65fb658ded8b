"""Enrollment: one dominant, large, sharp face per image, the same person in every image.
Problems are reported as :class:`EnrollmentProblem` with a machine-readable code so the API
can answer 422 naming what is wrong and which image."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from PIL import Image

from .base import Face, FaceBackend, normalise

MIN_FACE_PX = 64  # shorter side of the face box
MIN_SHARPNESS = 12.0  # variance of the Laplacian on the 112-px grey face crop
# A second face at least this fraction of the largest face's area makes the image ambiguous.
SECOND_FACE_RATIO = 0.25


class EnrollmentProblem(Exception):
    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass
class EnrolledFace:
    index: int
    face: Face
    embedding: np.ndarray
    sharpness: float
    crop: np.ndarray  # RGB face crop with a margin, for the owner's preview and the procedural generator


@dataclass
class Enrollment:
    template: np.ndarray
    faces: list[EnrolledFace]
    quality: dict[str, float] = field(default_factory=dict)


def sharpness(rgb: np.ndarray, face: Face) -> float:
    """Variance of a 3×3 Laplacian on the face box resized to 112 px (scale-independent)."""
    x1, y1, x2, y2 = (int(round(v)) for v in face.bbox)
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return 0.0
    grey = np.asarray(Image.fromarray(rgb[y1:y2, x1:x2]).convert("L").resize((112, 112)), dtype=np.float32)
    lap = -4 * grey[1:-1, 1:-1] + grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:]
    return float(lap.var())


def face_crop(rgb: np.ndarray, face: Face, margin: float = 0.35, size: int = 256) -> np.ndarray:
    x1, y1, x2, y2 = face.bbox
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    box = (int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2))
    return np.asarray(Image.fromarray(rgb).crop(box).resize((size, size), Image.Resampling.LANCZOS))


def dominant_face(rgb: np.ndarray, faces: list[Face], index: int) -> Face:
    if not faces:
        raise EnrollmentProblem("no_face", f"image {index}: no face found", image=index)
    faces = sorted(faces, key=lambda f: -f.area)
    main = faces[0]
    if len(faces) > 1 and faces[1].area >= SECOND_FACE_RATIO * main.area:
        raise EnrollmentProblem(
            "several_faces",
            f"image {index}: {len(faces)} faces found; enrollment needs exactly one person per image",
            image=index,
            faces=len(faces),
        )
    short = min(main.width, main.height)
    if short < MIN_FACE_PX:
        raise EnrollmentProblem(
            "face_too_small",
            f"image {index}: the face is {short:.0f} px; at least {MIN_FACE_PX} px is needed",
            image=index,
            face_px=round(short),
            min_px=MIN_FACE_PX,
        )
    return main


def enroll(backend: FaceBackend, images: list[np.ndarray]) -> Enrollment:
    """Check every image and build the template (normalised mean of the embeddings)."""
    if not images:
        raise EnrollmentProblem("no_images", "at least one image (or a video) is needed")
    enrolled: list[EnrolledFace] = []
    for i, rgb in enumerate(images):
        face = dominant_face(rgb, backend.detect(rgb), i)
        sharp = sharpness(rgb, face)
        if sharp < MIN_SHARPNESS:
            raise EnrollmentProblem(
                "face_too_blurry",
                f"image {i}: the face is too blurry (sharpness {sharp:.1f}, at least {MIN_SHARPNESS} needed)",
                image=i,
                sharpness=round(sharp, 1),
                min_sharpness=MIN_SHARPNESS,
            )
        emb = backend.embed(rgb, [face])[0]
        enrolled.append(EnrolledFace(i, face, emb, sharp, face_crop(rgb, face)))
    sims = [float(a.embedding @ b.embedding) for a, b in combinations(enrolled, 2)]
    for (a, b), s in zip(combinations(enrolled, 2), sims, strict=True):
        if s < backend.match_threshold:
            raise EnrollmentProblem(
                "different_people",
                f"images {a.index} and {b.index} do not show the same person (similarity {s:.2f}, "
                f"at least {backend.match_threshold:.2f} needed)",
                images=[a.index, b.index],
                similarity=round(s, 3),
            )
    template = normalise(np.mean([e.embedding for e in enrolled], axis=0))
    quality = {
        "images": float(len(enrolled)),
        "min_face_px": round(min(min(e.face.width, e.face.height) for e in enrolled), 1),
        "min_sharpness": round(min(e.sharpness for e in enrolled), 1),
        "min_detection_score": round(min(e.face.score for e in enrolled), 3),
        "min_pair_similarity": round(min(sims), 3) if sims else 1.0,
    }
    return Enrollment(template=template, faces=enrolled, quality=quality)
