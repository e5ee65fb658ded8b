"""CLIP zero-shot frame classifier (open-clip-torch) for what open-NSFW does not see:
violence, gore, weapons, self-harm, hate symbols and extremist imagery.

No CLIP weights ship on PyPI: place an OpenCLIP checkpoint directory in
``$PROVGATE_MODELS_DIR/clip`` (or ``PROVGATE_CLIP_DIR``) holding ``open_clip_config.json`` and
``open_clip_model.safetensors`` — for example the files of the public
``laion/CLIP-ViT-B-32-laion2B-s34B-b79K`` repository. Without one, the service says so at
start, and outputs whose prompt shows any signal in these categories go to human review
instead of passing unchecked (see :attr:`ClipZeroShotClassifier.unavailable_categories`).
torch, torchvision and open-clip-torch are imported only when a checkpoint is configured
(``pip install 'provgate[clip]'``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .base import ClassifierError, FrameClassifier

log = logging.getLogger("provgate.classifiers.clip")

# provgate category -> text prompts; "_other" are the everyday scenes they compete with.
PROMPTS: dict[str, list[str]] = {
    "violence": [
        "a photo of people fighting violently",
        "a photo of a person being beaten",
        "a photo of a violent attack",
        "a photo of a person pointing a gun at someone",
        "a photo of a person holding a knife as a weapon",
    ],
    "violence/graphic": [
        "a photo of a bloody gory wound",
        "a photo of a mutilated corpse",
        "a photo of blood and gore",
    ],
    "self-harm": ["a photo of self-harm cuts on an arm", "a photo of a person hurting themselves"],
    "hate": ["a photo of a swastika", "a photo of a hate symbol", "a photo of a burning cross"],
    "extremism": [
        "a photo of an isis flag",
        "a photo of masked terrorists with rifles",
        "a photo of an extremist propaganda poster",
    ],
    "_other": [
        "a photo of a landscape",
        "a photo of people talking",
        "a photo of a city street",
        "a photo of an animal",
        "a photo of food",
        "a photo of a room",
        "an abstract colorful pattern",
        "a photo of a person smiling",
        "a cartoon",
        "a photo of people playing sports",
    ],
}
COVERED = tuple(c for c in PROMPTS if not c.startswith("_"))


class ClipZeroShotClassifier(FrameClassifier):
    name = "clip"

    def __init__(self, directory: Path | None, *, threads: int = 1, batch: int = 16) -> None:
        self.directory = directory
        self.threads = threads
        self.batch = batch
        self._model: Any = None
        self._text: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClipZeroShotClassifier:
        e = os.environ if env is None else env
        explicit = e.get("PROVGATE_CLIP_DIR")
        models = e.get("PROVGATE_MODELS_DIR")
        directory = Path(explicit) if explicit else (Path(models) / "clip" if models else None)
        if directory is not None and not (directory / "open_clip_config.json").is_file():
            if explicit:
                raise ValueError(f"PROVGATE_CLIP_DIR={explicit} holds no open_clip_config.json")
            directory = None
        return cls(directory)

    @property
    def unavailable_categories(self) -> tuple[str, ...]:
        """What this classifier would check, when it has no checkpoint (nothing otherwise)."""
        return COVERED if self.directory is None else ()

    def start(self) -> None:
        if self.directory is None:
            log.warning(
                "no CLIP checkpoint configured (PROVGATE_MODELS_DIR/clip): frames are not checked for %s; "
                "outputs whose prompt shows any of these go to human review",
                ", ".join(COVERED),
            )
            return
        with self._lock:
            if self._model is not None:
                return
            try:
                import open_clip
                import torch
            except ImportError as exc:
                raise ClassifierError(f"the CLIP classifier needs `pip install 'provgate[clip]'` ({exc.name})") from exc
            torch.set_num_threads(self.threads)
            model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{self.directory}")
            model.eval()
            tokenizer = open_clip.get_tokenizer(f"local-dir:{self.directory}")
            texts = [p for ps in PROMPTS.values() for p in ps]
            with torch.no_grad():
                t = model.encode_text(tokenizer(texts))
                t = t / t.norm(dim=-1, keepdim=True)
            size = model.visual.image_size
            self._size = size[0] if isinstance(size, tuple | list) else int(size)
            norm = next(tr for tr in preprocess.transforms if type(tr).__name__ == "Normalize")
            self._mean = np.array(norm.mean, dtype=np.float32)
            self._std = np.array(norm.std, dtype=np.float32)
            self._owner = np.array([c for c, ps in PROMPTS.items() for _ in ps])
            self._scale = float(model.logit_scale.exp().item())
            self._text = t
            self._model = model

    def preprocess(self, frames: np.ndarray) -> np.ndarray:
        """Resize the short side to the model's size (bicubic), centre crop, normalise; NCHW."""
        from PIL import Image

        s = self._size
        out = np.empty((len(frames), 3, s, s), dtype=np.float32)
        for i, f in enumerate(frames):
            img = Image.fromarray(f)
            w, h = img.size
            r = s / min(w, h)
            img = img.resize((max(s, round(w * r)), max(s, round(h * r))), Image.Resampling.BICUBIC)
            left, top = (img.width - s) // 2, (img.height - s) // 2
            arr = np.asarray(img.crop((left, top, left + s, top + s)), dtype=np.float32) / 255.0
            out[i] = ((arr - self._mean) / self._std).transpose(2, 0, 1)
        return out

    def _score_frames(self, frames: np.ndarray) -> list[dict[str, float]]:
        if self.directory is None:
            return [{} for _ in frames]
        self.start()
        import torch

        scores: list[dict[str, float]] = []
        for i in range(0, len(frames), self.batch):
            x = torch.from_numpy(self.preprocess(frames[i : i + self.batch]))
            with torch.no_grad(), self._lock:
                img = self._model.encode_image(x)
                img = img / img.norm(dim=-1, keepdim=True)
                probs = (self._scale * img @ self._text.T).softmax(dim=-1).numpy()
            for p in probs:
                scores.append({c: round(float(p[self._owner == c].sum()), 4) for c in COVERED})
        return scores
