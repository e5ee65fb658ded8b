"""The scene bootstrap behind the prompt figures' intervals (bench/stats.py)."""

from __future__ import annotations

import numpy as np

from bench.stats import SceneBootstrap


def _rows(harmful_scenes: int, benign_scenes: int, per_scene: int) -> list[dict]:
    return [
        {"core": f"{kind}-{s}", "kind": kind}
        for kind, n in (("harmful", harmful_scenes), ("benign", benign_scenes))
        for s in range(n)
        for _ in range(per_scene)
    ]


def test_a_scene_is_resampled_whole_and_the_interval_reflects_the_scene_count() -> None:
    rows = _rows(harmful_scenes=20, benign_scenes=20, per_scene=10)
    boot = SceneBootstrap(rows, resamples=400)
    assert boot.scenes == {"harmful": 20, "benign": 20}
    # Each resample keeps the split's make-up: 20 harmful and 20 benign scenes of 10 prompts.
    harmful = boot.kind == "harmful"
    assert np.all(boot.weights[:, harmful].sum(axis=1) == 200)
    assert np.all(boot.weights[:, ~harmful].sum(axis=1) == 200)
    # Prompts of one scene always weigh the same.
    assert np.all(boot.weights[:, :10] == boot.weights[:, :1])
    # Two scenes of twenty missed: 0.9, with the spread of 20 draws (not of 200 prompts).
    flagged = np.array([not (r["kind"] == "harmful" and r["core"] in ("harmful-0", "harmful-1")) for r in rows])
    recall = boot.rate(flagged, "harmful")
    assert recall.value == 0.9
    assert recall.low <= 0.8 and recall.high == 1.0


def test_the_oracle_matches_the_plain_figure_and_pairs_its_resamples() -> None:
    rng = np.random.default_rng(1)
    rows = _rows(harmful_scenes=30, benign_scenes=40, per_scene=5)
    kind = np.array([r["kind"] for r in rows])
    scene = rng.normal(size=70).repeat(5)  # a score per scene, shared by its prompts
    gate = scene + np.where(kind == "harmful", 2.0, 0.0) + rng.normal(scale=0.1, size=len(rows))
    boot = SceneBootstrap(rows, resamples=300)
    a = boot.oracle(gate)
    line = np.percentile(gate[kind == "benign"], 97)
    assert a.value == (gate[kind == "harmful"] > line).mean()
    assert a.low <= a.value <= a.high
    same = a.minus(boot.oracle(gate))
    assert same.value == same.low == same.high == 0.0
    better = boot.oracle(gate + np.where(kind == "harmful", 1.0, 0.0)).minus(a)
    assert better.value > 0 and better.low >= 0
