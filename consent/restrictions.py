"""A cameo owner's restrictions ("no political content", "nothing violent") checked against
prompts that use the cameo.

Two checks, either one is enough: (1) lexical: each restriction is reduced to its topic
words, expanded through a small topic table, and matched against the prompt's normalised
words (so the classifier's evasion handling applies here too); (2) semantic, when a sentence
encoder is available (the semantic prompt classifier is configured): the cosine between the
prompt and the restriction's topic ("no political content" -> "political content") reaches
SEMANTIC_THRESHOLD (chosen on examples in tests/unit/test_consent_policy.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from classifiers.normalize import normalize

NEGATIONS = {"no", "not", "never", "without", "don't", "dont", "avoid", "nothing", "none", "any"}
FILLER = {
    "content",
    "contents",
    "videos",
    "video",
    "please",
    "me",
    "my",
    "of",
    "in",
    "with",
    "the",
    "a",
    "an",
    "or",
    "and",
    "to",
    "use",
    "using",
    "for",
    "stuff",
    "things",
    "anything",
    "scenes",
    "scene",
    "related",
}
TOPICS: dict[str, set[str]] = {
    "political": {
        "politic",
        "politics",
        "political",
        "election",
        "elections",
        "vote",
        "voting",
        "campaign",
        "president",
        "senator",
        "parliament",
        "congress",
        "democrat",
        "republican",
        "rally",
        "protest",
        "candidate",
        "ballot",
        "government",
        "minister",
        "party",
    },
    "violent": {
        "violence",
        "violent",
        "fight",
        "fighting",
        "punch",
        "shoot",
        "shooting",
        "gun",
        "knife",
        "blood",
        "kill",
        "attack",
        "war",
        "weapon",
        "stab",
    },
    "alcohol": {"alcohol", "beer", "wine", "drunk", "drinking", "vodka", "whiskey", "cocktail", "bar"},
    "religious": {"religion", "religious", "church", "mosque", "temple", "prayer", "praying", "god"},
    "romantic": {"romantic", "romance", "kiss", "kissing", "date", "dating", "wedding", "love"},
    "advertising": {"ad", "advert", "advertising", "advertisement", "commercial", "brand", "sponsor", "product"},
    "scary": {"horror", "scary", "zombie", "monster", "ghost", "haunted"},
}
TOPIC_ALIASES = {
    "politics": "political",
    "violence": "violent",
    "drinking": "alcohol",
    "religion": "religious",
    "romance": "romantic",
    "ads": "advertising",
    "ad": "advertising",
    "commercials": "advertising",
    "horror": "scary",
}
WORD = re.compile(r"[a-z0-9']+")
SEMANTIC_THRESHOLD = 0.30


def _stem(w: str) -> str:
    for suf in ("ing", "es", "s"):
        if len(w) > 4 and w.endswith(suf):
            return w[: -len(suf)]
    return w


def topic_words(restriction: str) -> set[str]:
    words = [w for w in WORD.findall(restriction.lower()) if w not in NEGATIONS and w not in FILLER]
    out: set[str] = set()
    for w in words:
        topic = TOPIC_ALIASES.get(w, w)
        out.add(_stem(w))
        if topic in TOPICS:
            out |= {_stem(x) for x in TOPICS[topic]}
    return out


def topic_phrase(restriction: str) -> str:
    words = [w for w in WORD.findall(restriction.lower()) if w not in NEGATIONS]
    return " ".join(words) or restriction


def violated(prompt: str, restrictions: list[str], embed: Callable[[list[str]], np.ndarray] | None = None) -> list[str]:
    """The restrictions that ``prompt`` breaks."""
    if not restrictions:
        return []
    words: set[str] = set()
    views = normalize(prompt).views
    for v in views:
        words |= {_stem(w) for w in WORD.findall(v.lower())}
    out = [r for r in restrictions if topic_words(r) & words]
    if embed is not None:
        rest = [r for r in restrictions if r not in out]
        if rest and views:  # a prompt with no words left once normalised ("🐱") has no topic to compare
            vecs = embed([views[-1], *(topic_phrase(r) for r in rest)])
            sims = vecs[1:] @ vecs[0]
            out += [r for r, s in zip(rest, sims, strict=True) if s >= SEMANTIC_THRESHOLD]
    return [r for r in restrictions if r in out]
