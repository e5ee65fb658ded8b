"""Cameos in the gateway: enrollment, policy, revocation, deletion, appearances, and the
consent checks at admission, in the output check and at release.

The rules themselves are pure functions in :mod:`consent.policy`; this module loads what
they need from Postgres (in the caller's transaction, so a release and a revocation are
serialised by the cameo row's lock) and turns their answers into API errors, decisions,
appearance rows and ``provgate.cameo.*`` events.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from litestar.datastructures import UploadFile
from PIL import Image

from classifiers.normalize import normalize
from classifiers.public_figures import name_key
from classifiers.semantic import SemanticClassifier
from consent.base import FaceBackendError, to_stored
from consent.policy import CameoPolicy, Grant, Guardian, Requester, grants, validate_audience
from consent.quality import EnrollmentProblem, enroll
from consent.restrictions import violated
from consent.tracking import Track, scan
from provenance.media import MediaError, decode_frames
from schemas.api import (
    AgeBand,
    Appearance,
    AppearanceList,
    Cameo,
    CameoPolicyRequest,
    Decision,
    RevokeRequest,
)
from schemas.events import (
    CameoAppeared,
    CameoDeleted,
    CameoEnrolled,
    CameoPolicyChanged,
    CameoRevoked,
)

from . import repo
from .auth import Principal
from .errors import BadRequest, NotFound, PayloadTooLarge, Unavailable, Unprocessable
from .images import MAX_IMAGE_BYTES, open_image
from .outbox import emit_consent
from .services import Services

MAX_ENROLL_IMAGES = 10
MAX_ENROLL_VIDEO_BYTES = 64 * 1024 * 1024
ENROLL_VIDEO_FRAMES = 5
ID_RE = re.compile(r"^[A-Za-z0-9_.:@\-]{1,128}$")
LIKENESS = "likeness/public-figure"


# -- views -------------------------------------------------------------------------------------
def to_cameo(r: asyncpg.Record) -> Cameo:
    return Cameo(
        id=str(r["id"]),
        owner_id=r["owner_id"],
        owner_age_band=r["owner_age_band"],
        status=r["status"],
        audience=r["audience"],
        approved_user_ids=list(r["approved_user_ids"]),
        revoked_user_ids=list(r["revoked_user_ids"]),
        restrictions=list(r["restrictions"]),
        protected=r["protected"],
        display_name=r["display_name"],
        backend=r["backend"],
        quality=dict(r["quality"]),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


async def cameo_or_404(
    conn: asyncpg.Connection, principal: Principal, cameo_id: uuid.UUID, *, lock: str = ""
) -> asyncpg.Record:
    row = await repo.get_cameo(conn, cameo_id, principal.tenant_id, lock=lock)
    if row is None:
        raise NotFound(f"cameo {cameo_id} not found", code="cameo_not_found")
    return row


# -- enrollment ---------------------------------------------------------------------------------
@dataclass
class EnrollForm:
    owner_id: str
    owner_age_band: AgeBand
    images: list[bytes] = field(default_factory=list)
    video: bytes | None = None
    protected: bool = False
    display_name: str = ""
    aliases: list[str] = field(default_factory=list)


def _text(form: Any, name: str, *, required: bool = False) -> str | None:
    values = form.getall(name) if name in form else []
    if not values:
        if required:
            raise BadRequest(f"the multipart field `{name}` is required", code="missing_field", details={"field": name})
        return None
    if len(values) > 1 or not isinstance(values[0], str):
        raise BadRequest(f"`{name}` must be one text field", code="invalid_field", details={"field": name})
    if "\x00" in values[0]:  # stored text: Postgres cannot hold NUL (``schemas.api.NO_NUL``)
        raise BadRequest(
            f"`{name}` must not contain NUL (U+0000) characters", code="invalid_field", details={"field": name}
        )
    return values[0].strip()


async def parse_enroll_form(form: Any) -> EnrollForm:
    owner_id = _text(form, "owner_id", required=True) or ""
    if not ID_RE.match(owner_id):
        raise BadRequest(
            "owner_id must be 1..128 characters of letters, digits and _.:@-",
            code="invalid_field",
            details={"field": "owner_id"},
        )
    band = _text(form, "owner_age_band", required=True)
    if band not in ("adult", "teen"):
        raise BadRequest(
            "owner_age_band must be `adult` or `teen`", code="invalid_field", details={"field": "owner_age_band"}
        )
    protected = (_text(form, "protected") or "false").lower()
    if protected not in ("true", "false", "1", "0"):
        raise BadRequest("protected must be true or false", code="invalid_field", details={"field": "protected"})
    known = {"owner_id", "owner_age_band", "images", "video", "protected", "display_name", "aliases"}
    unknown = sorted(set(form.keys()) - known)
    if unknown:
        raise BadRequest(f"unknown multipart field `{unknown[0]}`", code="unknown_field", details={"field": unknown[0]})
    out = EnrollForm(
        owner_id=owner_id,
        owner_age_band=band,  # type: ignore[arg-type]
        protected=protected in ("true", "1"),
        display_name=(_text(form, "display_name") or "")[:200],
        aliases=[a.strip() for a in (_text(form, "aliases") or "").split(",") if a.strip()][:20],
    )
    images = form.getall("images") if "images" in form else []
    videos = form.getall("video") if "video" in form else []
    for i, part in enumerate(images):
        if not isinstance(part, UploadFile):
            raise BadRequest(
                f"images[{i}] must be a file part", code="invalid_field", details={"field": f"images[{i}]"}
            )
    if len(images) > MAX_ENROLL_IMAGES:
        raise Unprocessable(
            f"at most {MAX_ENROLL_IMAGES} images can be enrolled, got {len(images)}",
            code="too_many_images",
            details={"field": "images", "limit": MAX_ENROLL_IMAGES},
        )
    if images and videos:
        raise Unprocessable(
            "send one or more `images` parts or one `video` part, not both",
            code="images_and_video",
            details={"field": "video"},
        )
    if len(videos) > 1 or (videos and not isinstance(videos[0], UploadFile)):
        raise Unprocessable("send exactly one `video` file part", code="invalid_video", details={"field": "video"})
    if not images and not videos:
        raise Unprocessable(
            "enrollment needs one or more `images` parts or one `video` part", code="no_images", details={}
        )
    for i, part in enumerate(images):
        data = await part.read()
        if len(data) > MAX_IMAGE_BYTES:
            raise PayloadTooLarge(
                f"images[{i}] is larger than {MAX_IMAGE_BYTES} bytes",
                code="image_too_large",
                details={"field": f"images[{i}]"},
            )
        out.images.append(data)
    if videos:
        out.video = await videos[0].read()
        if len(out.video) > MAX_ENROLL_VIDEO_BYTES:
            raise PayloadTooLarge(
                f"video is larger than {MAX_ENROLL_VIDEO_BYTES} bytes",
                code="video_too_large",
                details={"field": "video"},
            )
    return out


def video_frames(data: bytes) -> list[np.ndarray]:
    """A few evenly spread frames of a short enrollment video."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as fh:
        fh.write(data)
        fh.flush()
        try:
            frames, _ = decode_frames(Path(fh.name), max_frames=60, step=6)
        except MediaError as exc:
            raise Unprocessable(f"video: {exc}", code="invalid_video", details={"field": "video"}) from None
    picks = np.linspace(0, len(frames) - 1, num=min(ENROLL_VIDEO_FRAMES, len(frames))).round().astype(int)
    return [frames[i] for i in sorted(set(picks.tolist()))]


def _analyse(services: Services, form: EnrollForm) -> tuple[list[np.ndarray], Any]:
    if form.video is not None:
        images = video_frames(form.video)
    else:
        images = [open_image(data, f"images[{i}]") for i, data in enumerate(form.images)]
    try:
        return images, enroll(services.faces, images)
    except EnrollmentProblem as p:
        field_name = "video" if form.video is not None else "images"
        raise Unprocessable(p.message, code=p.code, details={"field": field_name, **p.details}) from None
    except FaceBackendError as exc:
        raise Unavailable(f"the face model failed: {exc}", code="face_model_unavailable") from exc


def _store_media(directory: Path, form: EnrollForm, crops: list[np.ndarray]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if form.video is not None:
        (directory / "enrollment.mp4").write_bytes(form.video)
    for i, data in enumerate(form.images):
        (directory / f"image-{i}.bin").write_bytes(data)
    # The first face crop: what the owner sees as their cameo, and what the procedural
    # generator composites into videos that request it.
    Image.fromarray(crops[0]).save(directory / "face.png")


def cameo_dir(services: Services, tenant_id: uuid.UUID, cameo_id: uuid.UUID) -> Path:
    return services.settings.server.artifacts_dir / str(tenant_id) / "cameos" / str(cameo_id)


async def create_cameo(services: Services, principal: Principal, form: EnrollForm) -> Cameo:
    principal.require("platform")
    if form.protected:
        principal.require("admin")  # public figures are enrolled by an admin
        if not form.display_name:
            raise BadRequest(
                "a protected person needs a display_name", code="missing_field", details={"field": "display_name"}
            )
    _, result = await services.run_blocking(_analyse, services, form)
    cameo_id = uuid.uuid4()
    directory = cameo_dir(services, principal.tenant_id, cameo_id)
    await services.run_blocking(_store_media, directory, form, [f.crop for f in result.faces])
    backend = services.faces.name
    try:
        async with services.db.transaction() as conn:
            await repo.insert_cameo(
                conn,
                {
                    "id": cameo_id,
                    "tenant_id": principal.tenant_id,
                    "owner_id": form.owner_id,
                    "owner_age_band": form.owner_age_band,
                    "protected": form.protected,
                    "display_name": form.display_name,
                    "aliases": [form.display_name, *form.aliases] if form.protected else form.aliases,
                    "audience": "only_me",
                    "backend": backend,
                    "quality": result.quality,
                    "media_dir": str(directory),
                },
            )
            await repo.insert_cameo_faces(
                conn,
                cameo_id,
                principal.tenant_id,
                backend,
                [("template", to_stored(result.template))] + [("image", to_stored(f.embedding)) for f in result.faces],
            )
            await repo.touch_user(conn, principal.tenant_id, form.owner_id, form.owner_age_band)
            await emit_consent(
                conn,
                CameoEnrolled(
                    cameo_id=str(cameo_id),
                    tenant_id=str(principal.tenant_id),
                    backend=backend,
                    images=len(result.faces),
                    protected=form.protected,
                ),
                subject=str(cameo_id),
            )
            row = await repo.get_cameo(conn, cameo_id, principal.tenant_id)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return to_cameo(row)


async def delete_cameo(services: Services, principal: Principal, cameo_id: uuid.UUID) -> None:
    """Erase the cameo: its row, every embedding, its appearance records and its media."""
    principal.require("platform")
    async with services.db.transaction() as conn:
        row = await cameo_or_404(conn, principal, cameo_id, lock="FOR UPDATE")
        await repo.delete_cameo(conn, cameo_id)
        await emit_consent(
            conn, CameoDeleted(cameo_id=str(cameo_id), tenant_id=str(principal.tenant_id)), subject=str(cameo_id)
        )
    await services.run_blocking(shutil.rmtree, row["media_dir"], True)


async def set_policy(services: Services, principal: Principal, cameo_id: uuid.UUID, body: CameoPolicyRequest) -> Cameo:
    principal.require("platform")
    async with services.db.transaction() as conn:
        row = await cameo_or_404(conn, principal, cameo_id, lock="FOR UPDATE")
        problem = validate_audience(row["owner_age_band"], body.audience)
        if problem:
            raise Unprocessable(problem, code="audience_not_allowed", details={"field": "audience"})
        approved = list(dict.fromkeys(body.approved_user_ids))
        await repo.update_cameo_policy(conn, cameo_id, body.audience, approved, list(body.restrictions))
        await emit_consent(
            conn,
            CameoPolicyChanged(
                cameo_id=str(cameo_id),
                tenant_id=str(principal.tenant_id),
                audience=body.audience,
                approved=len(approved),
                restrictions=len(body.restrictions),
            ),
            subject=str(cameo_id),
        )
        row = await repo.get_cameo(conn, cameo_id, principal.tenant_id)
    return to_cameo(row)


async def revoke(services: Services, principal: Principal, cameo_id: uuid.UUID, body: RevokeRequest) -> Cameo:
    """Withdraw one user's grant or every grant. Jobs not yet released are re-checked at
    release, in the releasing transaction, so none of them comes out after this returns."""
    principal.require("platform")
    if body.all == (body.user_id is not None):
        raise BadRequest("send either `user_id` or `all: true`", code="invalid_field", details={"field": "user_id"})
    async with services.db.transaction() as conn:
        await cameo_or_404(conn, principal, cameo_id, lock="FOR UPDATE")
        await repo.revoke_cameo(conn, cameo_id, body.user_id)
        await emit_consent(
            conn,
            CameoRevoked(
                cameo_id=str(cameo_id), tenant_id=str(principal.tenant_id), user_id=body.user_id, all=body.all
            ),
            subject=str(cameo_id),
        )
        row = await repo.get_cameo(conn, cameo_id, principal.tenant_id)
    return to_cameo(row)


async def appearances(services: Services, principal: Principal, cameo_id: uuid.UUID) -> AppearanceList:
    principal.require("platform")
    async with services.db.connection() as conn:
        await cameo_or_404(conn, principal, cameo_id)
        rows = await repo.appearances_of(conn, cameo_id)
    return AppearanceList(
        cameo_id=str(cameo_id),
        items=[
            Appearance(
                generation_id=str(r["generation_id"]),
                kind=r["kind"],
                similarity=None if r["similarity"] is None else round(float(r["similarity"]), 4),
                frames=r["frames"],
                generation_status=r["status"],
                user_id=r["user_id"],
                created_at=r["created_at"],
            )
            for r in rows
        ],
    )


# -- consent checks -------------------------------------------------------------------------------
def _guardian(row: asyncpg.Record | None) -> Guardian | None:
    if row is None or (row["guardian_limit"] is None and row["guardian_cameos"] is None):
        return None
    return Guardian(daily_limit=row["guardian_limit"], cameos_allowed=row["guardian_cameos"])


async def requester(conn: asyncpg.Connection, tenant_id: uuid.UUID, user_id: str, age_band: str) -> Requester:
    return Requester(user_id, age_band, _guardian(await repo.get_user(conn, tenant_id, user_id)))


async def policy_of(conn: asyncpg.Connection, row: asyncpg.Record) -> CameoPolicy:
    tenant_id = row["tenant_id"]
    owner = await repo.get_user(conn, tenant_id, row["owner_id"])
    conns = await repo.connections(conn, tenant_id, row["owner_id"]) if row["audience"] == "mutuals" else []
    return CameoPolicy(
        cameo_id=str(row["id"]),
        owner_id=row["owner_id"],
        owner_age_band=row["owner_age_band"],
        status=row["status"],
        audience=row["audience"],
        approved=frozenset(row["approved_user_ids"]),
        revoked=frozenset(row["revoked_user_ids"]),
        protected=row["protected"],
        display_name=row["display_name"],
        owner_connections=frozenset(conns),
        guardian=_guardian(owner),
    )


async def daily_limit(conn: asyncpg.Connection, services: Services, tenant_id: uuid.UUID, who: Requester) -> int:
    """Guardian's limit for a teen, else the tenant's setting, else the service default."""
    if who.age_band == "teen" and who.guardian is not None and who.guardian.daily_limit is not None:
        return who.guardian.daily_limit
    tenant = await repo.tenant_settings(conn, tenant_id)
    key = "teen_daily_limit" if who.age_band == "teen" else "adult_daily_limit"
    default = (
        services.settings.faces.teen_daily_limit
        if who.age_band == "teen"
        else services.settings.faces.adult_daily_limit
    )
    return int(tenant.get(key, default))


def sentence_encoder(services: Services) -> Any:
    """The semantic classifier's general-purpose encoder, when that layer is configured."""
    for clf in services.prompt_classifiers:
        if isinstance(clf, SemanticClassifier):
            return clf.similarity_embed
    return None


@dataclass
class AdmissionConsent:
    """What admission learned about the people in a request."""

    requester: Requester
    appearances: list[dict[str, Any]] = field(default_factory=list)
    # Names (normalised) of protected people whose cameo grants this user: naming them in the
    # prompt is consented, not a likeness finding.
    granted_names: frozenset[str] = frozenset()


class ConsentRefused(Exception):
    def __init__(self, code: str, message: str, details: dict[str, Any], decision: Decision | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.decision = decision


def _likeness_decision(services: Services, reasons: list[str]) -> Decision:
    return Decision(
        outcome="block",
        reasons=reasons,
        categories={LIKENESS: 1.0},
        policy_version=services.policy.version,
        stage="consent",
    )


def names_in(prompt_views: list[str], names: list[str]) -> list[str]:
    found = []
    for name in names:
        n = " ".join(re.findall(r"\w+", name.casefold()))
        if n and any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", v) for v in prompt_views):
            found.append(name)
    return found


async def check_admission(
    services: Services,
    conn: asyncpg.Connection,
    principal: Principal,
    *,
    user_id: str,
    age_band: str,
    prompt: str,
    cameo_ids: list[str],
    input_faces: list[Any] | None,
    input_image_consent: bool,
) -> AdmissionConsent:
    """Every requested cameo grants this user, the prompt respects their owners'
    restrictions, no protected person is named without a grant, and every face in the input
    image is a granting cameo (or the platform attested consent for unknown faces)."""
    who = await requester(conn, principal.tenant_id, user_id, age_band)
    out = AdmissionConsent(requester=who)
    ids: list[uuid.UUID] = []
    for raw_id in cameo_ids:
        try:
            ids.append(uuid.UUID(raw_id))
        except ValueError:
            raise ConsentRefused(
                "cameo_not_granted", f"cameo {raw_id!r} does not exist", {"cameo_id": raw_id, "reason": "not_found"}
            ) from None
    rows = {r["id"]: r for r in await repo.cameos_by_ids(conn, principal.tenant_id, ids)}
    for cid in ids:
        row = rows.get(cid)
        if row is None:
            raise ConsentRefused(
                "cameo_not_granted", f"cameo {cid} does not exist", {"cameo_id": str(cid), "reason": "not_found"}
            )
        grant = grants(await policy_of(conn, row), who)
        if not grant.granted:
            raise ConsentRefused("cameo_not_granted", grant.reason, {"cameo_id": str(cid)})
        broken = (
            await services.run_blocking(violated, prompt, list(row["restrictions"]), sentence_encoder(services))
            if row["restrictions"]
            else []
        )
        if broken:
            raise ConsentRefused(
                "cameo_restricted",
                f"the prompt breaks a restriction set by the owner of cameo {cid}: {broken[0]!r}",
                {"cameo_id": str(cid), "restrictions": broken},
            )
        out.appearances.append({"cameo_id": cid, "kind": "requested", "similarity": None, "frames": 0})
        if row["protected"]:
            out.granted_names |= {name_key(a) for a in row["aliases"]}
    # Protected people named in the prompt.
    views = list(normalize(prompt).views)
    for row in await repo.protected_cameos(conn, principal.tenant_id):
        if row["id"] in rows:
            continue
        if names_in(views, list(row["aliases"])):
            grant = grants(await policy_of(conn, row), who)
            if grant.granted:
                out.granted_names |= {name_key(a) for a in row["aliases"]}
            else:
                reason = f"the prompt names {row['display_name']}, a protected person who has not granted this user"
                raise ConsentRefused(
                    "prompt_blocked",
                    "the prompt names a protected person",
                    {"categories": {LIKENESS: 1.0}, "reasons": [reason]},
                    decision=_likeness_decision(services, [reason]),
                )
    if input_faces:
        unknown = 0
        for i, face in enumerate(input_faces):
            match = await best_match(conn, services, principal.tenant_id, face.embedding)
            if match is None:
                unknown += 1
                continue
            row, sim = match
            grant = grants(await policy_of(conn, row), who)
            if not grant.granted:
                raise ConsentRefused(
                    "cameo_not_granted",
                    f"face {i} of input_image is an enrolled person who has not granted this user",
                    {"field": "input_image", "face": i, "reason": "not_granted"},
                )
            out.appearances.append({"cameo_id": row["id"], "kind": "input_image", "similarity": sim, "frames": 0})
        if unknown and not input_image_consent:
            raise ConsentRefused(
                "cameo_not_granted",
                f"input_image shows {unknown} face(s) of people who are not enrolled cameos; "
                "set input_image_consent: true to attest that they consented",
                {"field": "input_image", "unknown_faces": unknown, "reason": "consent_attestation_required"},
            )
    return out


async def best_match(
    conn: asyncpg.Connection, services: Services, tenant_id: uuid.UUID, embedding: np.ndarray
) -> tuple[asyncpg.Record, float] | None:
    """The enrolled cameo most similar to ``embedding``, if above the backend's threshold."""
    hits = await repo.nearest_cameos(conn, tenant_id, services.faces.name, to_stored(embedding), k=8)
    best: dict[uuid.UUID, float] = {}
    for h in hits:
        best[h["cameo_id"]] = max(best.get(h["cameo_id"], -1.0), float(h["similarity"]))
    if not best:
        return None
    cid, sim = max(best.items(), key=lambda kv: kv[1])
    if sim < services.faces.match_threshold:
        return None
    row = await repo.get_cameo(conn, cid, tenant_id)
    return (row, sim) if row is not None else None


def detect_input_faces(services: Services, image: np.ndarray) -> list[Any]:
    try:
        return [f for f in services.faces.analyze(image) if min(f.width, f.height) >= 24]
    except FaceBackendError as exc:
        raise Unavailable(f"the face model failed: {exc}", code="face_model_unavailable") from exc


# -- output check ---------------------------------------------------------------------------------
@dataclass
class FaceCheck:
    decision: Decision
    appearances: list[dict[str, Any]]
    tracks: int = 0
    min_age: float | None = None  # youngest apparent age over the face tracks


def apparent_ages(services: Services, sampled: np.ndarray, tracks: list[Track]) -> list[float]:
    """Apparent age of each track, on its most confident detection."""
    out = []
    for tr in tracks:
        k = int(np.argmax(tr.scores))
        out.append(services.ages.ages(sampled[tr.frames[k]], [tr.boxes[k]])[0])
    return out


def scan_faces(services: Services, sampled: np.ndarray) -> tuple[list[Track], list[float]]:
    """Face tracks over the sampled frames and each track's apparent age (one blocking call)."""
    tracks = scan(services.faces, sampled)
    return tracks, apparent_ages(services, sampled, tracks)


async def match_tracks(services: Services, tenant_id: uuid.UUID, row: asyncpg.Record, tracks: list[Track]) -> FaceCheck:
    """Match every face track 1:N against this tenant's cameos. A match with a person who has
    not granted the requester blocks; requested cameos that appear are recorded."""
    requested = {uuid.UUID(c) for c in row["cameos"]}
    reasons: list[str] = []
    found: dict[uuid.UUID, dict[str, Any]] = {}
    blocked = False
    async with services.db.connection() as conn:
        who = await requester(conn, tenant_id, row["user_id"], row["age_band"])
        for tr in tracks:
            match = await best_match(conn, services, tenant_id, tr.embedding)
            if match is None:
                continue
            cameo, sim = match
            grant = grants(await policy_of(conn, cameo), who)
            kind = "requested" if cameo["id"] in requested else ("matched" if grant.granted else "not_granted")
            if not grant.granted:
                blocked = True
                who_ = cameo["display_name"] or f"cameo {cameo['id']}"
                reasons.append(
                    f"the face of {who_} appears ({len(tr.frames)} frames, similarity {sim:.2f}): {grant.reason}"
                )
            prev = found.get(cameo["id"])
            if prev is None or prev["kind"] != "not_granted":
                found[cameo["id"]] = {
                    "cameo_id": cameo["id"],
                    "kind": kind,
                    "similarity": max(sim, prev["similarity"] if prev else -1.0),
                    "frames": len(tr.frames) + (prev["frames"] if prev else 0),
                }
    for cid in requested - set(found):
        found[cid] = {"cameo_id": cid, "kind": "requested_missing", "similarity": None, "frames": 0}
    if blocked:
        decision = _likeness_decision(services, reasons)
    else:
        n = sum(1 for a in found.values() if a["kind"] in ("requested", "matched"))
        decision = Decision(
            outcome="allow",
            reasons=[f"{len(tracks)} face track(s); {n} enrolled cameo(s) found, each granted"] if tracks else [],
            categories={},
            policy_version=services.policy.version,
            stage="faces",
        )
    return FaceCheck(decision=decision, appearances=list(found.values()), tracks=len(tracks))


def face_check_failed(services: Services, exc: BaseException) -> FaceCheck:
    """The face check could not run: nothing is released without a human (fail closed)."""
    return FaceCheck(
        decision=Decision(
            outcome="review",
            reasons=[f"check_failed: face matching did not complete ({type(exc).__name__}: {exc})"],
            categories={},
            policy_version=services.policy.version,
            stage="faces",
        ),
        appearances=[],
    )


async def record_appearances(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, gen_id: uuid.UUID, found: list[dict[str, Any]]
) -> None:
    if not found:
        return
    rows = [{**a, "generation_id": gen_id, "tenant_id": tenant_id} for a in found]
    existing = {r["id"] for r in await repo.cameos_by_ids(conn, tenant_id, [a["cameo_id"] for a in rows])}
    rows = [r for r in rows if r["cameo_id"] in existing]  # a cameo deleted meanwhile leaves no trace
    await repo.insert_appearances(conn, rows)
    for r in rows:
        await emit_consent(
            conn,
            CameoAppeared(
                cameo_id=str(r["cameo_id"]),
                tenant_id=str(tenant_id),
                generation_id=str(gen_id),
                kind=r["kind"],
                similarity=r["similarity"],
            ),
            subject=str(r["cameo_id"]),
        )


async def recheck_at_release(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, gen_id: uuid.UUID, user_id: str, age_band: str
) -> Grant:
    """Inside the releasing transaction: every cameo in this generation still grants the
    user. The cameo rows are locked FOR SHARE, so a concurrent revocation either commits
    first (and is seen here) or waits until the release has committed."""
    who = await requester(conn, tenant_id, user_id, age_band)
    rows = await repo.appearance_cameos(conn, gen_id)
    ids = [r["cameo_id"] for r in rows if r["kind"] in ("requested", "matched", "input_image", "requested_missing")]
    gen = await conn.fetchrow("SELECT cameos FROM generations WHERE id = $1", gen_id)
    for c in gen["cameos"] if gen else []:
        ids.append(uuid.UUID(c))
    if not ids:
        return Grant(True, "no cameo")
    locked = {r["id"]: r for r in await repo.cameos_by_ids(conn, tenant_id, list(set(ids)), lock="FOR SHARE")}
    for cid in set(ids):
        row = locked.get(cid)
        if row is None:
            return Grant(False, f"cameo {cid} was deleted before release")
        g = grants(await policy_of(conn, row), who)
        if not g.granted:
            return Grant(False, f"consent withdrawn before release: {g.reason}")
    return Grant(True, "every cameo still grants the user")


async def owner_may_take_down(conn: asyncpg.Connection, gen_id: uuid.UUID, owner_id: str) -> bool:
    return any(r["owner_id"] == owner_id for r in await repo.appearance_cameos(conn, gen_id))


async def cameo_faces_for(services: Services, tenant_id: uuid.UUID, cameo_ids: list[str]) -> tuple[np.ndarray, ...]:
    """Enrollment face crops of the requested cameos, for generators that composite them."""
    async with services.db.connection() as conn:
        rows = await repo.cameos_by_ids(conn, tenant_id, [uuid.UUID(c) for c in cameo_ids])
    out = []
    for r in rows:
        p = Path(r["media_dir"]) / "face.png"
        if p.is_file():
            with Image.open(p) as img:
                out.append(np.asarray(img.convert("RGB")))
    return tuple(out)
