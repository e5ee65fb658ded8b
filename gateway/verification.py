"""Verification: the C2PA manifest, the invisible watermark, and the record behind both.

``consistent`` is true only when all three name the same generation and the manifest is
``Trusted`` (``Valid`` means a correct signature by a signer we do not trust).
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import datetime
from pathlib import Path

import asyncpg

from provenance.media import MediaError, decode_audio, decode_frames
from schemas.api import C2paReport, VerifyRecord, VerifyReport, WatermarkReport
from schemas.manifest import PROVGATE_ASSERTION

from . import repo
from .errors import Unprocessable
from .services import Services

MAX_VERIFY_BYTES = 512 * 1024 * 1024
WATERMARK_SECONDS = 2.0
AUDIO_SECONDS = 12.0


def _inspect(services: Services, data: bytes) -> tuple[C2paReport, WatermarkReport, int | None]:
    with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
        tmp.write(data)
        tmp.flush()
        path = Path(tmp.name)
        report = services.reader.read(path)
        assertion = report.assertions.get(PROVGATE_ASSERTION) or {}
        c2pa = C2paReport(
            state=report.state,  # type: ignore[arg-type]
            signer=report.signer,
            generation_id=assertion.get("generation_id"),
            codes=report.codes,
            actions=_actions(report.assertions),
            signed_at=_time(report.signed_at),
            timestamp=report.timestamp,  # type: ignore[arg-type]
        )
        try:
            frames, _ = decode_frames(path, max_frames=int(WATERMARK_SECONDS * 24))
        except MediaError as exc:
            unreadable = report.state == "Missing" or any(c.startswith("read.error") for c in report.codes)
            if unreadable:
                raise Unprocessable(
                    f"the file is not a video provgate can read: {exc}", code="invalid_media", details={"field": "file"}
                ) from None
            return c2pa, WatermarkReport(found=False), None
        audio = decode_audio(path, max_seconds=AUDIO_SECONDS)
    det = services.watermark.detect(frames)
    audio_payload = None
    audio_found: bool | None = None
    if audio is not None and len(audio[0]) >= services.audio_watermark.min_samples:
        audio_payload, _ = services.audio_watermark.detect(audio[0])
        audio_found = audio_payload is not None
    payload = det.payload if det.found else audio_payload
    wm = WatermarkReport(found=payload is not None, algorithm=services.watermark.algorithm, audio_found=audio_found)
    return c2pa, wm, payload


def _time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _actions(assertions: dict) -> list[str]:
    data = assertions.get("c2pa.actions.v2") or assertions.get("c2pa.actions") or {}
    out = []
    for a in data.get("actions", []):
        text = str(a.get("action", "?"))
        source = str(a.get("digitalSourceType", "")).rsplit("/", 1)[-1]
        agent = (a.get("softwareAgent") or {}).get("name") if isinstance(a.get("softwareAgent"), dict) else None
        text += f" ({source})" if source else ""
        text += f" by {agent}" if agent else ""
        out.append(text)
    return out


def _record(row: asyncpg.Record) -> VerifyRecord:
    decision = row["decision"] or {}
    return VerifyRecord(
        generation_id=str(row["id"]),
        status=row["status"],
        created_at=row["created_at"],
        released_at=row["released_at"],
        policy_version=row["policy_version"],
        outcome=decision.get("outcome"),
        sha256=row["artifact_sha256"],
        taken_down=row["status"] == "taken_down",
    )


async def verify(services: Services, data: bytes) -> VerifyReport:
    if not data:
        raise Unprocessable(
            "no file given: send one multipart part named `file` or the raw bytes",
            code="missing_file",
            details={"field": "file"},
        )
    c2pa, wm, payload = await services.run_blocking(_inspect, services, data)
    record_row = None
    async with services.db.connection() as conn:
        if payload is not None:
            record_row = await repo.generation_by_payload(conn, payload)
            if record_row is not None:
                wm.generation_id = str(record_row["id"])
                wm.bit_errors = 0
        if record_row is None and c2pa.generation_id:
            try:
                gid = uuid.UUID(c2pa.generation_id)
            except ValueError:
                gid = None
            if gid is not None:
                record_row = await repo.get_generation(conn, gid, None)
    record = _record(record_row) if record_row is not None else None
    consistent = (
        c2pa.state == "Trusted"
        and wm.found
        and record is not None
        and c2pa.generation_id == wm.generation_id == record.generation_id
    )
    notes, stored = _notes(c2pa, wm, record, record_row)
    return VerifyReport(
        c2pa=c2pa, watermark=wm, record=record, consistent=consistent, stored_manifest=stored, notes=notes
    )


def _notes(
    c2pa: C2paReport, wm: WatermarkReport, record: VerifyRecord | None, row: asyncpg.Record | None
) -> tuple[list[str], dict | None]:
    """Plain-language findings for auditors, and the stored manifest when the file lost its own."""
    notes: list[str] = []
    stored = None
    if row is not None and wm.generation_id and c2pa.state in ("Missing", "Invalid"):
        stored = (row["manifest"] or {}).get("definition")
        if c2pa.state == "Missing":
            notes.append(
                "The file carries no C2PA manifest (stripped or re-encoded); its content credentials were "
                "recovered from the invisible watermark and are returned as stored_manifest."
            )
        else:
            notes.append(
                "The file was changed after signing; the watermark still identifies the generation, whose "
                "original content credentials are returned as stored_manifest."
            )
    if c2pa.state == "Valid":
        notes.append("The manifest is intact but its signer does not chain to a trusted root.")
    if wm.found and wm.generation_id is None:
        notes.append("A provgate watermark was found but no record for it is visible to this API key.")
    if record is not None and record.taken_down:
        notes.append(f"Generation {record.generation_id} was taken down; provgate no longer serves it.")
    if c2pa.generation_id and wm.generation_id and c2pa.generation_id != wm.generation_id:
        notes.append("The manifest and the watermark name different generations.")
    return notes, stored
