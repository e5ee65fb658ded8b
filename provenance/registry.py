"""Provenance backends by name, so the gateway never imports c2pa-python itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .audio_watermark import AudioWatermark
from .base import ManifestReader, ManifestSigner
from .watermark import SpreadSpectrumWatermark


def create_signer(chain: Path, key: Path, *, tsa_url: str | None = None, signer: str = "file") -> ManifestSigner:
    """``signer`` is ``file`` (PEM key on disk) or ``command:<argv>`` (external signer, KMS/HSM)."""
    from .c2pa_backend import C2paCommandSigner, C2paSigner

    if signer.startswith("command:"):
        return C2paCommandSigner(signer.removeprefix("command:"), chain, tsa_url=tsa_url)
    return C2paSigner(chain, key, tsa_url=tsa_url)


def create_reader(trust_anchor_files: Callable[[], list[Path]] | tuple[Path, ...]) -> ManifestReader:
    """Trust anchors are re-read at every verification (rotation needs no restart)."""
    from .c2pa_backend import C2paReader

    def anchors() -> str:
        files = trust_anchor_files() if callable(trust_anchor_files) else trust_anchor_files
        return "\n".join(p.read_text() for p in files if p.is_file())

    return C2paReader(anchors)


def build_manifest(**kwargs: object) -> dict:
    from .c2pa_backend import build_manifest as _build

    return _build(**kwargs)  # type: ignore[arg-type]


def create_watermark(key: bytes) -> SpreadSpectrumWatermark:
    return SpreadSpectrumWatermark(key)


def create_audio_watermark(key: bytes) -> AudioWatermark:
    return AudioWatermark(key)
