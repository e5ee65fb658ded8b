"""Text normalisation against evasion: emoji used for words, NFKC, zero-width and control
characters, diacritics, homoglyphs (Unicode confusables), leetspeak and spaced-out letters.

The lexicon matches against every *view* this produces, so a term hidden by any one trick
(or several together) is still found, while the plain view keeps ordinary words intact
("3 cats" is not rewritten to "e cats" in the plain view).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f]"
)
_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "9": "g",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "l",
        "+": "t",
        "€": "e",
    }
)
# Runs of single characters separated by spaces/punctuation: "k i l l", "k.i.l.l", "k-i-l-l".
_SPACED = re.compile(r"(?<![\w])(?:\w[\s.\-_*·•,]{1,3}){2,}\w(?![\w])")
_SEPARATORS = re.compile(r"[\s.\-_*·•,]+")
_NON_WORD = re.compile(r"[^\w\s']+")
_WS = re.compile(r"\s+")
_TOKEN = re.compile(r"\S+")
_REPEATS = re.compile(r"(\w)\1{2,}")


@functools.lru_cache(maxsize=1)
def _confusables() -> dict[str, str]:
    """Map each confusable character to its Latin look-alike (from confusable_homoglyphs' data)."""
    from confusable_homoglyphs import confusables

    table: dict[str, str] = {}
    data = confusables.confusables_data  # {char: [{"c": homoglyph, "n": name}, ...]}
    for char, glyphs in data.items():
        if len(char) != 1 or char.isascii():
            continue
        for g in glyphs:
            c = g.get("c", "")
            if len(c) == 1 and c.isascii() and c.isalnum():
                table[char] = c.lower()
                break
    return table


def _fold_token(m: re.Match[str]) -> str:
    """Fold look-alikes in a token that is Latin-looking: one that holds an ASCII letter
    ("kіll" with a Cyrillic i) or is made of look-alikes only ("соке" all in Cyrillic). A word
    of another script with letters that look like no Latin one ("пора", "домой") is a word, not
    a disguise, and stays as it was written."""
    table = _confusables()
    tok = m.group(0)
    letters = [ch for ch in tok if ch.isalpha()]
    if any(ch.isascii() for ch in letters) or all(ch in table for ch in letters):
        return "".join(table.get(ch, ch) for ch in tok)
    return tok


def _fold_confusables(text: str) -> str:
    return _TOKEN.sub(_fold_token, text)


def _is_latin(ch: str) -> bool:
    return ch.isascii() or unicodedata.name(ch, "").startswith("LATIN ")


def _strip_marks(text: str) -> str:
    """Drop the marks on Latin letters ("cafe" for "café", "kill" for a zalgo-stacked "k̸i̷l̴l̵"),
    keeping those of other scripts, where a mark is part of the spelling (the virama of a
    Devanagari conjunct, the breve of Cyrillic й); Hangul and other composed letters come back
    composed (NFC), not as loose jamo."""
    out: list[str] = []
    base_is_latin = False
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch):
            if base_is_latin:
                continue
        else:
            base_is_latin = _is_latin(ch)
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def _blank_non_word(m: re.Match[str]) -> str:
    """Punctuation and symbols become spaces; a combining mark left on another script's letter
    (a Devanagari vowel sign or virama) is part of the word and stays."""
    return "".join(ch if unicodedata.category(ch)[0] == "M" else " " for ch in m.group(0))


def _leet_token(m: re.Match[str]) -> str:
    """Leetspeak only inside tokens that also hold a letter: "k1ll" -> "kill", "1515" stays.
    A "!" at either end of the token is punctuation, not an "i": "run!" stays "run" (it was
    "runi", a second view the semantic layer scored), "sh!t" is still "shit"."""
    tok = m.group(0)
    if not any(ch.isalpha() for ch in tok):
        return tok
    core = tok.strip("!")
    start = tok.index(core)
    return tok[:start] + core.translate(_LEET) + tok[start + len(core) :]


def _collapse_spaced(text: str) -> str:
    return _SPACED.sub(lambda m: _SEPARATORS.sub("", m.group(0)), text)


@dataclass(frozen=True)
class Normalized:
    original: str
    plain: str  # NFKC, invisibles removed, casefolded, marks and homoglyphs folded
    views: tuple[str, ...]  # every distinct view the lexicon should scan


# Emoji used in place of words ("how to make a 💣"): read as the word.
_EMOJI_WORDS = {
    "🔪": "knife",
    "🗡": "knife",
    "🔫": "gun",
    "💣": "bomb",
    "🧨": "explosive",
    "💥": "explosion",
    "💊": "pills",
    "💉": "syringe",
    "🩸": "blood",
    "🔥": "fire",
    "💰": "money",
    "💵": "money",
    "☠": "death",
    "💀": "skull",
    "⚰": "coffin",
    "🪓": "axe",
    "🍆": "penis",
    "🍑": "butt",
    "💦": "fluids",
    "🔞": "adult",
    "🧒": "child",
    "👶": "baby",
    "👧": "girl",
    "👦": "boy",
    "🍺": "beer",
    "🍷": "wine",
    "🚬": "cigarette",
    "🌿": "weed",
    "❄": "cocaine",
}
_EMOJI = re.compile("|".join(re.escape(e) for e in sorted(_EMOJI_WORDS, key=len, reverse=True)))


def normalize(text: str) -> Normalized:
    t = _EMOJI.sub(lambda m: f" {_EMOJI_WORDS[m.group(0)]} ", text)
    t = unicodedata.normalize("NFKC", t)
    t = _INVISIBLE.sub("", t)
    t = "".join(ch if unicodedata.category(ch)[0] != "C" or ch in "\n\t" else " " for ch in t)
    t = _strip_marks(t).casefold()
    t = _fold_confusables(t)
    plain = _WS.sub(" ", t).strip()
    collapsed = _collapse_spaced(plain)
    leet = _TOKEN.sub(_leet_token, collapsed)
    dereped = _REPEATS.sub(r"\1", leet)
    views: list[str] = []
    for v in (plain, collapsed, leet, dereped):
        v = _WS.sub(" ", _NON_WORD.sub(_blank_non_word, v)).strip()
        if v and v not in views:
            views.append(v)
    return Normalized(original=text, plain=plain, views=tuple(views))
