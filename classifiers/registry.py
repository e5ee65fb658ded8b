"""Backends by config name. A missing optional dependency fails at start-up naming it."""

from __future__ import annotations

from collections.abc import Mapping

from .base import FrameClassifier, PromptClassifier
from .runtime import load_backend

PROMPT_BACKENDS: dict[str, str] = {
    "lexicon": "classifiers.lexicon:LexiconClassifier",
    "semantic": "classifiers.semantic:SemanticClassifier",
    "public_figures": "classifiers.public_figures:PublicFigureClassifier",
    "openai": "classifiers.remote:OpenAIModerationClassifier",
    "llamaguard": "classifiers.remote:LlamaGuardClassifier",
}
FRAME_BACKENDS: dict[str, str] = {
    "nsfw": "classifiers.nsfw:OpenNSFWClassifier",
    "clip": "classifiers.clip:ClipZeroShotClassifier",
}


def prompt_classifier(name: str, env: Mapping[str, str] | None = None) -> PromptClassifier:
    """Backends with settings of their own (remote endpoints) read them in ``from_env``."""
    cls = load_backend(PROMPT_BACKENDS, name, "prompt classifier")
    return cls.from_env(env) if hasattr(cls, "from_env") else cls()  # type: ignore[no-any-return]


def frame_classifier(name: str, env: Mapping[str, str] | None = None) -> FrameClassifier:
    cls = load_backend(FRAME_BACKENDS, name, "frame classifier")
    return cls.from_env(env) if hasattr(cls, "from_env") else cls()  # type: ignore[no-any-return]
