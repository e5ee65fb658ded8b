"""Calibrate the semantic classifier's head, reproducibly, from ``data/prompts.jsonl``.

    .venv/bin/python -m classifiers.train_head            # writes classifiers/data/semantic_head.npz
    .venv/bin/python -m classifiers.train_head --check    # exit 1 if the shipped head differs

The head's weights are trained with the encoder (``tune_encoder``: one linear output per
label plus a binary "harmful" gate, stored as ``head.*`` next to the tuned layers); this
script chooses its thresholds on the *dev* split, as percentiles of the negatives'
probabilities (teen lines: the benign hard negatives; adult lines: those and the teen-only
scenes; for a category head also the harmful scenes of other categories): per label the 99th
(adult review line) and the 98.5th (teen review line), for the teen-only signals the 99th of
the benign hard negatives alone (they have no adult line, and a harmful prompt that also
reads as teen-unsuitable is no error), for the gate the 97.5th and the 96.5th and, for its
block line, the 99th, for the teen gate the 97.5th of the benign rows (see ``semantic.py``
for how they combine). Probabilities come from the int8 graph with the tuned layers, as the
service runs it (7-bit weights: the same on every CPU, ``minilm_onnx.quantize``). The *test*
split is never read here.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .base import CATEGORIES, TEEN_CATEGORIES
from .public_figures import CATEGORY as LIKENESS
from .semantic import HEAD_FILE, Head, semantic_views, tuned_overlay

DATA = Path(__file__).parent / "data" / "prompts.jsonl"
OUT = Path(__file__).parent / HEAD_FILE
# Every category but named likeness: whether a name is a real public figure is a fact the
# curated list of the public-figures layer knows, and an embedding does not (a head trained
# on it flags any proper noun: "a kafka outage clip" scored as a public figure).
LABELS = tuple(c for c in (*CATEGORIES, *TEEN_CATEGORIES) if c != LIKENESS)
LABEL_PERCENTILES = (98.5, 99.0)  # teen, adult
TEEN_ONLY_PERCENTILES = (99.0, 99.0)  # teen/* labels, on benign rows only: their only line
GATE_PERCENTILES = (96.5, 97.5)
GATE_BLOCK_PERCENTILE = 99.0  # the gate's block line: above all but 1 % of the benign dev rows
TEEN_GATE_PERCENTILE = 97.5  # the teen gate's one line (it only counts for teens)


def load(split: str | None = None) -> list[dict]:
    rows = [json.loads(line) for line in DATA.read_text("utf-8").splitlines() if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]


def embed_rows(rows: list[dict], encoder: object, *, glossed: bool = True) -> tuple[np.ndarray, list[int]]:
    """Embeddings of every view of every row, and the row index of each."""
    texts, owner = [], []
    for i, r in enumerate(rows):
        for v in semantic_views(r["text"], glossed=glossed):
            texts.append(v)
            owner.append(i)
    return encoder.encode(texts).astype(np.float64), owner  # type: ignore[attr-defined]


def _best_per_row(p: np.ndarray, owner: list[int], n: int) -> np.ndarray:
    best = np.zeros(n)
    np.maximum.at(best, np.array(owner), p)
    return best


def train(
    encoder: object | None = None,
    overlay: bytes | None = None,
    dev_rows: list[dict] | None = None,
    *,
    glossed: bool = True,
) -> bytes:
    """``overlay``: the tuned layers and head to calibrate (default: the shipped ones); the
    encoder must run the same layers. ``dev_rows``: where the lines are chosen (default: the
    dev split; ``bench/prompts_kfold.py`` passes its folds). ``glossed=False``: the lines for
    a semantic layer that reads other languages as written (the baseline of ``bench/prompts.py
    --no-gloss``)."""
    from .minilm_onnx import MiniLMOnnx

    overlay = overlay or tuned_overlay()
    enc = encoder or MiniLMOnnx(overlay=overlay, quantized=True)
    dev_rows = load("dev") if dev_rows is None else dev_rows
    xd, od = embed_rows(dev_rows, enc, glossed=glossed)
    # For teens the negatives are the benign hard negatives; for adults also the teen-only
    # scenes (a horror film, a party with beer: allowed for adults by design).
    teen_negative = np.array([r["kind"] == "benign" for r in dev_rows])
    adult_negative = np.array([r["kind"] in ("benign", "teen") for r in dev_rows])

    def thresholds(w: np.ndarray, b: float, percentiles: tuple[float, float], label: str | None = None) -> list[float]:
        # Per row: its best view. Thresholds: percentiles of the negative dev rows; for a
        # category head also the harmful rows of *other* categories, so that a harmful prompt
        # is flagged under its own category (reviewers' priority follows the category). The
        # gate's lines are set on the benign hard negatives alone: teen-only scenes sit close
        # to harmful ones, and counting them would raise the gate's adult line (less recall)
        # for what is, for adults, a send-to-review at most.
        # The teen-only signals' lines: on the benign rows alone (the teen-only scenes are their
        # positives, and before this their lines sat above every teen-only scene: they never fired).
        best = _best_per_row(1.0 / (1.0 + np.exp(-(xd @ w + b))), od, len(dev_rows))
        category = label is not None and not label.startswith("teen/")
        other = np.array([category and r["kind"] == "harmful" and label not in r["labels"] for r in dev_rows])
        negatives = (teen_negative, adult_negative if category else teen_negative)
        return [
            float(np.clip(np.percentile(best[negative | other], q), 0.02, 0.98))
            for negative, q in zip(negatives, percentiles, strict=True)
        ]

    from safetensors.numpy import load as load_tensors

    tensors = load_tensors(overlay)
    w_all, b_all = tensors["head.weight"].astype(np.float64), tensors["head.bias"].astype(np.float64)
    n = len(LABELS)
    if w_all.shape[0] != n + 2:
        raise ValueError(f"the tuned head has {w_all.shape[0]} outputs, expected {n} labels + harmful + teen gate")
    weight, bias = w_all[:n].T, b_all[:n]
    gate_w, gate_b = w_all[n], float(b_all[n])
    teen_gate_w, teen_gate_b = w_all[n + 1], float(b_all[n + 1])
    teen_t, adult_t = np.zeros(len(LABELS)), np.zeros(len(LABELS))
    for j, label in enumerate(LABELS):
        percentiles = TEEN_ONLY_PERCENTILES if label.startswith("teen/") else LABEL_PERCENTILES
        teen_t[j], adult_t[j] = thresholds(weight[:, j], bias[j], percentiles, label)
    gate_t = thresholds(gate_w, gate_b, GATE_PERCENTILES)
    gate_block = max(thresholds(gate_w, gate_b, (GATE_BLOCK_PERCENTILE, GATE_BLOCK_PERCENTILE))[0], gate_t[1])
    teen_gate_t = thresholds(teen_gate_w, teen_gate_b, (TEEN_GATE_PERCENTILE, TEEN_GATE_PERCENTILE))[0]
    buf = io.BytesIO()
    np.savez(
        buf,
        labels=np.array(LABELS),
        weight=weight.round(6),
        bias=bias.round(6),
        thresholds=adult_t.round(6),
        teen_thresholds=np.minimum(teen_t, adult_t).round(6),
        gate_weight=gate_w.round(6),
        gate_bias=np.array(round(gate_b, 6)),
        gate_thresholds=np.array([min(gate_t), gate_t[1]]).round(6),
        gate_block_threshold=np.array(round(gate_block, 6)),
        teen_gate_weight=teen_gate_w.round(6),
        teen_gate_bias=np.array(round(teen_gate_b, 6)),
        teen_gate_threshold=np.array(round(teen_gate_t, 6)),
        data_sha256=np.array(hashlib.sha256(DATA.read_bytes()).hexdigest()),
    )
    return buf.getvalue()


def same_head(a: Head, b: Head, atol: float = 1e-3) -> bool:
    return (
        a.labels == b.labels
        and np.allclose(a.weight, b.weight, atol=atol)
        and np.allclose(a.bias, b.bias, atol=atol)
        and np.allclose(a.thresholds, b.thresholds, atol=atol)
        and np.allclose(a.teen_thresholds, b.teen_thresholds, atol=atol)
        and np.allclose(a.gate_weight, b.gate_weight, atol=atol)
        and abs(a.gate_bias - b.gate_bias) <= atol
        and np.allclose(a.gate_thresholds, b.gate_thresholds, atol=atol)
        and abs(a.gate_block_threshold - b.gate_block_threshold) <= atol
        and np.allclose(a.teen_gate_weight, b.teen_gate_weight, atol=atol)
        and abs(a.teen_gate_bias - b.teen_gate_bias) <= atol
        and abs(a.teen_gate_threshold - b.teen_gate_threshold) <= atol
    )


def write_or_check(
    what: str,
    out: Path,
    make: Callable[[], bytes],
    same: Callable[[bytes, bytes], bool],
    check: bool,
) -> int:
    """A reproducible artifact: make it and write ``out``, or with ``check`` compare it with the
    shipped one (exit 1 when they differ)."""
    data = make()
    if check:
        ok = same(data, out.read_bytes())
        print(f"shipped {what} matches the script" if ok else f"shipped {what} DIFFERS from the script")
        return 0 if ok else 1
    out.write_bytes(data)
    print(f"wrote {out} ({len(data)} bytes)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the shipped head instead of writing")
    check = ap.parse_args().check
    return write_or_check("head", OUT, train, lambda a, b: same_head(Head.load(a), Head.load(b)), check=check)


if __name__ == "__main__":
    sys.exit(main())
