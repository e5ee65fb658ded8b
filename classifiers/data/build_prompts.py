"""Build ``prompts.jsonl`` from :mod:`classifiers.data.prompts_src` (deterministic).

    .venv/bin/python -m classifiers.data.build_prompts

Each line: ``{"text", "labels", "split", "kind", "lang", "trick", "core"}``. ``kind`` is
``harmful``, ``teen`` (allowed for adults, not for teens) or ``benign`` (a hard negative).
About a quarter of the prompts also appear with an evasion trick (leetspeak, spaced letters,
zero-width characters, homoglyphs, emoji for words), in the same split as their core.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from classifiers.data.prompts_src import (
    CORES,
    FIFTH_BATCH,
    FOREIGN,
    FOREIGN_FIFTH_BATCH,
    FOURTH,
    PARENTS,
    TEEN_CORES,
    TEEN_FIFTH_BATCH,
    TEEN_FOURTH,
    TEMPLATES,
)

OUT = Path(__file__).with_name("prompts.jsonl")
LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}
HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і"}  # Cyrillic look-alikes
EMOJI = {"knife": "🔪", "gun": "🔫", "bomb": "💣", "pills": "💊", "blood": "🩸", "fire": "🔥", "money": "💰"}


def split_of(core: str) -> str:
    h = int(hashlib.sha256(core.encode()).hexdigest(), 16) % 100
    return "train" if h < 70 else ("dev" if h < 85 else "test")


def _longest_word(text: str) -> str:
    return max(text.split(), key=len)


def tricks(text: str, rng: random.Random) -> list[tuple[str, str]]:
    word = _longest_word(text)
    out = [
        ("leet", text.replace(word, "".join(LEET.get(c, c) for c in word), 1)),
        ("spaced", text.replace(word, " ".join(word), 1)),
        ("zero_width", text.replace(word, "\u200b".join(word), 1)),
        ("homoglyph", text.replace(word, "".join(HOMOGLYPHS.get(c, c) for c in word), 1)),
    ]
    for w, e in EMOJI.items():
        if w in text.split():
            out.append(("emoji", text.replace(w, e, 1)))
            break
    return [rng.choice(out)]


def with_parents(labels: list[str]) -> list[str]:
    full = set(labels)
    for lab in labels:
        if lab in PARENTS:
            full.add(PARENTS[lab])
    return sorted(full)


def build() -> list[dict]:
    rng = random.Random(20261122)
    rows: list[dict] = []

    def add(core: str, labels: list[str], kind: str, lang: str = "en", templates: list[str] = TEMPLATES) -> None:
        split = split_of(core)
        for t in templates:
            text = t.format(core)
            rows.append(
                {"text": text, "labels": labels, "split": split, "kind": kind, "lang": lang, "trick": "", "core": core}
            )
            if rng.random() < 0.25:
                for trick, tricked in tricks(text, rng):
                    rows.append(
                        {
                            "text": tricked,
                            "labels": labels,
                            "split": split,
                            "kind": kind,
                            "lang": lang,
                            "trick": trick,
                            "core": core,
                        }
                    )

    for cat, (harmful, benign) in CORES.items():
        for core in harmful:
            add(core, with_parents([cat]), "harmful")
        for core in benign:
            add(core, [], "benign")
    for cat, (harmful, benign) in TEEN_CORES.items():
        for core in harmful:
            add(core, [cat], "teen")
        for core in benign:
            add(core, [], "benign")
    for labels, lang, core in FOREIGN:
        add(core, with_parents(labels), "harmful" if labels else "benign", lang, ["{}", "a video of {}", "{}, 4k"])
    # Later batches come after every earlier row, so those rows (texts, tricks, splits) stay as they were.
    for batch, teen in ((FOURTH, TEEN_FOURTH), (FIFTH_BATCH, TEEN_FIFTH_BATCH)):
        for cat, (harmful, benign) in batch.items():
            for core in harmful:
                add(core, with_parents([cat]), "harmful")
            for core in benign:
                add(core, [], "benign")
        for cat, (harmful, benign) in teen.items():
            for core in harmful:
                add(core, [cat], "teen")
            for core in benign:
                add(core, [], "benign")
    for labels, lang, core in FOREIGN_FIFTH_BATCH:
        add(core, with_parents(labels), "harmful" if labels else "benign", lang, ["{}", "a video of {}", "{}, 4k"])
    return rows


def main() -> None:
    rows = build()
    with OUT.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[f"{r['kind']}/{r['split']}"] = kinds.get(f"{r['kind']}/{r['split']}", 0) + 1
    print(f"wrote {len(rows)} prompts to {OUT}: {dict(sorted(kinds.items()))}")


if __name__ == "__main__":
    main()
