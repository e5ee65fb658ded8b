"""Word-by-word English glosses of prompts in other languages, for the semantic layer.

The sentence encoder (all-MiniLM-L6-v2) was trained on English: it reads "une femme qui prend
un bain moussant avec des bougies" as noise, and noise from a model tuned to find harm is often
read as harm (half the benign prompts in other languages were flagged), while a harmful prompt
it cannot read goes through. Glossed word by word it reads "a woman who takes a bath moussant
with some candles", which it reads well enough: word order and grammar matter far less to it than
the words.

A view of a text (``normalize``: lower case, no diacritics) is taken for a language when at
least two of its words are among that language's markers (common function words that are not
English words), or one when most of its words are in that language's glossary; each word the
language's glossary knows (``data/gloss/LANG.txt``: whole words, and stems that end with ``-``
for inflected forms, longest first) is replaced by its English gloss, the others are kept.
When most of the view's words were glossed, the glossed view replaces it; otherwise (English
with a few foreign words) it is added beside it, and the semantic layer scores the best of
its views as before. English text is left alone. A language without a glossary is read as it
is written. The normaliser keeps the barred l of Polish (it has no decomposition); the
glossaries read it as l, since Polish is often typed without it.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass

MIN_MARKERS = 2  # marker words needed to take a view for a language
MIN_SHARE = 0.75  # or one marker, when this share of the words are in the language's glossary
MIN_STEM = 4  # a stem shorter than this would match too many words
REPLACE_SHARE = 0.5  # glossed share of the words above which the glossed view replaces the original
_FOLD = str.maketrans({"ł": "l"})  # letters the normaliser keeps that a glossary reads as plain


@dataclass(frozen=True)
class Glossary:
    lang: str
    markers: frozenset[str]
    words: dict[str, str]
    stems: dict[str, str]

    def gloss_word(self, word: str) -> str | None:
        if word in self.words:
            return self.words[word]
        for k in range(len(word), MIN_STEM - 1, -1):
            hit = self.stems.get(word[:k])
            if hit is not None:
                return hit
        return None


def parse(lang: str, text: str) -> Glossary:
    """``!markers w1 w2 ...`` lines list the markers; other lines are ``word gloss words...`` or
    ``stem- gloss words...``; ``#`` starts a comment. An empty gloss (``word -``) drops the word."""
    markers: set[str] = set()
    words: dict[str, str] = {}
    stems: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("!markers"):
            markers.update(line.translate(_FOLD).split()[1:])
            continue
        key, _, value = line.translate(_FOLD).partition(" ")
        value = value.strip()
        if not value:
            raise ValueError(f"gloss/{lang}.txt line {n}: {key!r} has no gloss")
        value = "" if value == "-" else value
        if key in words or key[:-1] in stems and key.endswith("-"):
            raise ValueError(f"gloss/{lang}.txt line {n}: {key!r} is glossed twice")
        if key.endswith("-"):
            if len(key) - 1 < MIN_STEM:
                raise ValueError(f"gloss/{lang}.txt line {n}: stem {key!r} is shorter than {MIN_STEM} letters")
            stems[key[:-1]] = value
        else:
            words[key] = value
    unknown = markers - words.keys()
    if unknown:
        raise ValueError(f"gloss/{lang}.txt: markers without a gloss: {sorted(unknown)}")
    return Glossary(lang, frozenset(markers), words, stems)


@functools.lru_cache(maxsize=1)
def glossaries() -> tuple[Glossary, ...]:
    folder = importlib.resources.files("classifiers").joinpath("data/gloss")
    found = sorted((f.name for f in folder.iterdir() if f.name.endswith(".txt")), key=str)
    return tuple(parse(name[:-4], folder.joinpath(name).read_text("utf-8")) for name in found)


def _tokens(view: str) -> list[str]:
    """Words, with elisions split off ("l'hommage" -> "l'", "hommage")."""
    out: list[str] = []
    for w in view.translate(_FOLD).split():
        head, apostrophe, rest = w.partition("'")
        if apostrophe and head and rest:
            out.extend((head + "'", rest))
        else:
            out.append(w)
    return out


def _known(g: Glossary, tokens: list[str]) -> float:
    return sum(g.gloss_word(t) is not None for t in tokens) / len(tokens)


def detect(view: str) -> Glossary | None:
    """The view's language: one whose markers it holds (at least ``MIN_MARKERS``, or one when
    ``MIN_SHARE`` of its words are in the glossary); of several, the one that knows most words."""
    tokens = _tokens(view)
    if not tokens:
        return None
    best, best_key = None, (0.0, 0)
    for g in glossaries():
        markers = sum(t in g.markers for t in tokens)
        if markers == 0:
            continue
        share = _known(g, tokens)
        if (markers >= MIN_MARKERS or share >= MIN_SHARE) and (share, markers) > best_key:
            best, best_key = g, (share, markers)
    return best


@dataclass(frozen=True)
class Glossed:
    text: str
    lang: str
    share: float  # of the view's words, those the glossary knew

    @property
    def replaces(self) -> bool:
        return self.share > REPLACE_SHARE


def gloss(view: str) -> Glossed | None:
    """The English gloss of a view in another language; None for English (or unknown) text."""
    g = detect(view)
    if g is None:
        return None
    tokens = _tokens(view)
    out, known = [], 0
    for t in tokens:
        hit = g.gloss_word(t)
        if hit is None:
            out.append(t)
        else:
            known += 1
            if hit:
                out.append(hit)
    return Glossed(" ".join(out), g.lang, known / len(tokens))
