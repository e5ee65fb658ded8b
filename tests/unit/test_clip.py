"""The CLIP frame classifier's loading and scoring path, with a randomly initialised
checkpoint saved by the test (no CLIP weights ship offline), and its fail-closed behaviour
when no checkpoint is configured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classifiers.clip import COVERED, ClipZeroShotClassifier
from classifiers.output import OutputChecker
from classifiers.policy import Policy
from classifiers.registry import frame_classifier
from tests.clip_checkpoint import write_checkpoint


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("models")
    write_checkpoint(d / "clip")
    return d


def test_loads_a_checkpoint_and_scores_frames(models_dir: Path) -> None:
    clf = frame_classifier("clip", {"PROVGATE_MODELS_DIR": str(models_dir)})
    assert isinstance(clf, ClipZeroShotClassifier) and clf.unavailable_categories == ()
    clf.start()
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, size=(5, 120, 200, 3), dtype=np.uint8)
    out = clf.score_frames(frames)
    assert len(out) == 5 and all(set(s) == set(COVERED) for s in out)
    assert all(0.0 <= v <= 1.0 for s in out for v in s.values()) and all(sum(s.values()) <= 1.0001 for s in out)
    assert clf.score_frames(frames[2:3])[0] == out[2]  # batching does not change a frame's score
    assert clf.preprocess(frames[:1]).shape == (1, 3, 64, 64)


def test_without_a_checkpoint_it_says_so_and_fails_closed(tmp_path: Path) -> None:
    clf = frame_classifier("clip", {})
    assert clf.unavailable_categories == COVERED  # type: ignore[attr-defined]
    clf.start()
    assert clf.score_frames(np.zeros((2, 8, 8, 3), np.uint8)) == [{}, {}]
    with pytest.raises(ValueError, match="open_clip_config.json"):
        frame_classifier("clip", {"PROVGATE_CLIP_DIR": str(tmp_path)})
    checker = OutputChecker([clf], [], Policy())
    frames = np.zeros((3, 16, 16, 3), np.uint8)
    quiet = checker.check_sampled(frames, age_band="adult", prompt_categories={"violence": 0.01})
    assert quiet.decision.outcome == "allow"
    hinted = checker.check_sampled(frames, age_band="adult", prompt_categories={"violence": 0.4})
    assert hinted.decision.outcome == "review"
    assert any("unchecked: clip has no model" in r for r in hinted.decision.reasons)
    checker.close()
