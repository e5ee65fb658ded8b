"""The prompt classifiers' recipe measured over every scene: k-fold cross-validation.

    .venv/bin/python bench/prompts_kfold.py                 # 7 folds, ~11 min each; resumes
    .venv/bin/python bench/prompts_kfold.py --folds 0 1     # only these folds (then the summary)
    .venv/bin/python bench/prompts_kfold.py --summary       # the summary of the folds done so far
    .venv/bin/python bench/prompts_kfold.py --train-fraction 0.5 --folds 0 1 2
        # a learning curve: tuned on half of each fold's training groups, paired with the full run
    .venv/bin/python bench/prompts_kfold.py --train-fraction 0.5 --epochs 2 --folds 0 1
        # the same number of steps as the full run on half the data
    .venv/bin/python bench/prompts_kfold.py --train-fraction 0.5 --epochs 2 --summary --against k7-train0.5
        # paired with another run instead of the full one
    .venv/bin/python bench/prompts_kfold.py --work bench/out/kfold-new \
        --against bench/out/kfold/k7 --against-data c195504
        # after scenes were added: this prompt set's run, paired with the run on the set of an
        # earlier commit, on the prompts both runs held out in the same fold (what the new scenes are worth)

The held-out test split holds ~300 harmful and ~340 benign scenes, too few to tell two
models a point apart (``bench/stats.py``). Here the *recipe* (``tune_encoder`` with the
shipped seed and epochs, then ``train_head``'s lines, then the default stack as the service
combines it) is run once per fold: the scenes' linked groups (``scene_links.json``) are cut
into ``K`` folds by a hash; for fold k the test set is fold k, the lines are chosen on fold
k+1 (its "dev"), and the encoder is tuned on the other K-2 folds. With K = 7 these are the
shipped split's proportions (71 / 14 / 14 %), so the pooled figures estimate what the
shipped recipe gives on scenes it never saw, over all ~4,300 scenes instead of ~640.

Each fold's tuned layers, head and per-prompt results are kept in ``--work`` (default
``bench/out/kfold``); a fold already there is not run again (delete its files to redo it).
The summary pools the folds done: recall and benign FPR of the default stack at each fold's
own dev lines (adult thresholds), the gate's "oracle" (recall at 3 % benign FPR; each
fold's gate put on its own benign scale first, so that one line fits every fold), the
teen figures, and which pinned prompts of the suite each fold's model fails
(``bench/encoder_candidates.py``). Intervals: 95 % over linked scene groups
(``bench/stats.py``). With ``--train-fraction`` the encoder is tuned on that share of each
fold's training groups (by a hash: a smaller share is inside a larger one; the lines and the
test stay), kept apart in ``--work``, and the summary adds the paired difference from the
full run on the folds both have done: what more (or less) data is worth. ``--epochs`` tunes
longer (with half the data and two epochs, as many steps as the full run: data apart from
steps); it is compared with the full run the same way. A run on another prompt set (scenes
added: the folds of the earlier scenes mostly stay, a group's fold being a hash of its first
scene) is compared with ``--against-data COMMIT``, the commit whose ``prompts.jsonl`` and
``scene_links.json`` that run used: paired on the prompts (by text) that both runs tested in
the same fold, each run at its own lines, each gate on its benign scale over those prompts.
Not part of the suite (it tunes K models); a bench job.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.encoder_candidates import KeywordLayers, pinned_failures  # noqa: E402
from bench.prompts_paired import at_commit  # noqa: E402
from bench.stats import SceneBootstrap  # noqa: E402
from classifiers.base import combine  # noqa: E402
from classifiers.data.build_prompts import linked_groups  # noqa: E402
from classifiers.minilm_onnx import MiniLMOnnx  # noqa: E402
from classifiers.policy import Policy  # noqa: E402
from classifiers.semantic import Head, SemanticClassifier, semantic_views  # noqa: E402
from classifiers.train_head import _best_per_row, load, train  # noqa: E402
from classifiers.tune_encoder import EPOCHS, SEED, serialise, tune  # noqa: E402

FOLDS = 7
WORK = ROOT / "bench" / "out" / "kfold"


def group_of(rows: list[dict], linked: dict[str, str] | None = None) -> list[str]:
    """Each prompt's linked scene group (its scene, when the scene is not linked); ``linked``:
    scene -> group (default: the committed ``scene_links.json``)."""
    linked = linked_groups() if linked is None else linked
    return [linked.get(r["core"], r["core"]) for r in rows]


def data_at(commit: str) -> tuple[list[dict], list[str]]:
    """The prompts and their linked groups as they were at a git commit (``--against-data``)."""
    rows = [json.loads(line) for line in at_commit(commit, "classifiers/data/prompts.jsonl").decode().splitlines()]
    groups = json.loads(at_commit(commit, "classifiers/data/scene_links.json"))["groups"]
    return rows, group_of(rows, {core: group[0] for group in groups for core in group})


def fold_of(group: str, folds: int) -> int:
    return int(hashlib.sha256(f"fold {group}".encode()).hexdigest(), 16) % folds


def kept_for_training(group: str, fraction: float) -> bool:
    """Whether a training group is kept when tuning on ``fraction`` of them (a learning curve)."""
    return fraction >= 1 or int(hashlib.sha256(f"train {group}".encode()).hexdigest(), 16) % 1000 < fraction * 1000


def run_fold(
    k: int,
    folds: int,
    rows: list[dict],
    groups: list[str],
    fold: np.ndarray,
    fraction: float,
    epochs: int,
    keywords: KeywordLayers,
    work: Path,
) -> None:
    kept = np.array([kept_for_training(g, fraction) for g in groups])
    test_idx = np.flatnonzero(fold == k)
    dev = [rows[i] for i in np.flatnonzero(fold == (k + 1) % folds)]
    train_rows = [rows[i] for i in np.flatnonzero((fold != k) & (fold != (k + 1) % folds) & kept)]
    print(
        f"fold {k}: tuning on {len(train_rows)} prompts, lines on {len(dev)} (fold {(k + 1) % folds}), "
        f"testing on {len(test_idx)}",
        flush=True,
    )
    t0 = time.perf_counter()
    layers = work / f"fold{k}.safetensors"
    if not layers.exists():  # the tuning is the long part (~12 min): kept once done
        tmp = layers.with_suffix(".partial")
        tmp.write_bytes(serialise(tune(SEED, epochs, rows=train_rows)))
        tmp.rename(layers)
    out = {
        "fold": k,
        "folds": folds,
        "seed": SEED,
        "epochs": epochs,
        "train_fraction": fraction,
        "data_sha256": data_hash(rows, groups),
        **evaluate(layers.read_bytes(), dev, rows, test_idx, keywords, work / f"fold{k}_head.npz"),
    }
    (work / f"fold{k}.json").write_text(json.dumps(out), "utf-8")
    print(f"fold {k}: done in {time.perf_counter() - t0:.0f} s", flush=True)


def data_hash(rows: list[dict], groups: list[str]) -> str:
    """What a fold's results depend on: the prompts, their labels and their linked groups (the folds)."""
    parts = [(r["text"], r["kind"], r["labels"], g) for r, g in zip(rows, groups, strict=True)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def evaluate(
    overlay: bytes, dev: list[dict], rows: list[dict], test_idx: np.ndarray, keywords: KeywordLayers, head_out: Path
) -> dict:
    """The default stack with these tuned layers, its lines chosen on ``dev``: per test prompt
    its gate score and whether it is flagged for adults and for teens; the pinned prompts failed."""
    encoder = MiniLMOnnx(overlay=overlay, quantized=True)
    encoder.start()
    head_bytes = train(encoder, overlay=overlay, dev_rows=dev)
    head_out.write_bytes(head_bytes)
    head = Head.load(head_bytes)
    semantic = SemanticClassifier(head=head, encoder=encoder)
    semantic.start()
    policy = Policy()
    test = [rows[i] for i in test_idx]
    views = [semantic_views(r["text"]) for r in test]
    x = encoder.encode([v for vs in views for v in vs])
    gate = _best_per_row(head.gate(x), [i for i, vs in enumerate(views) for _ in vs], len(test))
    results = []
    for i, r, g, s in zip(test_idx, test, gate, semantic.score_embedded(views, x), strict=True):
        stack = combine([*keywords.score(r["text"]), ("semantic", s)])
        results.append(
            {
                "row": int(i),
                "gate": round(float(g), 6),
                "adult": policy.decide(stack, "adult").outcome != "allow",
                "teen": policy.decide(stack, "teen").outcome != "allow",
            }
        )
    return {"pinned_failures": pinned_failures(semantic, keywords, policy), "results": results}


def benign_scale(gate: np.ndarray, benign: np.ndarray) -> np.ndarray:
    """Each score as the share of this fold's benign prompts scored below it."""
    ref = np.sort(gate[benign])
    return np.searchsorted(ref, gate, side="left") / len(ref)


def done_folds(rows: list[dict], groups: list[str], work: Path) -> dict[int, dict]:
    """The folds done in ``work`` on the current prompt set, by fold."""
    done = [json.loads(p.read_text("utf-8")) for p in sorted(work.glob("fold*.json"))]
    current = data_hash(rows, groups)
    stale = [d["fold"] for d in done if d["data_sha256"] != current]
    if stale:
        print(f"folds {stale} in {work} were run on other data (prompts.jsonl changed): left out; delete them to redo")
    return {d["fold"]: d for d in done if d["data_sha256"] == current}


def pooled(rows: list[dict], groups: list[str], docs: list[dict]) -> tuple[list[dict], dict[str, np.ndarray]]:
    """The folds' test prompts in one list (a prompt's "core" is its linked group, the unit the
    intervals resample), and per prompt: flagged for adults, for teens, and its gate on its
    fold's benign scale."""
    out: list[dict] = []
    adult, teen, scaled = [], [], []
    for d in docs:
        res = d["results"]
        out += [{**rows[e["row"]], "core": groups[e["row"]]} for e in res]
        adult += [e["adult"] for e in res]
        teen += [e["teen"] for e in res]
        benign = np.array([rows[e["row"]]["kind"] == "benign" for e in res])
        scaled.append(benign_scale(np.array([e["gate"] for e in res]), benign))
    return out, {"adult": np.array(adult), "teen": np.array(teen), "gate": np.concatenate(scaled)}


def summary(
    rows: list[dict],
    groups: list[str],
    folds: int,
    work: Path,
    baseline: Path | None = None,
    baseline_data: tuple[list[dict], list[str]] | None = None,
) -> None:
    """The folds done in ``work``, pooled; with ``baseline`` (another run's directory) also
    the paired difference from it over the folds both have done (``baseline_data``: the
    prompts and groups that run used, when they are not the current ones)."""
    done = done_folds(rows, groups, work)
    if not done:
        print(f"no fold done in {work}")
        return
    d0 = next(iter(done.values()))
    print(
        f"\n{len(done)} of {folds} folds done in {work} (seed {d0['seed']}, {d0['epochs']} epoch(s), "
        f"tuned on {d0['train_fraction']:g} of each fold's training groups)"
    )
    print("fold | harmful / benign groups | recall | benign FPR | gate oracle | pinned prompts")
    for k, d in sorted(done.items()):
        fr, f = pooled(rows, groups, [d])
        kind = np.array([r["kind"] for r in fr])
        scenes = SceneBootstrap(fr, resamples=1).scenes
        fails = d["pinned_failures"]
        print(
            f"{k:4d} | {scenes['harmful']:4d} / {scenes['benign']:4d} | "
            f"{f['adult'][kind == 'harmful'].mean():.3f} | {f['adult'][kind == 'benign'].mean() * 100:5.2f} % | "
            f"{(f['gate'][kind == 'harmful'] > np.percentile(f['gate'][kind == 'benign'], 97)).mean():.3f} | "
            + ("all pass" if not fails else f"{len(fails)} fail: " + "; ".join(fails))
        )
    docs = [done[k] for k in sorted(done)]
    prompts, f = pooled(rows, groups, docs)
    adult, teen = f["adult"], f["teen"]
    kind = np.array([r["kind"] for r in prompts])
    boot = SceneBootstrap(prompts)
    print(
        f"\npooled over {len(prompts)} prompts ({boot.scenes['harmful']} harmful, {boot.scenes['benign']} benign "
        "linked scene groups; 95 % intervals over groups):"
    )
    print(
        f"  default stack: harmful recall {boot.rate(adult, 'harmful')} at benign FPR "
        f"{boot.rate(adult, 'benign').percent()}"
    )
    print(f"  gate oracle (recall at 3 % benign FPR): {boot.oracle(f['gate'])}")
    others = ", ".join(f"{boot.oracle(f['gate'], fpr).value:.3f} at {fpr} %" for fpr in (1, 2, 4, 5, 10))
    benign_gate, harmful_gate = f["gate"][kind == "benign"], f["gate"][kind == "harmful"]
    needed = (benign_gate >= np.percentile(harmful_gate, 5)).mean()
    print(f"  the gate at other benign FPRs: {others}; recall 0.95 needs {needed * 100:.1f} % benign FPR")
    if (kind == "teen").any():
        print(
            f"  teen-only flagged for teens {teen[kind == 'teen'].mean():.3f}, for adults "
            f"{adult[kind == 'teen'].mean():.3f}; benign FPR for teens {teen[kind == 'benign'].mean() * 100:.2f} %"
        )
    by: dict[str, list[bool]] = {}
    for r, flagged in zip(prompts, adult, strict=True):
        if r["kind"] == "harmful":
            for key in (*r["labels"], f"trick {r['trick'] or 'none'}", f"language {r['lang']}"):
                by.setdefault(key, []).append(bool(flagged))
    print(f"  recall on the {int((kind == 'harmful').sum())} harmful prompts, by label, evasion trick and language:")
    for key in (*sorted(k for k in by if " " not in k), *sorted(k for k in by if " " in k)):
        print(f"    {key:24s} {np.mean(by[key]):.3f} (n={len(by[key])})")
    passing = sum(not d["pinned_failures"] for d in docs)
    print(f"  folds whose model passes the suite's pinned prompts: {passing} of {len(docs)}")
    if baseline is None:
        return
    if baseline_data is not None:
        compare_across_data(rows, groups, done, baseline, *baseline_data)
        return
    base = done_folds(rows, groups, baseline)
    common = sorted(set(base) & set(done))
    if not common:
        print(f"\nno fold of {baseline} to compare with yet")
        return
    ours, theirs = pooled(rows, groups, [done[k] for k in common]), pooled(rows, groups, [base[k] for k in common])
    boot = SceneBootstrap(ours[0])  # the same prompts in the same order: the same resamples for both
    print(f"\nminus the run in {baseline} on the {len(common)} folds both have done (paired):")
    for name, figure in (
        ("recall", lambda x: boot.rate(x["adult"], "harmful")),
        ("benign FPR", lambda x: boot.rate(x["adult"], "benign")),
        ("gate oracle", lambda x: boot.oracle(x["gate"])),
    ):
        a, b = figure(ours[1]), figure(theirs[1])
        print(f"  {name:12s} {a.value:.3f} vs {b.value:.3f}: {a.minus(b)}")


def common_prompts(rows: list[dict], ours: dict, base_rows: list[dict], theirs: dict) -> list[tuple[dict, dict]]:
    """The (our result, their result) pairs of the prompts both fold documents tested, matched
    by text and kind (a text that occurs twice on either side is left out)."""

    def by_text(rs: list[dict], doc: dict) -> dict[tuple[str, str], dict]:
        seen: dict[tuple[str, str], dict | None] = {}
        for e in doc["results"]:
            key = (rs[e["row"]]["text"], rs[e["row"]]["kind"])
            seen[key] = None if key in seen else e
        return {key: e for key, e in seen.items() if e is not None}

    a, b = by_text(rows, ours), by_text(base_rows, theirs)
    return [(a[key], b[key]) for key in a if key in b]


def compare_across_data(
    rows: list[dict],
    groups: list[str],
    done: dict[int, dict],
    baseline: Path,
    base_rows: list[dict],
    base_groups: list[str],
) -> None:
    """Paired difference from a run on another prompt set, over the prompts both runs tested
    in the same fold (each at its own lines; each gate on its benign scale over those prompts)."""
    base = done_folds(base_rows, base_groups, baseline)
    common = sorted(set(base) & set(done))
    prompts: list[dict] = []
    ours: dict[str, list] = {"adult": [], "gate": []}
    theirs: dict[str, list] = {"adult": [], "gate": []}
    tested = 0
    for k in common:
        pairs = common_prompts(rows, done[k], base_rows, base[k])
        tested += len(done[k]["results"])
        if not pairs:
            continue
        fold_rows = [{**rows[a["row"]], "core": groups[a["row"]]} for a, _ in pairs]
        benign = np.array([r["kind"] == "benign" for r in fold_rows])
        prompts += fold_rows
        for side, out in ((0, ours), (1, theirs)):
            out["adult"] += [p[side]["adult"] for p in pairs]
            out["gate"].append(benign_scale(np.array([p[side]["gate"] for p in pairs]), benign))
    if not prompts:
        print(f"\nno prompt tested in the same fold by {baseline} (on its own data) yet")
        return
    a_f = {"adult": np.array(ours["adult"]), "gate": np.concatenate(ours["gate"])}
    b_f = {"adult": np.array(theirs["adult"]), "gate": np.concatenate(theirs["gate"])}
    boot = SceneBootstrap(prompts)
    print(
        f"\nminus the run in {baseline} (other prompt set) on the {len(common)} folds both have done, paired on "
        f"the {len(prompts)} of our {tested} test prompts it tested in the same fold ({boot.scenes.get('harmful', 0)} "
        f"harmful, {boot.scenes.get('benign', 0)} benign linked groups):"
    )
    for name, figure in (
        ("recall", lambda x: boot.rate(x["adult"], "harmful")),
        ("benign FPR", lambda x: boot.rate(x["adult"], "benign")),
        ("gate oracle", lambda x: boot.oracle(x["gate"])),
    ):
        a, b = figure(a_f), figure(b_f)
        print(f"  {name:12s} {a.value:.3f} vs {b.value:.3f}: {a.minus(b)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=FOLDS, help=f"how many folds (default {FOLDS}: the shipped proportions)")
    ap.add_argument("--folds", type=int, nargs="*", help="run only these folds (default: every fold not done)")
    ap.add_argument(
        "--train-fraction",
        type=float,
        default=1.0,
        help="tune on this share of each fold's training groups (a learning curve; compared with the full run)",
    )
    ap.add_argument(
        "--epochs",
        type=int,
        default=EPOCHS,
        help=f"passes over the training prompts (shipped: {EPOCHS}; with --train-fraction 0.5, 2 keeps the steps)",
    )
    ap.add_argument(
        "--against",
        help="compare with this run instead of the shipped recipe's (a directory, or its name under --work, "
        "e.g. k7-train0.5)",
    )
    ap.add_argument(
        "--against-data",
        metavar="COMMIT",
        help="the --against run used the prompt set of this git commit (compared on the prompts both tested)",
    )
    ap.add_argument("--summary", action="store_true", help="only print the summary of the folds done")
    ap.add_argument("--work", type=Path, default=WORK, help=f"where folds are kept (default {WORK})")
    args = ap.parse_args()
    if args.k < 3:
        ap.error("--k must be at least 3 (a fold to test, one for the lines, the rest to tune on)")
    if not 0 < args.train_fraction <= 1:
        ap.error(f"--train-fraction must be in (0, 1], not {args.train_fraction}")
    if args.epochs < 1:
        ap.error(f"--epochs must be at least 1, not {args.epochs}")
    todo = args.folds if args.folds is not None else list(range(args.k))
    if bad := [k for k in todo if not 0 <= k < args.k]:
        ap.error(f"no such fold: {bad} (folds are 0..{args.k - 1})")
    against = args.work / (args.against or f"k{args.k}")  # default: the shipped recipe's run
    if args.against and Path(args.against).is_dir():
        against = Path(args.against)
    if args.against and not against.is_dir():  # before any tuning, not after an hour of it
        ap.error(f"no run to compare with in {against}")
    if args.against_data and not args.against:
        ap.error("--against-data needs --against (the run made on that commit's prompts)")
    baseline_data = data_at(args.against_data) if args.against_data else None
    rows = load()
    groups = group_of(rows)
    fold = np.array([fold_of(g, args.k) for g in groups])
    variant = (f"-train{args.train_fraction:g}" if args.train_fraction < 1 else "") + (
        f"-epochs{args.epochs}" if args.epochs != EPOCHS else ""
    )
    work = args.work / f"k{args.k}{variant}"
    work.mkdir(parents=True, exist_ok=True)
    if not args.summary:
        keywords = KeywordLayers({})
        current = data_hash(rows, groups)
        for k in todo:
            if (work / f"fold{k}.json").exists():
                if json.loads((work / f"fold{k}.json").read_text("utf-8"))["data_sha256"] != current:
                    print(
                        f"fold {k}: {work} holds a run on another prompt set; use another --work "
                        "(or delete its fold files to redo them)",
                        file=sys.stderr,
                    )
                    return 2
                print(f"fold {k}: already done ({work / f'fold{k}.json'})")
                continue
            run_fold(k, args.k, rows, groups, fold, args.train_fraction, args.epochs, keywords, work)
    summary(rows, groups, args.k, work, baseline=None if work == against else against, baseline_data=baseline_data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
