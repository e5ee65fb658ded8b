"""Scene-bootstrap intervals for the prompt figures (``bench/prompts.py``,
``bench/encoder_candidates.py``).

A split's prompts are not independent: each scene comes with its templates and evasion
variants (about a dozen prompts), and a model reads them alike. So the figures count in steps
of one scene, and their noise is that of ~300 scenes, not of ~4,000 prompts. The intervals
here resample *scenes* with replacement, harmful and benign scenes separately (the split's
make-up is fixed by design), and report the 2.5th and 97.5th percentiles over the
resamples. The same resamples serve every model measured in one run, so the difference of
two models' figures gets a paired interval too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float
    draws: np.ndarray  # (RESAMPLES,) the figure on each resample, for paired differences

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"

    def percent(self) -> str:
        return f"{self.value * 100:.2f} % [{self.low * 100:.2f}, {self.high * 100:.2f}]"

    def minus(self, other: Interval) -> Interval:
        """This figure minus another measured on the same resamples."""
        d = self.draws - other.draws
        lo, hi = np.percentile(d, [2.5, 97.5])
        return Interval(self.value - other.value, float(lo), float(hi), d)


class SceneBootstrap:
    """Resampling weights per prompt: on each resample, a prompt weighs as many times as its
    scene was drawn."""

    def __init__(self, rows: list[dict], resamples: int = RESAMPLES, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.kind = np.array([r["kind"] for r in rows])
        self.weights = np.zeros((resamples, len(rows)), dtype=np.float32)
        self.scenes: dict[str, int] = {}  # kind -> how many scenes
        for kind in np.unique(self.kind):
            idx = np.flatnonzero(self.kind == kind)
            scenes, of_row = np.unique([rows[i]["core"] for i in idx], return_inverse=True)
            self.scenes[str(kind)] = len(scenes)
            counts = rng.multinomial(len(scenes), np.full(len(scenes), 1 / len(scenes)), size=resamples)
            self.weights[:, idx] = counts[:, of_row]

    def _interval(self, value: float, draws: np.ndarray) -> Interval:
        lo, hi = np.percentile(draws, [2.5, 97.5])
        return Interval(float(value), float(lo), float(hi), draws)

    def rate(self, flagged: np.ndarray, kind: str) -> Interval:
        """The share of ``kind`` prompts flagged (recall for harmful, FPR for benign)."""
        mask = self.kind == kind
        f, w = flagged[mask].astype(np.float32), self.weights[:, mask]
        return self._interval(float(np.mean(flagged[mask])), (w @ f) / w.sum(axis=1))

    def oracle(self, gate: np.ndarray, fpr: float = 3.0) -> Interval:
        """The gate's "oracle": recall on harmful prompts (``gate`` above the line) with the
        line at the benign prompts' (100 - fpr)th percentile, chosen again on each resample:
        how well the gate ranks, without the luck of a line chosen on another split."""
        benign, harmful = self.kind == "benign", self.kind == "harmful"
        b_order = np.argsort(gate[benign])
        b_sorted, wb = gate[benign][b_order], self.weights[:, benign][:, b_order]
        cum = np.cumsum(wb, axis=1) / wb.sum(axis=1, keepdims=True)
        at = np.minimum((cum < 1 - fpr / 100).sum(axis=1), len(b_sorted) - 1)
        lines = b_sorted[at]
        wh = self.weights[:, harmful]
        draws = ((gate[harmful][None, :] > lines[:, None]) * wh).sum(axis=1) / wh.sum(axis=1)
        line = np.percentile(gate[benign], 100 - fpr)
        return self._interval(float((gate[harmful] > line).mean()), draws)
