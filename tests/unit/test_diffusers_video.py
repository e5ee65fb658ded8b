"""The in-process diffusers backend on the CPU with a tiny random-weight pipeline: shapes,
seeding, the hand-off to the pipeline, device-side marking, cancellation."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from generator.base import GenerationSpec, GeneratorError
from generator.diffusers_video import DiffusersVideoGenerator
from generator.registry import create
from provenance.watermark import SpreadSpectrumWatermark
from tests.tiny_diffusers import build_tiny_t2v

ENV = {
    "PROVGATE_DIFFUSERS_MODEL": "tiny-t2v",
    "PROVGATE_DIFFUSERS_STEPS": "2",
    "PROVGATE_DIFFUSERS_FPS": "8",
    "PROVGATE_DIFFUSERS_RENDER": "48x32",
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    build_tiny_t2v(root)
    return root


@pytest.fixture(scope="module")
def gen(models: Path) -> Any:
    g = create("diffusers", {**ENV, "PROVGATE_MODELS_DIR": str(models)})
    g.start()
    yield g
    g.stop()


def test_shapes_fps_and_model_name(gen: DiffusersVideoGenerator) -> None:
    media = gen.generate(GenerationSpec("a red kite", 1, 1, "480p"))
    assert media.frames.shape == (8, 480, 854, 3) and media.frames.dtype == np.uint8
    assert media.fps == 8 and media.audio.shape == (48_000, 2)
    assert media.model == "tiny-t2v-random" and media.marked is False
    assert media.frames.std() > 1  # real (random-weight) model output, not a constant


def test_seeding_is_per_job(gen: DiffusersVideoGenerator) -> None:
    a = gen.generate(GenerationSpec("waves", 5, 1, "480p")).frames
    b = gen.generate(GenerationSpec("waves", 5, 1, "480p")).frames
    c = gen.generate(GenerationSpec("waves", 6, 1, "480p")).frames
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_hand_off_to_the_pipeline(gen: DiffusersVideoGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    real = gen._pipe

    class Spy:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def __call__(self, **kwargs: Any) -> Any:
            seen.update(kwargs)
            return real(**kwargs)

    Spy.__call__.__signature__ = __import__("inspect").signature(real.__call__)  # type: ignore[attr-defined]
    monkeypatch.setattr(gen, "_pipe", Spy())
    gen.generate(GenerationSpec("a lighthouse", 42, 2, "720p"))
    assert seen["prompt"] == "a lighthouse" and seen["num_frames"] == 16
    assert (seen["width"], seen["height"]) == (48, 32) and seen["num_inference_steps"] == 2
    assert seen["output_type"] == "pt" and seen["generator"].initial_seed() == 42
    assert callable(seen["callback_on_step_end"] if "callback_on_step_end" in seen else seen["callback"])


def test_marks_on_the_device_before_the_copy(gen: DiffusersVideoGenerator) -> None:
    wm = SpreadSpectrumWatermark(b"a 32-byte watermark key........")
    spec = GenerationSpec("a garden", 3, 1, "480p", device_marker=functools.partial(wm.embed_torch, payload=987654))
    media = gen.generate(spec)
    assert media.marked is True
    assert wm.detect(media.frames).payload == 987654
    plain = gen.generate(GenerationSpec("a garden", 3, 1, "480p")).frames
    mse = ((media.frames.astype(np.float64) - plain) ** 2).mean()
    assert 10 * np.log10(255**2 / mse) >= 40


def test_cancellation_between_steps(gen: DiffusersVideoGenerator) -> None:
    with pytest.raises(GeneratorError) as exc:
        gen.generate(GenerationSpec("x", 1, 1, "480p"), cancelled=lambda: True)
    assert exc.value.code == "cancelled"


def test_input_image_on_a_text_to_video_model_is_refused_clearly(gen: DiffusersVideoGenerator) -> None:
    with pytest.raises(GeneratorError) as exc:
        gen.generate(GenerationSpec("x", 1, 1, "480p", input_image=np.zeros((8, 8, 3), np.uint8)))
    assert exc.value.code == "input_image_unsupported" and not exc.value.retriable


def test_configuration_errors_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PROVGATE_MODELS_DIR"):
        create("diffusers", {})
    with pytest.raises(ValueError, match="PROVGATE_DIFFUSERS_RENDER"):
        create("diffusers", {"PROVGATE_MODELS_DIR": str(tmp_path), "PROVGATE_DIFFUSERS_RENDER": "big"})
    g = create("diffusers", {"PROVGATE_MODELS_DIR": str(tmp_path)})
    with pytest.raises(GeneratorError, match="model_index.json"):
        g.start()


def test_torch_embed_matches_numpy_embed() -> None:
    import torch

    wm = SpreadSpectrumWatermark(b"a 32-byte watermark key........")
    frames = np.random.default_rng(1).integers(0, 256, size=(3, 90, 160, 3), dtype=np.uint8)
    via_torch = wm.embed_torch(torch.from_numpy(frames.copy()), 4242).numpy()
    assert np.array_equal(via_torch, wm.embed(frames.copy(), 4242))
