"""The generator interface.

A generator turns a checked request into raw media: frames (T x H x W x 3 uint8 RGB),
audio PCM (N x C float32 in [-1, 1]), the frame rate, and optionally the scene text and
transcript it knows about (those are checked like prompts). It never encodes or marks:
provgate checks, marks, encodes and signs exactly once, whatever produced the pixels.

``generate`` is blocking and runs on a worker thread; a remote GPU backend implements it
as submit + poll + download + decode, a local one as a model call. ``cancelled`` lets the
worker stop a job whose lease was lost or that was taken down meanwhile.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, final

import numpy as np

RESOLUTIONS: dict[str, tuple[int, int]] = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}


class GeneratorError(RuntimeError):
    """The generator failed. ``retriable`` says whether another attempt may succeed."""

    def __init__(self, message: str, *, retriable: bool = True, code: str = "generator_failed") -> None:
        super().__init__(message)
        self.retriable = retriable
        self.code = code


@dataclass(frozen=True)
class GenerationSpec:
    prompt: str
    seed: int
    duration_s: float
    resolution: str
    fps: int = 24
    input_image: np.ndarray | None = None  # H x W x 3 uint8
    cameo_faces: tuple[np.ndarray, ...] = ()
    sample_rate: int = 48_000
    # Set by the pipeline: marks a torch uint8 tensor (T x H x W x 3) on its device. A GPU
    # backend applies it before copying frames to the CPU and reports ``marked=True``.
    device_marker: Callable[[Any], Any] | None = None

    @property
    def size(self) -> tuple[int, int]:
        return RESOLUTIONS[self.resolution]

    @property
    def n_frames(self) -> int:
        return max(1, round(self.duration_s * self.fps))


@dataclass
class GeneratedMedia:
    frames: np.ndarray  # T x H x W x 3 uint8
    audio: np.ndarray  # N x C float32
    fps: int
    sample_rate: int
    model: str  # the softwareAgent recorded in the manifest
    scene_text: list[str] = field(default_factory=list)
    transcript: str = ""
    marked: bool = False  # the invisible watermark is already in the frames (device-side marking)


class Generator(ABC):
    name: str = "generator"

    def start(self) -> None:  # noqa: B027 - optional hook
        """Load weights or open connections once; safe to call twice."""

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Release what ``start`` took; safe to call twice."""

    @property
    @abstractmethod
    def model(self) -> str:
        """Model name and version, for the manifest's ``softwareAgent``."""

    @final
    def generate(self, spec: GenerationSpec, cancelled: Callable[[], bool] = lambda: False) -> GeneratedMedia:
        if spec.resolution not in RESOLUTIONS:
            raise GeneratorError(f"unsupported resolution {spec.resolution!r}", retriable=False)
        if not 1 <= spec.duration_s <= 20:
            raise GeneratorError(f"duration_s {spec.duration_s} outside 1..20", retriable=False)
        media = self._generate(spec, cancelled)
        w, h = spec.size
        if media.frames.dtype != np.uint8 or media.frames.ndim != 4 or media.frames.shape[1:] != (h, w, 3):
            raise GeneratorError(
                f"{self.name} returned frames {media.frames.shape} {media.frames.dtype}, "
                f"expected T x {h} x {w} x 3 uint8",
                retriable=False,
            )
        return media

    @abstractmethod
    def _generate(self, spec: GenerationSpec, cancelled: Callable[[], bool]) -> GeneratedMedia: ...
