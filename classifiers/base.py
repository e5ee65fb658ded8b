"""Classifier interfaces.

A classifier only scores; the :class:`~classifiers.policy.Policy` decides. Scores are per
category in [0, 1] using the taxonomy in :data:`CATEGORIES`. Classifiers are loaded once
and called from worker threads; they must be thread-safe for concurrent ``score`` calls or
guard themselves.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import final

import numpy as np

CATEGORIES: tuple[str, ...] = (
    "sexual",
    "sexual/minors",
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "violence",
    "violence/graphic",
    "likeness/public-figure",
    "deception/impersonation",
    "extremism",
)


# Teen-only signals: not violations for adults, blocked for teens (see classifiers.policy).
TEEN_CATEGORIES: tuple[str, ...] = ("teen/suggestive", "teen/horror", "teen/substances", "teen/stunts")


class ClassifierError(RuntimeError):
    """A classifier could not produce a score. Callers fail closed on it."""


@dataclass
class Scores:
    """Per-category scores plus the human-readable evidence behind them."""

    categories: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def merge(self, other: Scores) -> Scores:
        cats = dict(self.categories)
        for k, v in other.categories.items():
            cats[k] = max(cats.get(k, 0.0), v)
        return Scores(cats, [*self.reasons, *other.reasons])


# A keyword finding, when the semantic layer read the same text, counts only where that layer
# sees some harm too (any category at SUPPORT or more): keyword hits alone are the lexicon's
# false positives ("a nude colour palette", "a teacher explaining how to stop bullying").
# sexual/minors findings always count: missing one costs more than a review.
CORROBORATED_BY = {"lexicon": "semantic"}
SUPPORT = 0.2
ALWAYS_COUNTS = frozenset({"sexual/minors"})


def combine(layers: list[tuple[str, Scores]]) -> Scores:
    """The scores of every layer that read a text (by layer name), merged: per category the
    highest, except that an uncorroborated keyword finding is dropped (its reason kept, marked)."""
    by_name = dict(layers)
    out = Scores()
    for name, scores in layers:
        judge = CORROBORATED_BY.get(name)
        if judge in by_name and max(by_name[judge].categories.values(), default=0.0) < SUPPORT:
            kept = {c: v for c, v in scores.categories.items() if c in ALWAYS_COUNTS}
            dropped = [f"{r} - not corroborated by {judge}" for r in scores.reasons]
            scores = Scores(kept, dropped if not kept else scores.reasons)
        out = out.merge(scores)
    return out


class PromptClassifier(ABC):
    """Scores a text (prompt, scene text, transcript)."""

    name: str = "prompt"

    def start(self) -> None:  # noqa: B027 - optional hook
        """Load models. Called once before the first ``score``; safe to call twice."""

    @final
    def score(self, text: str, consented: frozenset[str] = frozenset()) -> Scores:
        """``consented``: normalised names of real people who granted this use of their
        likeness (their cameo grants the user); classifiers of named people skip them."""
        if not isinstance(text, str):
            raise TypeError(f"{self.name}: expected str, got {type(text).__name__}")
        return self._score_consented(text, consented) if consented else self._score(text)

    @abstractmethod
    def _score(self, text: str) -> Scores: ...

    def _score_consented(self, text: str, consented: frozenset[str]) -> Scores:
        return self._score(text)


class FrameClassifier(ABC):
    """Scores a batch of RGB frames (N x H x W x 3, uint8); one score dict per frame."""

    name: str = "frames"

    def start(self) -> None:  # noqa: B027 - optional hook
        """Load models once; safe to call twice."""

    @final
    def score_frames(self, frames: np.ndarray) -> list[dict[str, float]]:
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"{self.name}: frames must be N x H x W x 3 uint8, got {frames.shape} {frames.dtype}")
        if len(frames) == 0:
            return []
        out = self._score_frames(frames)
        if len(out) != len(frames):
            raise ClassifierError(f"{self.name}: returned {len(out)} scores for {len(frames)} frames")
        return out

    @abstractmethod
    def _score_frames(self, frames: np.ndarray) -> list[dict[str, float]]: ...
