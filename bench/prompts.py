"""Prompt classifier quality on the held-out *test* split of classifiers/data/prompts.jsonl
(scenes never seen in training), and prompt latency.

Quality, with the policy's adult thresholds (teen thresholds for the teen-only signals):
per category precision / recall / F1 (a category is predicted when its score reaches the
review line), recall on harmful prompts (flagged = outcome review or block), the false-
positive rate on benign hard negatives, and the same for each layer alone, each with its 95 %
interval over scenes (``bench/stats.py``); examples of misses and false positives for dev only
(the held-out split's errors stay unread). Latency: the whole prompt stack (normalise +
lexicon + semantic), single prompts and batches.

    .venv/bin/python bench/prompts.py                 # the held-out test split
    .venv/bin/python bench/prompts.py --split dev     # the split the thresholds are chosen on
    .venv/bin/python bench/prompts.py --no-gloss      # baseline: other languages read as written
    .venv/bin/python bench/prompts.py --since c195504 e962a80
        # also the default stack on the scenes already in each commit's prompt set and on
        # those added after it (oldest commit first): how hard each batch of scenes is
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stats import SceneBootstrap  # noqa: E402
from classifiers.base import CATEGORIES, TEEN_CATEGORIES, Scores, combine  # noqa: E402
from classifiers.lexicon import LexiconClassifier  # noqa: E402
from classifiers.policy import Policy  # noqa: E402
from classifiers.public_figures import PublicFigureClassifier  # noqa: E402
from classifiers.semantic import Head, SemanticClassifier  # noqa: E402
from classifiers.train_head import load, train  # noqa: E402


def evaluate(
    name: str, rows: list[dict], scores: list[Scores], policy: Policy, boot: SceneBootstrap, *, per_category: bool
) -> np.ndarray:
    """Prints the figures; returns per row whether it is flagged for adults."""
    kind = np.array([r["kind"] for r in rows])
    outcome = np.array([policy.decide(s, "adult").outcome for s in scores])  # decided once
    adult = outcome != "allow"  # flagged
    teen = np.array([policy.decide(s, "teen").outcome != "allow" for s in scores])
    harmful, benign = adult[kind == "harmful"], adult[kind == "benign"]
    print(
        f"{name:28s} harmful recall {harmful.mean():.3f} ({harmful.sum()}/{len(harmful)}) | "
        f"benign FPR {benign.mean() * 100:.2f} % ({benign.sum()}/{len(benign)}) | "
        f"teen-only: flagged for teens {teen[kind == 'teen'].mean():.3f}, "
        f"for adults {adult[kind == 'teen'].mean():.3f} | "
        f"benign FPR for teens {teen[kind == 'benign'].mean() * 100:.2f} %"
    )
    print(
        f"{'':28s} 95 % intervals over scenes: recall {boot.rate(adult, 'harmful')}, "
        f"FPR {boot.rate(adult, 'benign').percent()}"
    )
    # Which flag: a blocked benign prompt is refused outright, a reviewed one waits for a person.
    print(
        f"{'':28s} outcomes for adults: harmful blocked {np.mean(outcome[kind == 'harmful'] == 'block'):.3f}, "
        f"reviewed {np.mean(outcome[kind == 'harmful'] == 'review'):.3f} | benign blocked "
        f"{np.mean(outcome[kind == 'benign'] == 'block') * 100:.2f} %, "
        f"reviewed {np.mean(outcome[kind == 'benign'] == 'review') * 100:.2f} %"
    )
    if not per_category:
        return adult
    print("\ncategory                 | n pos | precision | recall | F1")
    for cat in (*CATEGORIES, *TEEN_CATEGORIES):
        band = "teen" if cat in TEEN_CATEGORIES else "adult"
        line = policy.thresholds(cat, band).review
        pred = np.array([s.categories.get(cat, 0.0) >= line for s in scores])
        gold = np.array([cat in r["labels"] for r in rows])
        tp, fp, fn = int((pred & gold).sum()), int((pred & ~gold).sum()), int((~pred & gold).sum())
        p = tp / (tp + fp) if tp + fp else float("nan")
        rc = tp / (tp + fn) if tp + fn else float("nan")
        f1 = 2 * p * rc / (p + rc) if tp else 0.0
        print(f"{cat:24s} | {int(gold.sum()):5d} | {p:9.3f} | {rc:6.3f} | {f1:.3f}")
    print("\nrecall on harmful prompts by evasion trick and by language:")
    for key in ("trick", "lang"):
        groups: dict[str, list[bool]] = {}
        for r, f in zip(rows, adult, strict=True):
            if r["kind"] == "harmful":
                groups.setdefault(r[key] or "none", []).append(bool(f))
        print("  " + key + ": " + ", ".join(f"{k} {np.mean(v):.2f} (n={len(v)})" for k, v in sorted(groups.items())))
    # Other languages are read through their English gloss (classifiers/gloss.py): their false
    # positives are what it mostly changed, so they are printed by language too.
    benign_by_lang: dict[str, list[bool]] = {}
    for r, f in zip(rows, adult, strict=True):
        if r["kind"] == "benign":
            benign_by_lang.setdefault(r["lang"] or "none", []).append(bool(f))
    other = [f for lang, fs in benign_by_lang.items() if lang != "en" for f in fs]
    other_harm = [bool(f) for r, f in zip(rows, adult, strict=True) if r["kind"] == "harmful" and r["lang"] != "en"]
    print(
        "benign FPR by language: "
        + ", ".join(f"{k} {np.mean(v):.2f} (n={len(v)})" for k, v in sorted(benign_by_lang.items()))
        + f"\nall other languages: recall {np.mean(other_harm):.2f} (n={len(other_harm)}), "
        f"benign FPR {np.mean(other):.2f} (n={len(other)})"
    )
    if rows[0]["split"] != "dev":  # the held-out split's errors are not shown: no one should write data from them
        print("\n(examples of misses and false positives: --split dev)")
        return adult
    misses = [r["text"] for r, f in zip(rows, adult, strict=True) if r["kind"] == "harmful" and not f]
    fps = [r["text"] for r, f in zip(rows, adult, strict=True) if r["kind"] == "benign" and f]
    print("\nsome misses:", "; ".join(misses[:6]))
    print("some false positives:", "; ".join(fps[:6]))
    return adult


def by_age(rows: list[dict], adult: np.ndarray, commits: list[str]) -> None:
    """The default stack's figures (``adult``: its flags, from ``evaluate``) on the scenes of each
    commit's prompt set (oldest first) that no earlier commit had, and on those added since the last one."""
    from bench.prompts_paired import at_commit

    seen = [
        {json.loads(line)["core"] for line in at_commit(c, "classifiers/data/prompts.jsonl").decode().splitlines()}
        for c in commits
    ]
    names = [f"in {commits[0]}", *(f"added by {c}" for c in commits[1:]), "added since"]
    age = np.array([next((i for i, s in enumerate(seen) if r["core"] in s), len(commits)) for r in rows])
    print("\ndefault stack by the age of the scene:")
    for i, name in enumerate(names):
        sub = [r for r, a in zip(rows, age, strict=True) if a == i]
        if not any(r["kind"] == "harmful" for r in sub) or not any(r["kind"] == "benign" for r in sub):
            print(f"  {name:22s} (no harmful or no benign scene in this split)")
            continue
        boot, flags = SceneBootstrap(sub), adult[age == i]
        print(
            f"  {name:22s} recall {boot.rate(flags, 'harmful')} ({boot.scenes['harmful']} scenes), "
            f"FPR {boot.rate(flags, 'benign').percent()} ({boot.scenes['benign']} scenes)"
        )


def latency(lex: LexiconClassifier, sem: SemanticClassifier, rows: list[dict]) -> None:
    texts = [r["text"] for r in rows]
    for t in texts[:50]:  # warm-up
        lex.score(t).merge(sem.score(t))
    for name, fn in (("lexicon", lex.score), ("semantic", sem.score)):
        ts = []
        for t in texts[:1000]:
            t0 = time.perf_counter()
            fn(t)
            ts.append((time.perf_counter() - t0) * 1000)
        print(f"{name:9s} alone: p50 {statistics.median(ts):.2f} ms, p99 {np.percentile(ts, 99):.2f} ms")
    single = []
    for t in texts[:1000]:
        t0 = time.perf_counter()
        combine([("lexicon", lex.score(t)), ("semantic", sem.score(t))])
        single.append((time.perf_counter() - t0) * 1000)
    print(
        f"\nsingle prompt (normalise + lexicon + semantic, 1 thread): p50 {statistics.median(single):.2f} ms, "
        f"p99 {np.percentile(single, 99):.2f} ms, over {len(single)} prompts"
    )
    for batch in (8, 32, 128):
        t0 = time.perf_counter()
        n = 0
        for i in range(0, min(len(texts), 1024), batch):
            chunk = texts[i : i + batch]
            sem.score_many(chunk)
            for t in chunk:
                lex.score(t)
            n += len(chunk)
        dt = time.perf_counter() - t0
        print(f"batches of {batch:3d}: {n / dt:6.0f} prompts/s ({dt / n * 1000:.2f} ms per prompt)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="test", choices=("test", "dev"))
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--since", nargs="+", metavar="COMMIT", help="figures by the commit that added the scene")
    ap.add_argument(
        "--no-gloss",
        action="store_true",
        help="the baseline: other languages read as written, the lines chosen on dev that way (train_head)",
    )
    args = ap.parse_args()
    policy = Policy()
    lex, names = LexiconClassifier(), PublicFigureClassifier()
    if args.no_gloss:
        print("# without glosses: other languages read as written; lines re-chosen on dev that way (~1 min)")
        sem = SemanticClassifier(head=Head.load(train(glossed=False)), glossed=False)
    else:
        sem = SemanticClassifier()
    sem.start()
    rows = load(args.split)
    print(
        f"# {args.split} split: {len(rows)} prompts ({sum(r['kind'] == 'harmful' for r in rows)} harmful, "
        f"{sum(r['kind'] == 'benign' for r in rows)} benign hard negatives, {sum(r['kind'] == 'teen' for r in rows)} "
        "teen-only)"
    )
    lexicon = [lex.score(r["text"]) for r in rows]
    named = [names.score(r["text"]) for r in rows]
    default = [a.merge(b) for a, b in zip(lexicon, named, strict=True)]
    sem_scores = sem.score_many([r["text"] for r in rows])
    both = [  # as the service combines them (a keyword finding needs the semantic layer's support)
        combine([("lexicon", a), ("public_figures", b), ("semantic", c)])
        for a, b, c in zip(lexicon, named, sem_scores, strict=True)
    ]
    boot = SceneBootstrap(rows)
    print(f"(scenes: {boot.scenes['harmful']} harmful, {boot.scenes['benign']} benign; intervals: bench/stats.py)\n")
    evaluate("lexicon + names", rows, default, policy, boot, per_category=False)
    evaluate("semantic alone", rows, sem_scores, policy, boot, per_category=False)
    flagged = evaluate("default: + semantic", rows, both, policy, boot, per_category=True)
    if args.since:
        by_age(rows, flagged, args.since)
    if not args.no_latency:
        latency(lex, sem, load())


if __name__ == "__main__":
    main()
