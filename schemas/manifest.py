"""What provgate writes into the C2PA manifest of every file it releases (no personal data)."""

from __future__ import annotations

from msgspec import Struct

PROVGATE_ASSERTION = "org.provgate.generation"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


class CheckOutcome(Struct, forbid_unknown_fields=True, kw_only=True):
    stage: str
    outcome: str
    categories: list[str] = []


class ProvgateAssertion(Struct, forbid_unknown_fields=True, kw_only=True):
    generation_id: str
    policy_version: str
    checks: list[CheckOutcome]
    generator: str
    watermark_algorithm: str
    provgate_version: str
