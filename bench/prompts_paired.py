"""The shipped prompt classifiers against those of an earlier commit, on the same held-out scenes.

    .venv/bin/python bench/prompts_paired.py c195504     # session 8's model, before the tenth batch

New scenes move the split: a re-link can put an earlier scene in another split, and the new
scenes are other prompts. So a model tuned on a grown prompt set and one tuned before it are
compared here on the prompts whose scene was in the same split (test, then dev) in both prompt
sets: the earlier model never trained on them and neither did the new one. Each model runs with
its own tuned layers and head (its lines chosen on its own dev split) and the current lexicon
and names layers, combined as the service combines them (default stack, adult thresholds).
Figures: harmful recall and benign hard-negative FPR of each, and the paired difference, with
95 % intervals over scenes (``bench/stats.py``: both models on the same resamples).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.encoder_candidates import KeywordLayers  # noqa: E402
from bench.stats import SceneBootstrap  # noqa: E402
from classifiers.base import combine  # noqa: E402
from classifiers.minilm_onnx import MiniLMOnnx  # noqa: E402
from classifiers.policy import Policy  # noqa: E402
from classifiers.semantic import ENCODER_FILE, HEAD_FILE, Head, SemanticClassifier, semantic_views  # noqa: E402
from classifiers.train_head import load  # noqa: E402


def at_commit(commit: str, path: str) -> bytes:
    """A file of the repository as it was at a git commit (exits with git's message if there is none)."""
    try:
        return subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, check=True).stdout
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"{commit}: {e.stderr.decode().strip()}") from None


def flagged(model: tuple[bytes, bytes], rows: list[dict], keywords: KeywordLayers, *, glossed: bool) -> np.ndarray:
    """Per row: flagged (review or block) by the default stack with these tuned layers and head
    (``glossed``: other languages read through their gloss, as since session 18)."""
    overlay, head = model
    encoder = MiniLMOnnx(overlay=overlay, quantized=True)
    encoder.start()
    semantic = SemanticClassifier(head=Head.load(head), encoder=encoder)
    semantic.start()
    views = [semantic_views(r["text"], glossed=glossed) for r in rows]
    x = encoder.encode([v for vs in views for v in vs])
    policy = Policy()
    return np.array(
        [
            policy.decide(combine([*keywords.score(r["text"]), ("semantic", s)]), "adult").outcome != "allow"
            for r, s in zip(rows, semantic.score_embedded(views, x), strict=True)
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("commit", help="the earlier commit (its prompt set, tuned layers and head)")
    args = ap.parse_args()
    old_rows = at_commit(args.commit, "classifiers/data/prompts.jsonl").decode().splitlines()
    old_split = {r["core"]: r["split"] for r in map(json.loads, old_rows)}
    old_model = (
        at_commit(args.commit, f"classifiers/{ENCODER_FILE}"),
        at_commit(args.commit, f"classifiers/{HEAD_FILE}"),
    )
    new_model = ((ROOT / "classifiers" / ENCODER_FILE).read_bytes(), (ROOT / "classifiers" / HEAD_FILE).read_bytes())
    # The earlier model as it ran then: glosses of other languages only if that commit had them.
    gloss_file = f"{args.commit}:classifiers/gloss.py"
    has_gloss = subprocess.run(["git", "cat-file", "-e", gloss_file], cwd=ROOT, capture_output=True)
    old_glossed = has_gloss.returncode == 0
    keywords = KeywordLayers({})
    for split in ("test", "dev"):
        rows = [r for r in load(split) if old_split.get(r["core"]) == split]
        if not rows:
            print(f"{split}: no scene in {split} in both prompt sets")
            continue
        boot = SceneBootstrap(rows)
        print(
            f"{split}: {len(rows)} prompts whose scene was in {split} at {args.commit} too "
            f"({boot.scenes.get('harmful', 0)} harmful, {boot.scenes.get('benign', 0)} benign scenes)",
            flush=True,
        )
        before = flagged(old_model, rows, keywords, glossed=old_glossed)
        now = flagged(new_model, rows, keywords, glossed=True)
        for name, f in ((args.commit, before), ("shipped", now)):
            print(f"  {name:8s} recall {boot.rate(f, 'harmful')} at FPR {boot.rate(f, 'benign').percent()}")
        print(
            f"  shipped minus {args.commit}: recall {boot.rate(now, 'harmful').minus(boot.rate(before, 'harmful'))}, "
            f"FPR {boot.rate(now, 'benign').minus(boot.rate(before, 'benign'))}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
