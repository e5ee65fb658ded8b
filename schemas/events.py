"""Kafka events: CloudEvents in binary mode (``ce_*`` headers) with a JSON value.

Each event type has its own data Struct; ``EventData`` is the tagged union a consumer
decodes with (the tag is the CloudEvents ``type``).
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from msgspec import Struct

TOPIC_AUDIT = "provgate.audit"
TOPIC_REVIEW = "provgate.review"
TOPIC_CONSENT = "provgate.consent"
TOPIC_REVIEW_DECISIONS = "provgate.review.decisions"
SPEC_VERSION = "1.0"
SOURCE = "/provgate"


class _Data(Struct, forbid_unknown_fields=True, kw_only=True, tag_field="type"):
    pass


class GenerationEvent(_Data, kw_only=True):
    generation_id: str
    tenant_id: str
    status: str
    outcome: str | None = None
    reasons: list[str] = []
    categories: dict[str, float] = {}
    policy_version: str = ""
    attempt: int = 0


class GenerationAdmitted(GenerationEvent, tag="provgate.generation.admitted"):
    pass


class GenerationRefused(_Data, tag="provgate.generation.refused"):
    tenant_id: str
    code: str
    reasons: list[str] = []
    categories: dict[str, float] = {}
    policy_version: str = ""


class GenerationStarted(GenerationEvent, tag="provgate.generation.started"):
    pass


class GenerationBlocked(GenerationEvent, tag="provgate.generation.blocked"):
    pass


class GenerationUnderReview(GenerationEvent, tag="provgate.generation.under_review"):
    pass


class GenerationReleased(GenerationEvent, tag="provgate.generation.released"):
    sha256: str = ""


class GenerationFailed(GenerationEvent, tag="provgate.generation.failed"):
    error_code: str = ""


class GenerationTakenDown(GenerationEvent, tag="provgate.generation.taken_down"):
    requested_by: str = ""


class ReviewRequested(_Data, tag="provgate.review.requested"):
    review_id: str
    generation_id: str
    tenant_id: str
    priority: int
    categories: dict[str, float]
    reasons: list[str]
    deadline: datetime
    thumbnails: list[str] = []  # references (API paths), never the media itself


class ReviewDecided(_Data, tag="provgate.review.decided"):
    review_id: str
    generation_id: str
    tenant_id: str
    decision: str
    reviewer: str
    notes: str = ""


class CameoEvent(_Data, kw_only=True):
    cameo_id: str
    tenant_id: str


class CameoEnrolled(CameoEvent, tag="provgate.cameo.enrolled"):
    backend: str
    images: int
    protected: bool = False


class CameoPolicyChanged(CameoEvent, tag="provgate.cameo.policy_changed"):
    audience: str
    approved: int
    restrictions: int


class CameoRevoked(CameoEvent, tag="provgate.cameo.revoked"):
    user_id: str | None = None  # None: every grant
    all: bool = False


class CameoDeleted(CameoEvent, tag="provgate.cameo.deleted"):
    pass


class CameoAppeared(CameoEvent, tag="provgate.cameo.appeared"):
    generation_id: str
    kind: str
    similarity: float | None = None


class ReviewDecisionMessage(Struct, forbid_unknown_fields=True, kw_only=True):
    """What reviewer tools send on ``provgate.review.decisions`` (provgate consumes it)."""

    review_id: str
    tenant_id: str
    decision: str
    reviewer: str
    notes: str = ""


EventData = (
    GenerationAdmitted
    | GenerationRefused
    | GenerationStarted
    | GenerationBlocked
    | GenerationUnderReview
    | GenerationReleased
    | GenerationFailed
    | GenerationTakenDown
    | ReviewRequested
    | ReviewDecided
    | CameoEnrolled
    | CameoPolicyChanged
    | CameoRevoked
    | CameoDeleted
    | CameoAppeared
)

STATUS_EVENT: dict[str, type[GenerationEvent]] = {
    "queued": GenerationAdmitted,
    "running": GenerationStarted,
    "blocked": GenerationBlocked,
    "under_review": GenerationUnderReview,
    "succeeded": GenerationReleased,
    "failed": GenerationFailed,
    "taken_down": GenerationTakenDown,
}


def event_type(data: _Data) -> str:
    return str(type(data).__struct_config__.tag)


def encode_data(data: _Data) -> bytes:
    """JSON value without the tag: in binary mode the type travels in ``ce_type``."""
    raw = msgspec.to_builtins(data)
    raw.pop("type", None)
    return msgspec.json.encode(raw)


def decode_data(ce_type: str, value: bytes) -> EventData:
    raw = msgspec.json.decode(value)
    raw["type"] = ce_type
    return msgspec.convert(raw, EventData)
