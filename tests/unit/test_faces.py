"""The face backend contract: both backends (InsightFace, YuNet + SFace) must pass it."""

from __future__ import annotations

import numpy as np
import pytest

from consent.base import STORED_DIM, FaceBackend, to_stored
from consent.quality import EnrollmentProblem, enroll
from consent.registry import face_backend
from consent.tracking import scan
from tests.faces import blurred, photo, scaled


@pytest.fixture(scope="module", params=["insightface", "yunet"])
def backend(request: pytest.FixtureRequest) -> FaceBackend:
    b = face_backend(request.param)
    b.start()
    return b


def _one(b: FaceBackend, name: str) -> np.ndarray:
    faces = b.analyze(photo(name))
    assert faces, f"no face in {name}"
    biggest = max(faces, key=lambda f: f.area)
    assert biggest.embedding is not None
    return biggest.embedding


def test_detects_one_face_per_portrait(backend: FaceBackend) -> None:
    for name in ("astronaut", "obama", "obama2", "biden", "yaoming"):
        faces = backend.detect(photo(name))
        assert len(faces) == 1, (name, len(faces))
        f = faces[0]
        assert f.kps.shape == (5, 2) and f.width > 60 and 0 < f.score <= 1
        x1, y1, x2, y2 = f.bbox
        assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in f.kps), "landmarks inside the box"


def test_detects_every_face_in_a_group(backend: FaceBackend) -> None:
    assert len(backend.detect(photo("t1"))) == 6


def test_embeddings_are_normalised_rows(backend: FaceBackend) -> None:
    img = photo("t1")
    faces = backend.detect(img)
    emb = backend.embed(img, faces)
    assert emb.shape == (6, backend.dim) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    assert backend.embed(img, []).shape == (0, backend.dim)
    stored = to_stored(emb[0])
    assert stored.shape == (STORED_DIM,) and float(stored @ to_stored(emb[1])) == pytest.approx(float(emb[0] @ emb[1]))


def test_same_person_matches_and_strangers_do_not(backend: FaceBackend) -> None:
    t = backend.match_threshold
    obama = [_one(backend, n) for n in ("obama", "obama2", "obama3")]
    for i in range(3):
        for j in range(i + 1, 3):
            assert float(obama[i] @ obama[j]) >= t, (i, j)
    others = [_one(backend, n) for n in ("biden", "astronaut", "yaoming")]
    for o in others:
        assert max(float(o @ e) for e in obama) < t
    group = backend.analyze(photo("t1"))
    sims = np.array([[float(a.embedding @ b.embedding) for b in group] for a in group])  # type: ignore[operator]
    off = sims[~np.eye(len(group), dtype=bool)]
    assert off.max() < t, "six different people in t1"


def test_enrollment_builds_a_template(backend: FaceBackend) -> None:
    e = enroll(backend, [photo("obama"), photo("obama2"), photo("obama3")])
    assert e.template.shape == (backend.dim,) and abs(float(np.linalg.norm(e.template)) - 1) < 1e-4
    assert e.quality["images"] == 3 and e.quality["min_pair_similarity"] >= backend.match_threshold
    assert e.faces[0].crop.shape == (256, 256, 3)
    assert float(e.template @ _one(backend, "obama")) > float(_one(backend, "obama2") @ _one(backend, "obama"))


@pytest.mark.parametrize(
    ("images", "code"),
    [
        (lambda: [np.full((480, 640, 3), 128, np.uint8)], "no_face"),
        (lambda: [photo("t1")], "several_faces"),
        (lambda: [scaled(photo("obama"), 0.2)], "face_too_small"),
        (lambda: [blurred(photo("obama"), 6)], "face_too_blurry"),
        (lambda: [photo("obama"), photo("biden")], "different_people"),
        (lambda: [], "no_images"),
    ],
    ids=["no_face", "several_faces", "too_small", "too_blurry", "different_people", "no_images"],
)
def test_enrollment_problems_are_named(backend: FaceBackend, images, code: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EnrollmentProblem) as exc:
        enroll(backend, images())
    assert exc.value.code == code


def test_tracking_links_one_person_across_frames(backend: FaceBackend) -> None:
    """A face moving over a background, plus a second person in some frames: two tracks."""
    face = scaled(photo("obama"), 0.35)
    other = scaled(photo("biden"), 0.22)
    frames = np.full((8, 480, 854, 3), 40, np.uint8)
    for t in range(8):
        y, x = 40 + 10 * t, 60 + 30 * t
        frames[t, y : y + face.shape[0], x : x + face.shape[1]] = face[: 480 - y, : 854 - x]
        if t >= 4:
            frames[t, 20 : 20 + other.shape[0], 500 : 500 + other.shape[1]] = other[:460, :354]
    tracks = scan(backend, frames)
    assert sorted(len(t.frames) for t in tracks) == [4, 8]
    main = max(tracks, key=lambda t: len(t.frames))
    assert float(main.embedding @ _one(backend, "obama2")) >= backend.match_threshold


def test_a_cut_to_another_person_in_the_same_place_starts_a_new_track(backend: FaceBackend) -> None:
    """Tracks must not merge two people (a mean of two faces would match neither)."""
    a, b = scaled(photo("obama"), 0.35), scaled(photo("biden"), 0.25)
    frames = np.full((9, 480, 854, 3), 40, np.uint8)
    for t in range(9):
        face = a if t < 5 else b
        frames[t, 50 : 50 + face.shape[0], 200 : 200 + face.shape[1]] = face[:430, :654]
    tracks = scan(backend, frames)
    assert sorted(len(t.frames) for t in tracks) == [4, 5]
    ref_a, ref_b = _one(backend, "obama2"), _one(backend, "biden")
    first = min(tracks, key=lambda t: t.frames[0])
    second = max(tracks, key=lambda t: t.frames[0])
    assert float(first.embedding @ ref_a) >= backend.match_threshold
    assert float(second.embedding @ ref_b) >= backend.match_threshold
