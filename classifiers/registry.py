"""Backends by config name. A missing optional dependency fails at start-up naming it."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from .base import FrameClassifier, PromptClassifier

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


def _load(table: dict[str, str], name: str, kind: str) -> type:
    if name not in table:
        raise ValueError(f"unknown {kind} classifier {name!r}; choose from {sorted(table)}")
    module, _, attr = table[name].partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise RuntimeError(f"{kind} classifier {name!r} needs a missing package: {exc.name}") from exc


def prompt_classifier(name: str, env: Mapping[str, str] | None = None) -> PromptClassifier:
    """Backends with settings of their own (remote endpoints) read them in ``from_env``."""
    cls = _load(PROMPT_BACKENDS, name, "prompt")
    return cls.from_env(env) if hasattr(cls, "from_env") else cls()  # type: ignore[no-any-return]


def frame_classifier(name: str, env: Mapping[str, str] | None = None) -> FrameClassifier:
    cls = _load(FRAME_BACKENDS, name, "frame")
    return cls.from_env(env) if hasattr(cls, "from_env") else cls()  # type: ignore[no-any-return]
