from __future__ import annotations

import numpy as np
import pytest

from generator.base import RESOLUTIONS, GenerationSpec, GeneratorError
from generator.procedural import ProceduralGenerator


@pytest.fixture(scope="module")
def gen() -> ProceduralGenerator:
    return ProceduralGenerator()


def test_deterministic_from_prompt_and_seed(gen: ProceduralGenerator) -> None:
    a = gen.generate(GenerationSpec("a red kite", 7, 1, "480p"))
    b = gen.generate(GenerationSpec("a red kite", 7, 1, "480p"))
    c = gen.generate(GenerationSpec("a red kite", 8, 1, "480p"))
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.audio, b.audio)
    assert not np.array_equal(a.frames, c.frames)


@pytest.mark.parametrize("resolution", sorted(RESOLUTIONS))
def test_every_resolution(gen: ProceduralGenerator, resolution: str) -> None:
    m = gen.generate(GenerationSpec("waves", 1, 1, resolution))
    w, h = RESOLUTIONS[resolution]
    assert m.frames.shape == (24, h, w, 3)


def test_content_moves_and_has_sound(gen: ProceduralGenerator) -> None:
    m = gen.generate(GenerationSpec("waves", 1, 2, "480p"))
    assert np.abs(m.frames[0].astype(int) - m.frames[-1].astype(int)).mean() > 5
    assert m.audio.shape == (2 * 48000, 2)
    assert 0.05 < float(np.abs(m.audio).max()) <= 1.0


def test_input_image_is_composited(gen: ProceduralGenerator) -> None:
    img = np.zeros((100, 100, 3), dtype=np.uint8)
    img[:, :, 2] = 255  # pure blue tile
    plain = gen.generate(GenerationSpec("x", 1, 1, "480p"))
    with_img = gen.generate(GenerationSpec("x", 1, 1, "480p", input_image=img))
    blue = lambda f: ((f[..., 2] == 255) & (f[..., 0] == 0) & (f[..., 1] == 0)).sum()  # noqa: E731
    assert blue(with_img.frames[0]) > 100 * 100
    assert blue(plain.frames[0]) < blue(with_img.frames[0])


@pytest.mark.parametrize("duration", [0.5, 21])
def test_rejects_out_of_range_duration(gen: ProceduralGenerator, duration: float) -> None:
    with pytest.raises(GeneratorError):
        gen.generate(GenerationSpec("x", 1, duration, "480p"))


def test_cancellation_stops_generation(gen: ProceduralGenerator) -> None:
    with pytest.raises(GeneratorError) as exc:
        gen.generate(GenerationSpec("x", 1, 5, "480p"), cancelled=lambda: True)
    assert exc.value.code == "cancelled"
