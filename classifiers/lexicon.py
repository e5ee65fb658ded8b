"""Weighted category lexicon over normalised text, with benign-phrase exceptions.

All terms compile into one alternation per category (the regex engine does the
multi-pattern work); benign phrases are blanked out of each view before matching so that
"kill the lights" or "shoot a three-pointer" never count as violence. Scores per category
combine as a noisy-or of the matched term weights.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from dataclasses import dataclass

from .base import CATEGORIES, PromptClassifier, Scores
from .normalize import normalize

INTERNAL = {"minor"}  # helper categories used only in combinations


@dataclass(frozen=True)
class _Term:
    pattern: re.Pattern[str]
    weight: float


class LexiconClassifier(PromptClassifier):
    name = "lexicon"

    def __init__(self, data: dict | None = None) -> None:
        if data is None:
            raw = importlib.resources.files("classifiers").joinpath("data/lexicon.json").read_text("utf-8")
            data = json.loads(raw)
        self.version: str = data["version"]
        self._terms: dict[str, list[_Term]] = {}
        for category, terms in data["categories"].items():
            if category not in CATEGORIES and category not in INTERNAL:
                raise ValueError(f"lexicon: unknown category {category!r}")
            self._terms[category] = [
                _Term(re.compile(rf"(?<!\w)(?:{alts})(?!\w)"), float(w)) for alts, w in terms.items()
            ]
        self._combinations = data.get("combinations", [])
        benign = sorted((b.lower() for b in data.get("benign", [])), key=len, reverse=True)
        self._benign = (
            re.compile(r"(?<!\w)(?:" + "|".join(re.escape(normalize(b).views[-1]) for b in benign) + r")(?!\w)")
            if benign
            else None
        )

    def _score(self, text: str) -> Scores:
        views = normalize(text).views
        best: dict[str, float] = {}
        hits: dict[str, set[str]] = {}
        for view in views:
            scan = self._benign.sub(" ", view) if self._benign else view
            for category, terms in self._terms.items():
                miss = 1.0
                for term in terms:
                    found = {m.group(0) for m in term.pattern.finditer(scan)}
                    if found:
                        # Repeated distinct terms strengthen the evidence, each at most once.
                        miss *= (1.0 - term.weight) ** min(len(found), 2)
                        hits.setdefault(category, set()).update(found)
                score = 1.0 - miss
                if score > best.get(category, 0.0):
                    best[category] = score
        for combo in self._combinations:
            if all(best.get(c, 0.0) >= combo["min"] for c in combo["all"]):
                cat = combo["category"]
                best[cat] = max(best.get(cat, 0.0), float(combo["score"]))
                hits.setdefault(cat, set()).update(*(hits.get(c, set()) for c in combo["all"]))
        cats = {c: round(s, 4) for c, s in best.items() if c not in INTERNAL and s > 0}
        reasons = [
            f"{self.name}: {c} ({', '.join(sorted(hits.get(c, set()))[:5])})"
            for c, s in sorted(cats.items(), key=lambda kv: -kv[1])
        ]
        return Scores(cats, reasons)
