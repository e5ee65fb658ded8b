"""Published event contracts: JSON Schema generated from ``schemas/`` and an AsyncAPI 3.0
document for the Kafka topics. ``provgate schemas export DIR`` writes them; a test checks
that the committed copies in ``docs/`` match the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from schemas import events
from schemas.events import ReviewDecisionMessage

from . import __version__

EVENT_TYPES: list[Any] = list(events.EventData.__args__)  # type: ignore[attr-defined]

CE_HEADERS = {
    "type": "object",
    "required": ["ce_specversion", "ce_id", "ce_type", "ce_source", "ce_subject", "ce_time"],
    "properties": {
        "ce_specversion": {"type": "string", "const": events.SPEC_VERSION},
        "ce_id": {"type": "string", "description": "stable across redeliveries: de-duplicate on it"},
        "ce_type": {"type": "string"},
        "ce_source": {"type": "string", "const": events.SOURCE},
        "ce_subject": {"type": "string", "description": "the generation id (the Kafka key)"},
        "ce_time": {"type": "string", "format": "date-time"},
        "content-type": {"type": "string", "const": "application/json"},
    },
}


def _strip_tag(schema: dict[str, Any]) -> dict[str, Any]:
    """In binary mode the type travels in ``ce_type``, not in the JSON value."""
    schema = json.loads(json.dumps(schema))
    schema.get("properties", {}).pop("type", None)
    if "required" in schema:
        schema["required"] = [r for r in schema["required"] if r != "type"]
    return schema


def event_schemas() -> dict[str, Any]:
    (refs, components) = msgspec.json.schema_components(
        [*EVENT_TYPES, ReviewDecisionMessage], ref_template="#/$defs/{name}"
    )
    defs = {name: _strip_tag(s) for name, s in components.items()}
    by_type = {str(t.__struct_config__.tag): {"$ref": f"#/$defs/{t.__name__}"} for t in EVENT_TYPES}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://provgate.dev/schemas/events-{__version__}.json",
        "title": "provgate event values by CloudEvents type (binary mode: the type is the ce_type header)",
        "x-provgate-event-types": by_type,
        "x-provgate-headers": CE_HEADERS,
        "$defs": defs,
    }


def asyncapi() -> dict[str, Any]:
    schemas = event_schemas()["$defs"]
    messages: dict[str, Any] = {}
    for t in EVENT_TYPES:
        tag = str(t.__struct_config__.tag)
        messages[t.__name__] = {
            "name": tag,
            "title": tag,
            "contentType": "application/json",
            "headers": CE_HEADERS,
            "payload": {"$ref": f"#/components/schemas/{t.__name__}"},
        }
    messages["ReviewDecisionMessage"] = {
        "name": "review decision",
        "contentType": "application/json",
        "payload": {"$ref": "#/components/schemas/ReviewDecisionMessage"},
    }
    generation = [n for n in messages if n.startswith("Generation")]
    review = ["ReviewRequested", "ReviewDecided"]
    cameo = [n for n in messages if n.startswith("Cameo")]

    def refs(names: list[str]) -> dict[str, Any]:
        return {n: {"$ref": f"#/components/messages/{n}"} for n in names}

    channels = {
        "audit": {
            "address": events.TOPIC_AUDIT,
            "description": "every decision and state change",
            "messages": refs(generation + review + cameo),
        },
        "review": {
            "address": events.TOPIC_REVIEW,
            "description": "items that need a human, with a priority",
            "messages": refs(review),
        },
        "consent": {
            "address": events.TOPIC_CONSENT,
            "description": "cameo enrollment, policy changes, revocation, deletion, appearances "
            "(takedowns of a cameo's appearances are generation.taken_down events on the audit topic)",
            "messages": refs(cameo),
        },
        "reviewDecisions": {
            "address": events.TOPIC_REVIEW_DECISIONS,
            "description": "decisions from reviewer tools; provgate consumes them (idempotent)",
            "messages": refs(["ReviewDecisionMessage"]),
        },
    }
    operations = {
        "publishAudit": {"action": "send", "channel": {"$ref": "#/channels/audit"}},
        "publishReview": {"action": "send", "channel": {"$ref": "#/channels/review"}},
        "publishConsent": {"action": "send", "channel": {"$ref": "#/channels/consent"}},
        "consumeReviewDecisions": {"action": "receive", "channel": {"$ref": "#/channels/reviewDecisions"}},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "provgate events",
            "version": __version__,
            "description": "CloudEvents in binary mode: ce_* headers, JSON value, key = subject id. "
            "Delivered at least once; ce_id is stable so consumers can de-duplicate.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name, doc in (("events.schema.json", event_schemas()), ("asyncapi.json", asyncapi())):
        path = directory / name
        path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        out.append(path)
    return out
