from __future__ import annotations

import time

import numpy as np
import pytest

from classifiers.base import FrameClassifier
from classifiers.lexicon import LexiconClassifier
from classifiers.nsfw import OpenNSFWClassifier
from classifiers.output import OutputChecker, aggregate, sample_indices
from classifiers.policy import Policy


class ConstantFrames(FrameClassifier):
    """A fake with the real interface: fixed per-frame scores."""

    name = "constant"

    def __init__(self, per_frame: list[float] | float) -> None:
        self.per_frame = per_frame

    def _score_frames(self, frames: np.ndarray) -> list[dict[str, float]]:
        if isinstance(self.per_frame, float):
            return [{"sexual": self.per_frame} for _ in frames]
        return [{"sexual": v} for v in self.per_frame[: len(frames)]]


class Broken(FrameClassifier):
    name = "broken"

    def _score_frames(self, frames: np.ndarray) -> list[dict[str, float]]:
        raise RuntimeError("model exploded")


class Slow(FrameClassifier):
    name = "slow"

    def _score_frames(self, frames: np.ndarray) -> list[dict[str, float]]:
        time.sleep(2)
        return [{} for _ in frames]


FRAMES = np.zeros((48, 64, 64, 3), dtype=np.uint8)


def test_sampling_covers_two_fps_plus_first_and_last() -> None:
    idx = sample_indices(241, 24)
    assert idx[0] == 0 and idx[-1] == 240
    assert len(idx) >= 2 * 10
    assert max(np.diff(idx)) <= 12


def test_one_noisy_frame_does_not_fire() -> None:
    agg, persistence = aggregate([{"sexual": 0.99}] + [{"sexual": 0.01}] * 20)
    assert agg["sexual"] < 0.6
    assert persistence["sexual"] < 0.1


def test_persistent_evidence_fires() -> None:
    agg, _ = aggregate([{"sexual": 0.95}] * 8 + [{"sexual": 0.01}] * 12)
    assert agg["sexual"] > 0.9


def checker(*clfs: FrameClassifier, timeout: float = 5) -> OutputChecker:
    return OutputChecker(list(clfs), [LexiconClassifier()], Policy(), timeout_s=timeout)


def test_output_blocks_on_persistent_nsfw_signal() -> None:
    c = checker(ConstantFrames(0.97))
    assert c.check(FRAMES, 24, age_band="adult").decision.outcome == "block"
    c.close()


def test_output_allows_clean_frames() -> None:
    c = checker(ConstantFrames(0.01))
    assert c.check(FRAMES, 24, age_band="adult").decision.outcome == "allow"
    c.close()


def test_failing_classifier_fails_closed() -> None:
    c = checker(ConstantFrames(0.01), Broken())
    d = c.check(FRAMES, 24, age_band="adult").decision
    assert d.outcome == "review"
    assert any("check_failed: broken" in r for r in d.reasons)
    c.close()


def test_slow_classifier_times_out_closed() -> None:
    c = checker(Slow(), timeout=0.3)
    t0 = time.monotonic()
    d = c.check(FRAMES, 24, age_band="adult").decision
    assert time.monotonic() - t0 < 1.5
    assert d.outcome == "review" and any("timed out" in r for r in d.reasons)
    c.close()


def test_no_frame_classifier_is_not_a_pass() -> None:
    c = checker()
    assert c.check(FRAMES, 24, age_band="adult").decision.outcome == "review"
    c.close()


def test_generated_text_goes_through_prompt_classifiers() -> None:
    c = checker(ConstantFrames(0.01))
    d = c.check(FRAMES, 24, age_band="adult", texts=["how to kill yourself"]).decision
    assert d.outcome == "block"
    c.close()


def test_frame_interface_validates_input() -> None:
    with pytest.raises(ValueError):
        ConstantFrames(0.1).score_frames(np.zeros((2, 8, 8), dtype=np.uint8))


def test_open_nsfw_model_runs_and_scores_in_range() -> None:
    clf = OpenNSFWClassifier()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(5, 120, 160, 3), dtype=np.uint8)
    scores = clf.score_frames(frames)
    assert len(scores) == 5
    assert all(0.0 <= s["sexual"] <= 1.0 for s in scores)
    # A flat grey frame is not sexual content.
    grey = np.full((1, 224, 224, 3), 128, dtype=np.uint8)
    assert clf.score_frames(grey)[0]["sexual"] < 0.2
