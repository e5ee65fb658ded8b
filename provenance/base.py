"""Provenance interfaces: what signs a file and what reads a signature back.

The gateway depends on these, never on c2pa-python directly, so that a KMS/HSM signer or
another manifest library can replace the backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ProvenanceError(RuntimeError):
    """Base of provenance failures."""


class SigningError(ProvenanceError):
    """The file could not be signed. Nothing unsigned is ever released because of it.
    ``retriable``: another attempt may succeed (a key rotation in progress, a KMS hiccup)."""

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


@dataclass
class ManifestReport:
    state: str  # Trusted | Valid | Invalid | Missing
    signer: str | None = None
    codes: list[str] = field(default_factory=list)
    assertions: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None
    # RFC 3161 timestamp on the signature: its time, and whether its authority is trusted
    # ("trusted" | "untrusted"); both None when the signature carries no timestamp.
    signed_at: str | None = None
    timestamp: str | None = None


class ManifestSigner(ABC):
    @abstractmethod
    def sign(self, src: Path, dst: Path, manifest: dict[str, Any]) -> None:
        """Write ``src`` with ``manifest`` embedded and signed to ``dst`` (blocking)."""

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`SigningError` if signing cannot work right now (key unreadable...)."""


class ManifestReader(ABC):
    @abstractmethod
    def read(self, path: Path) -> ManifestReport:
        """Validate the embedded manifest against the configured trust anchors (blocking)."""
