"""The output check: sample frames, run every frame classifier and the text classifiers on
scene text and transcripts, aggregate over time, and let the policy decide.

Fail closed: a classifier that raises or overruns its deadline turns the outcome into at
least ``review`` with a reason naming it; nothing it should have checked is let through.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import numpy as np

from schemas.api import Decision

from .base import FrameClassifier, PromptClassifier, Scores, combine
from .policy import Policy


def sample_indices(n_frames: int, fps: float, per_second: float = 2.0) -> list[int]:
    """At least ``per_second`` frames per second of video, plus the first and the last."""
    if n_frames <= 0:
        return []
    step = max(1, int(fps // per_second))
    idx = set(range(0, n_frames, step))
    idx.update({0, n_frames - 1})
    return sorted(idx)


def aggregate(
    per_frame: Sequence[dict[str, float]], *, k_fraction: float = 0.2, persist_threshold: float = 0.5
) -> tuple[dict[str, float], dict[str, float]]:
    """Top-k mean per category (k = 20 % of sampled frames, at least 2 when possible).

    One noisy frame cannot fire a category on its own: with k >= 2 a single high frame is
    averaged with the next one. Also returns the fraction of frames over
    ``persist_threshold`` (temporal persistence) for the reasons.
    """
    cats: dict[str, list[float]] = {}
    for scores in per_frame:
        for c, v in scores.items():
            cats.setdefault(c, []).append(v)
    agg: dict[str, float] = {}
    persistence: dict[str, float] = {}
    for c, values in cats.items():
        arr = np.sort(np.asarray(values, dtype=np.float64))[::-1]
        k = max(min(2, len(arr)), math.ceil(k_fraction * len(arr)))
        agg[c] = float(arr[:k].mean())
        persistence[c] = float((arr >= persist_threshold).mean())
    return agg, persistence


# A prompt signal this strong in a category nobody can check on the frames sends to review:
# the teen review line (semantic scores map the dev-calibrated teen threshold to 0.3, so
# weaker scores are what benign prompts commonly get).
UNCHECKED_SIGNAL = 0.3


@dataclass
class OutputCheckResult:
    decision: Decision
    sampled: int
    timings: dict[str, float]


class OutputChecker:
    def __init__(
        self,
        frame_classifiers: Sequence[FrameClassifier],
        text_classifiers: Sequence[PromptClassifier],
        policy: Policy,
        *,
        timeout_s: float = 60.0,
        per_second: float = 2.0,
    ) -> None:
        self.frame_classifiers = list(frame_classifiers)
        self.text_classifiers = list(text_classifiers)
        self.policy = policy
        self.timeout_s = timeout_s
        self.per_second = per_second
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, len(self.frame_classifiers)), thread_name_prefix="provgate-check"
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def sample(self, frames: np.ndarray, fps: float) -> np.ndarray:
        """A copy of the frames the check looks at, so the originals can be marked meanwhile."""
        return frames[sample_indices(len(frames), fps, self.per_second)]

    def check(self, frames: np.ndarray, fps: float, *, age_band: str, texts: Sequence[str] = ()) -> OutputCheckResult:
        return self.check_sampled(self.sample(frames, fps), age_band=age_band, texts=texts)

    def check_sampled(
        self,
        sampled: np.ndarray,
        *,
        age_band: str,
        texts: Sequence[str] = (),
        prompt_categories: Mapping[str, float] | None = None,
    ) -> OutputCheckResult:
        """``prompt_categories``: the prompt's scores. A frame classifier without its model
        (e.g. no CLIP checkpoint) cannot clear its categories: when the prompt shows any
        signal in them, the output goes to review instead of passing unchecked."""
        idx = range(len(sampled))
        forced: list[str] = []
        for fc in self.frame_classifiers:
            missing = getattr(fc, "unavailable_categories", ())
            hinted = sorted(c for c in missing if (prompt_categories or {}).get(c, 0.0) >= UNCHECKED_SIGNAL)
            if hinted:
                forced.append(f"unchecked: {fc.name} has no model; the prompt suggests {', '.join(hinted)}")
        scores = Scores()
        timings: dict[str, float] = {}
        deadline = time.monotonic() + self.timeout_s
        futures = {c.name: self._pool.submit(c.score_frames, sampled) for c in self.frame_classifiers}
        for name, fut in futures.items():
            t0 = time.monotonic()
            try:
                per_frame = fut.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                fut.cancel()
                forced.append(f"check_failed: {name} timed out after {self.timeout_s:.0f}s")
                continue
            except Exception as exc:  # noqa: BLE001 - any failure fails closed
                forced.append(f"check_failed: {name}: {type(exc).__name__}: {exc}"[:300])
                continue
            finally:
                timings[name] = time.monotonic() - t0
            agg, persistence = aggregate(per_frame)
            reasons = [
                f"{name}: {c} top-k {v:.2f}, {persistence[c]:.0%} of {len(idx)} frames"
                for c, v in agg.items()
                if v >= 0.3
            ]
            scores = scores.merge(Scores(agg, reasons))
        for text in texts:
            layers: list[tuple[str, Scores]] = []
            for clf in self.text_classifiers:
                try:
                    layers.append((clf.name, clf.score(text)))
                except Exception as exc:  # noqa: BLE001
                    forced.append(f"check_failed: {clf.name} on generated text: {type(exc).__name__}")
            scores = scores.merge(combine(layers))
        if not self.frame_classifiers:
            forced.append("check_failed: no frame classifier configured")
        decision = self.policy.decide(scores, age_band, stage="output", forced=forced)
        return OutputCheckResult(decision, len(idx), timings)
