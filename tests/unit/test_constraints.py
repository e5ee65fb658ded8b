"""The installed releases are the ones ``constraints.txt`` pins: the shipped semantic head's
lines were chosen with them, and its reproduction test means nothing with others."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text("utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, release = line.partition("==")
            assert sep and release, f"constraints.txt: {line!r} is not 'name==release'"
            out[name.strip()] = release.strip()
    return out


def test_constraints_pin_the_model_stack() -> None:
    assert {"onnxruntime", "onnx", "tokenizers", "safetensors", "numpy", "transformers"} <= set(pins())


def test_installed_releases_are_the_pinned_ones() -> None:
    wrong = []
    for name, release in pins().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "not installed"
        if installed != release:
            wrong.append(f"{name} {installed} (constraints.txt: {release})")
    assert not wrong, "reinstall with `make` (pip install -c constraints.txt): " + "; ".join(wrong)
