"""HTTP API bodies. Strict: unknown fields are rejected, limits live in the types."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

AgeBand = Literal["adult", "teen"]
Resolution = Literal["480p", "720p", "1080p"]
Outcome = Literal["allow", "review", "block"]
GenerationStatus = Literal["queued", "running", "succeeded", "blocked", "under_review", "failed", "taken_down"]
Role = Literal["platform", "reviewer", "auditor", "admin"]

MAX_PROMPT_CHARS = 2000
# base64 of an 8 MiB image is ~11.2 M characters.
MAX_INPUT_IMAGE_B64 = 11_200_000
Id = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@\-]+$")]
# Stored free text carries ``pattern=NO_NUL``: Postgres text cannot hold NUL (U+0000), so it is
# refused here, a 400 naming the field (``gateway.app`` words the message), not a failed insert.
NO_NUL = r"^[^\x00]*$"


class Strict(Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class UserRef(Strict):
    """The acting end user, as the platform asserts it."""

    id: Id
    age_band: AgeBand


class GenerationRequest(Strict):
    prompt: Annotated[str, Meta(min_length=1, max_length=MAX_PROMPT_CHARS, pattern=NO_NUL)]
    user: UserRef
    cameos: Annotated[list[Id], Meta(max_length=4)] = []
    input_image: Annotated[str, Meta(max_length=MAX_INPUT_IMAGE_B64)] | None = None
    duration_s: Annotated[float, Meta(ge=1, le=20)] = 5.0
    resolution: Resolution = "720p"
    seed: Annotated[int, Meta(ge=0, le=2**53)] | None = None
    # The platform attests that every real person in ``input_image`` who is not an enrolled
    # cameo consented to this use. Without it, an unknown face in the image is refused.
    input_image_consent: bool = False


class Decision(Strict):
    outcome: Outcome
    reasons: list[str] = []
    categories: dict[str, float] = {}
    policy_version: str = ""
    stage: str = ""


class Accepted(Strict):
    id: str
    status: GenerationStatus


class ContentInfo(Strict):
    url: str
    sha256: str
    bytes: int
    media_type: str = "video/mp4"


class ErrorInfo(Strict):
    code: str
    message: str


class Generation(Strict):
    id: str
    status: GenerationStatus
    decision: Decision | None
    created_at: datetime
    updated_at: datetime
    user_id: str
    prompt: str
    cameos: list[str]
    duration_s: float
    resolution: Resolution
    fps: int
    seed: int
    attempts: int
    content: ContentInfo | None = None
    error: ErrorInfo | None = None
    released_at: datetime | None = None


class ErrorBody(Strict):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorResponse(Strict):
    error: ErrorBody


class ModerationRequest(Strict):
    input: Annotated[str, Meta(min_length=1, max_length=10_000)]
    user: UserRef | None = None


class ModerationResponse(Strict):
    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]
    decision: Decision


class TakedownRequest(Strict):
    reason: Annotated[str, Meta(max_length=2000, pattern=NO_NUL)] = ""
    # A cameo owner taking down a generation their face appears in (the platform acts for them).
    cameo_owner: Id | None = None


Audience = Literal["only_me", "approved", "mutuals", "everyone"]


class CameoPolicyRequest(Strict):
    audience: Audience
    approved_user_ids: Annotated[list[Id], Meta(max_length=1000)] = []
    restrictions: Annotated[
        list[Annotated[str, Meta(min_length=1, max_length=200, pattern=NO_NUL)]], Meta(max_length=20)
    ] = []


class RevokeRequest(Strict):
    user_id: Id | None = None
    all: bool = False


class Cameo(Strict):
    id: str
    owner_id: str
    owner_age_band: AgeBand
    status: str
    audience: Audience
    approved_user_ids: list[str]
    revoked_user_ids: list[str]
    restrictions: list[str]
    protected: bool
    display_name: str
    backend: str
    quality: dict[str, float]
    created_at: datetime
    updated_at: datetime


class Appearance(Strict):
    generation_id: str
    kind: str
    similarity: float | None
    frames: int
    generation_status: GenerationStatus
    user_id: str
    created_at: datetime


class AppearanceList(Strict):
    cameo_id: str
    items: list[Appearance]


class ConnectionsRequest(Strict):
    connections: Annotated[list[Id], Meta(max_length=5000)]


class GuardianRequest(Strict):
    daily_limit: Annotated[int, Meta(ge=0, le=1000)] | None = None
    cameos_allowed: bool | None = None


class UserSettings(Strict):
    user_id: str
    connections: list[str] = []
    guardian: GuardianRequest | None = None


ReviewDecisionKind = Literal["approve", "reject", "escalate"]


class Review(Strict):
    id: str
    generation_id: str
    status: Literal["open", "decided"]
    priority: int
    categories: dict[str, float]
    reasons: list[str]
    created_at: datetime
    deadline: datetime
    decision: ReviewDecisionKind | None = None
    notes: str = ""
    reviewer: str | None = None
    decided_at: datetime | None = None
    # Added with the review queue: assignment lease, what the reviewer needs to see.
    assigned_to: str | None = None
    lease_expires_at: datetime | None = None
    escalated: bool = False
    thumbnails: list[str] = []  # URLs of sampled frames (reviewer role), never the media inline
    prompt: str = ""
    generation_status: str = ""
    cameos: list[str] = []
    reason: str = ""


class ReviewList(Strict):
    items: list[Review]


class ReviewDecisionRequest(Strict):
    decision: ReviewDecisionKind
    notes: Annotated[str, Meta(max_length=4000, pattern=NO_NUL)] = ""
    # The person at the platform who decided (default: the API key).
    reviewer: Id | None = None


class ClaimRequest(Strict):
    lease_s: Annotated[int, Meta(ge=10, le=3600)] = 600


class ReportRequest(Strict):
    reason: Annotated[str, Meta(min_length=1, max_length=2000, pattern=NO_NUL)]


class ReviewStats(Strict):
    open: int
    assigned: int
    oldest_open_age_s: float
    decisions_last_hour: int
    by_priority: dict[str, int]


class C2paReport(Strict):
    state: Literal["Trusted", "Valid", "Invalid", "Missing"]
    signer: str | None = None
    generation_id: str | None = None
    codes: list[str] = []
    actions: list[str] = []  # e.g. "c2pa.created (trainedAlgorithmicMedia) by provgate-procedural-1"
    # RFC 3161 timestamp of the signature (PROVGATE_TSA_URL); None when it carries none.
    signed_at: datetime | None = None
    timestamp: Literal["trusted", "untrusted"] | None = None


class WatermarkReport(Strict):
    found: bool
    generation_id: str | None = None
    bit_errors: int | None = None
    algorithm: str | None = None
    # The soundtrack's own mark (None: no audio track, or too short to carry a codeword).
    audio_found: bool | None = None


class VerifyRecord(Strict):
    generation_id: str
    status: GenerationStatus
    created_at: datetime
    released_at: datetime | None
    policy_version: str
    outcome: Outcome | None
    sha256: str | None
    taken_down: bool


class VerifyReport(Strict):
    c2pa: C2paReport
    watermark: WatermarkReport
    record: VerifyRecord | None
    consistent: bool
    # Durable content credentials: when the file's own manifest is missing or broken but the
    # watermark resolves to a record, the manifest provgate signed for it (added in 0.1.0).
    stored_manifest: dict[str, Any] | None = None
    notes: list[str] = []


class Health(Strict):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = {}


json_encoder = msgspec.json.Encoder()
