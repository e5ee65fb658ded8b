"""Apparent age on real photos, and the minors rule of the output check."""

from __future__ import annotations

import pytest

from classifiers.age import MINOR_AGE, AgeEstimator
from classifiers.output import OutputCheckResult
from consent.registry import face_backend
from gateway.cameos import FaceCheck
from gateway.pipeline import minors_rule
from schemas.api import Decision
from tests.faces import photo


@pytest.fixture(scope="module")
def est() -> AgeEstimator:
    e = AgeEstimator()
    e.start()
    return e


def test_adults_are_estimated_as_adults(est: AgeEstimator) -> None:
    det = face_backend("insightface")
    known = {"obama2": 47, "obama3": 53, "biden": 66}
    for name, age in known.items():
        img = photo(name)
        face = max(det.detect(img), key=lambda f: f.area)
        got = est.ages(img, [face.bbox])[0]
        assert abs(got - age) <= 12, (name, got)
    group = photo("t1")
    ages = est.ages(group, [f.bbox for f in det.detect(group)])
    assert len(ages) == 6 and min(ages) >= MINOR_AGE
    assert est.ages(group, []) == []


class _Services:
    class policy:  # noqa: N801
        version = "test"


def _check(sexual: float) -> OutputCheckResult:
    d = Decision(outcome="allow", categories={"sexual": sexual}, policy_version="t", stage="output")
    return OutputCheckResult(decision=d, sampled=1, timings={})


@pytest.mark.parametrize(
    ("min_age", "sexual", "fires"),
    [(12.0, 0.4, True), (12.0, 0.1, False), (30.0, 0.9, False), (None, 0.9, False), (17.9, 0.3, True)],
)
def test_minor_with_sexual_signal_is_sexual_minors(min_age: float | None, sexual: float, fires: bool) -> None:
    faces = FaceCheck(decision=Decision(outcome="allow"), appearances=[], min_age=min_age)
    d = minors_rule(_Services(), _check(sexual), faces)  # type: ignore[arg-type]
    assert (d is not None) is fires
    if d is not None:
        assert d.outcome == "block" and d.categories == {"sexual/minors": 1.0}
