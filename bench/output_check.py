"""Output check speed at 720p: frames per second of the full frame check (open-NSFW; faces:
detect + embed + track + apparent age) without and with CLIP (a ViT-B-32 with random
weights: the same compute as a trained checkpoint), on the frames the pipeline samples from
a 10 s clip (2 fps + first/last), 1 thread per model session, as the worker runs them.

    .venv/bin/python bench/output_check.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.signing import timed  # noqa: E402
from classifiers.age import AgeEstimator  # noqa: E402
from classifiers.clip import ClipZeroShotClassifier  # noqa: E402
from classifiers.nsfw import OpenNSFWClassifier  # noqa: E402
from classifiers.output import OutputChecker  # noqa: E402
from classifiers.policy import Policy  # noqa: E402
from consent.registry import face_backend  # noqa: E402
from consent.tracking import scan  # noqa: E402
from generator.base import GenerationSpec  # noqa: E402
from generator.procedural import ProceduralGenerator  # noqa: E402
from tests.clip_checkpoint import VIT_B_32, write_checkpoint  # noqa: E402
from tests.faces import photo  # noqa: E402


def warm_timed(fn) -> float:  # type: ignore[no-untyped-def]
    fn()  # model warm-up, not measured
    return timed(fn, 3)


def main() -> None:
    face = photo("obama")[100:700, 150:700]
    media = ProceduralGenerator().generate(
        GenerationSpec("a paper boat", 1, 10.0, "720p", cameo_faces=(face,)), lambda: False
    )
    nsfw = OpenNSFWClassifier()
    nsfw.start()
    checker = OutputChecker([nsfw], [], Policy())
    sampled = checker.sample(media.frames, media.fps)
    n = len(sampled)
    faces = face_backend("insightface")
    faces.start()
    ages = AgeEstimator()
    ages.start()

    def face_check() -> None:
        tracks = scan(faces, sampled)
        for tr in tracks:
            k = tr.scores.index(max(tr.scores))
            ages.ages(sampled[tr.frames[k]], [tr.boxes[k]])

    t_nsfw = warm_timed(lambda: checker.check_sampled(sampled, age_band="adult"))
    t_faces = warm_timed(face_check)
    with tempfile.TemporaryDirectory() as d:
        clip = ClipZeroShotClassifier(write_checkpoint(Path(d) / "clip", VIT_B_32))
        clip.start()
        with_clip = OutputChecker([nsfw, clip], [], Policy())
        t_clip_only = warm_timed(lambda: clip.score_frames(sampled))
        t_both = warm_timed(lambda: with_clip.check_sampled(sampled, age_band="adult"))
    print(f"# output check on {n} sampled 720p frames of a 10 s clip (one face composited in)")
    print("part                                   | s per clip | frames/s")
    for name, t in (
        ("open-NSFW", t_nsfw),
        ("faces: detect+embed+track+age", t_faces),
        ("CLIP ViT-B-32 alone", t_clip_only),
        ("open-NSFW + CLIP (parallel threads)", t_both),
        ("full check without CLIP (NSFW + faces)", t_nsfw + t_faces),
        ("full check with CLIP (NSFW+CLIP, faces)", t_both + t_faces),
    ):
        print(f"{name:38s} | {t:10.3f} | {n / t:8.1f}")


if __name__ == "__main__":
    main()
