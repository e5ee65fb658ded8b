"""Named real people: a prompt that names a well-known public figure is
``likeness/public-figure`` (blocked by the policy) unless the person is an enrolled
protected cameo that granted the user (admission passes those names as ``consented``).
Names are matched on every normalised view, so spacing, leetspeak and homoglyph tricks
do not hide them."""

from __future__ import annotations

import importlib.resources
import re

from .base import PromptClassifier, Scores
from .normalize import normalize

CATEGORY = "likeness/public-figure"
SCORE = 0.9


def name_key(name: str) -> str:
    views = normalize(name).views
    return " ".join(re.findall(r"\w+", views[-1])) if views else ""


class PublicFigureClassifier(PromptClassifier):
    name = "public_figures"

    def __init__(self, people: list[list[str]] | None = None) -> None:
        if people is None:
            raw = importlib.resources.files("classifiers").joinpath("data/public_figures.txt").read_text("utf-8")
            people = [
                [a.strip() for a in line.split("|") if a.strip()]
                for line in raw.splitlines()
                if line.strip() and not line.startswith("#")
            ]
        # alias key -> the person's display name (first alias)
        self._aliases = {name_key(a): p[0] for p in people for a in p}
        # Spaced-out letters collapse into one word ("b a r a c k o b a m a" -> "barackobama").
        self._aliases |= {k.replace(" ", ""): v for k, v in list(self._aliases.items()) if " " in k}
        alts = "|".join(re.escape(k) for k in sorted(self._aliases, key=len, reverse=True))
        self._pattern = re.compile(rf"(?<!\w)(?:{alts})(?!\w)")

    def named(self, text: str) -> list[str]:
        """Display names of the public figures ``text`` names."""
        found: dict[str, None] = {}
        for view in normalize(text).views:
            v = " ".join(re.findall(r"\w+", view))
            for m in self._pattern.finditer(v):
                found[self._aliases[m.group(0)]] = None
        return list(found)

    def _score_consented(self, text: str, consented: frozenset[str]) -> Scores:
        people = [p for p in self.named(text) if name_key(p) not in consented]
        if not people:
            return Scores()
        return Scores({CATEGORY: SCORE}, [f"public_figures: names {', '.join(people)}"])

    def _score(self, text: str) -> Scores:
        return self._score_consented(text, frozenset())
