"""Experiment (not used by the service): fine-tune all-MiniLM-L6-v2 end to end with a binary
harmful/benign head on the train split, and report held-out test recall at the threshold
chosen on dev for a 3 % (and 6 %) benign false-positive rate, plus the test-oracle recall
at 3 %. It measures how far the frozen-encoder heads (`classifiers/train_head.py`) are from
what the same encoder does when fine-tuned (bench/RESULTS.md). Needs torch + transformers
(installed by the test extra); ~2.5 min per epoch on one core.

    .venv/bin/python bench/prompts_finetune.py [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classifiers.minilm_onnx import model_dir  # noqa: E402
from classifiers.semantic import semantic_views  # noqa: E402

ROWS = [json.loads(line) for line in (ROOT / "classifiers/data/prompts.jsonl").open(encoding="utf-8")]


def views(split: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    texts, labels, owner = [], [], []
    for i, r in enumerate(ROWS):
        if r["split"] != split or r["kind"] == "teen":
            continue
        for v in semantic_views(r["text"]):
            texts.append(v)
            labels.append(1.0 if r["kind"] == "harmful" else 0.0)
            owner.append(i)
    return texts, np.array(labels), np.array(owner)


class Model(torch.nn.Module):
    def __init__(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        super().__init__()
        self.tok = AutoTokenizer.from_pretrained(str(model_dir()))
        self.enc = AutoModel.from_pretrained(str(model_dir()))
        self.head = torch.nn.Linear(384, 1)

    def forward(self, texts: list[str]) -> torch.Tensor:
        b = self.tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
        mask = b["attention_mask"].unsqueeze(-1).float()
        mean = (self.enc(**b).last_hidden_state * mask).sum(1) / mask.sum(1)
        return self.head(torch.nn.functional.normalize(mean, dim=-1) * 10).squeeze(-1)

    def row_scores(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Each prompt's score is its highest-scoring view."""
        texts, _, owner = views(split)
        self.eval()
        with torch.no_grad():
            s = np.concatenate([self(texts[i : i + 128]).numpy() for i in range(0, len(texts), 128)])
        self.train()
        best: dict[int, float] = {}
        for i, v in zip(owner.tolist(), s.tolist(), strict=True):
            best[i] = max(best.get(i, -1e9), v)
        ids = sorted(best)
        return np.array([best[i] for i in ids]), np.array([ROWS[i]["kind"] for i in ids])


def report(model: Model, tag: str) -> None:
    dev, dev_kind = model.row_scores("dev")
    test, test_kind = model.row_scores("test")
    harmful, benign = test[test_kind == "harmful"], test[test_kind == "benign"]
    for fpr in (0.03, 0.06):
        thr = np.percentile(dev[dev_kind == "benign"], 100 * (1 - fpr))
        print(
            f"{tag}: threshold for {fpr:.0%} dev FPR -> test recall {np.mean(harmful > thr):.3f}, "
            f"test FPR {np.mean(benign > thr):.3f}",
            flush=True,
        )
    print(f"{tag}: test-oracle recall at 3 % test FPR {np.mean(harmful > np.percentile(benign, 97)):.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = Model()
    texts, labels, _ = views("train")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-5, weight_decay=0.01)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(texts))
        for start in range(0, len(texts), 32):
            batch = order[start : start + 32]
            logits = model([texts[i] for i in batch])
            target = torch.tensor(labels[batch], dtype=torch.float32)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch} done in {time.perf_counter() - t0:.0f} s", flush=True)
        report(model, f"epoch {epoch}")


if __name__ == "__main__":
    main()
