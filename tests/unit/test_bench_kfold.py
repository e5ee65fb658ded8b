"""The k-fold measure of the prompt recipe (bench/prompts_kfold.py): its folds and its summary
(the folds' tunings themselves are a bench job, not part of the suite)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.prompts_kfold import (
    benign_scale,
    common_prompts,
    data_hash,
    fold_of,
    group_of,
    kept_for_training,
    summary,
)
from classifiers.data.build_prompts import linked_groups
from classifiers.train_head import load


def test_folds_keep_linked_scenes_together_and_are_balanced() -> None:
    rows = load()
    groups = group_of(rows)
    folds = {g: fold_of(g, 7) for g in set(groups)}
    # Every scene of a linked group (near-paraphrases) lands in the group's one fold.
    by_group: dict[str, set[int]] = {}
    for core, first in linked_groups().items():
        by_group.setdefault(first, set()).add(fold_of(group_of([{"core": core}])[0], 7))
    assert by_group and all(len(f) == 1 for f in by_group.values())
    # And each prompt goes with its scene's group.
    assert all(folds[g] == fold_of(g, 7) for g in groups[:500])
    sizes = np.bincount(list(folds.values()), minlength=7)
    assert sizes.min() > 0.8 * sizes.mean() and sizes.max() < 1.2 * sizes.mean()


def test_benign_scale_puts_each_fold_on_its_benign_prompts_scale() -> None:
    gate = np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.05, 0.35])
    benign = np.array([True, True, True, True, False, False, False])
    scaled = benign_scale(gate, benign)
    assert list(scaled[benign]) == [0.0, 0.25, 0.5, 0.75]
    assert scaled[4] == 1.0 and scaled[5] == 0.0 and scaled[6] == 0.75


def test_a_learning_curve_keeps_a_share_of_the_training_groups() -> None:
    groups = [f"scene {i}" for i in range(4000)]
    half = [g for g in groups if kept_for_training(g, 0.5)]
    assert 0.45 < len(half) / len(groups) < 0.55
    assert set(g for g in groups if kept_for_training(g, 0.25)) < set(half)  # nested: a quarter is inside the half
    assert all(kept_for_training(g, 1.0) for g in groups)


def _fold_file(work: Path, rows: list[dict], fold: int, flagged: set[int], data: str) -> None:
    results = [
        {"row": i, "gate": 0.9 if i in flagged else 0.1, "adult": i in flagged, "teen": i in flagged}
        for i, _ in enumerate(rows)
        if i % 2 == fold
    ]
    doc = {
        "fold": fold,
        "folds": 2,
        "seed": 2,
        "epochs": 1,
        "train_fraction": 1.0,
        "data_sha256": data,
        "pinned_failures": [],
        "results": results,
    }
    (work / f"fold{fold}.json").write_text(json.dumps(doc), "utf-8")


def _rows() -> list[dict]:
    return [
        {"text": f"t{i}", "core": f"s{i // 2}", "trick": "", "lang": "en"}
        | ({"kind": "harmful", "labels": ["violence"]} if i < 40 else {"kind": "benign", "labels": []})
        for i in range(80)
    ]


def test_summary_pools_the_folds_of_this_data_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows()
    groups = [r["core"] for r in rows]
    # Fold 0: every harmful prompt flagged, no benign one. Fold 1: run on other data.
    _fold_file(tmp_path, rows, 0, set(range(40)), data_hash(rows, groups))
    _fold_file(tmp_path, rows, 1, set(), "another data set")
    summary(rows, groups, 2, tmp_path)
    out = capsys.readouterr().out
    assert f"folds [1] in {tmp_path} were run on other data" in out
    assert "1 of 2 folds done" in out
    assert "harmful recall 1.000 [1.000, 1.000] at benign FPR 0.00 %" in out
    assert "passes the suite's pinned prompts: 1 of 1" in out
    assert "violence                 1.000 (n=20)" in out


def test_a_partial_run_is_compared_with_the_full_one_on_the_same_folds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _rows()
    groups = [r["core"] for r in rows]
    full, half = tmp_path / "k2", tmp_path / "k2-train0.5"
    full.mkdir()
    half.mkdir()
    _fold_file(full, rows, 0, set(range(40)), data_hash(rows, groups))
    _fold_file(full, rows, 1, set(range(40)), data_hash(rows, groups))
    _fold_file(half, rows, 0, set(range(20)), data_hash(rows, groups))  # half the harmful prompts of fold 0
    summary(rows, groups, 2, half, baseline=full)
    out = capsys.readouterr().out
    assert "on the 1 folds both have done (paired)" in out
    assert "recall       0.500 vs 1.000: -0.500" in out


def test_prompts_are_paired_across_prompt_sets_by_text() -> None:
    old = [{"text": "a", "kind": "harmful"}, {"text": "b", "kind": "benign"}, {"text": "dup", "kind": "benign"}]
    new = [{"text": "new", "kind": "harmful"}, *old, {"text": "dup", "kind": "benign"}]  # a scene added first
    theirs = {"results": [{"row": 0, "gate": 0.1}, {"row": 1, "gate": 0.2}, {"row": 2, "gate": 0.3}]}
    ours = {"results": [{"row": i, "gate": i / 10} for i in range(5)]}
    pairs = common_prompts(new, ours, old, theirs)
    # "a" and "b" are matched on their text (rows 1, 2 here; 0, 1 there); the new scene has no
    # partner, and "dup", twice in the new set, is left out rather than matched at random.
    assert [(a["row"], b["row"]) for a, b in pairs] == [(1, 0), (2, 1)]


def test_a_run_on_new_data_is_compared_with_one_on_the_old_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _rows()
    new = [{**r, "text": f"new {r['text']}", "core": f"new {r['core']}"} for r in old[:4]] + old  # scenes added
    old_groups, new_groups = [r["core"] for r in old], [r["core"] for r in new]
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir()
    after.mkdir()
    _fold_file(before, old, 0, set(range(20)), data_hash(old, old_groups))  # half the harmful prompts
    _fold_file(after, new, 0, set(range(44)), data_hash(new, new_groups))  # every harmful prompt
    summary(new, new_groups, 2, after, baseline=before, baseline_data=(old, old_groups))
    out = capsys.readouterr().out
    # Fold 0 of each run holds every other row; the 4 added rows shift the old ones by 4 (even),
    # so the old prompts of fold 0 are in fold 0 of both: 40 prompts, 20 harmful.
    assert "paired on the 40 of our 42 test prompts it tested in the same fold" in out
    assert "recall       1.000 vs 0.500: 0.500" in out
