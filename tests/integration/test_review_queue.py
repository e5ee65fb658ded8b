"""The review queue: priorities, leases (two reviewers never get the same item), escalation,
decisions over HTTP and Kafka (idempotent), reports of released videos, frames by reference,
stats, and the published event contracts."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.apidocs import asyncapi, event_schemas
from tests.conftest import REVIEW_PROMPT, Server, consume, gen_body, subprocess_env, wait_for, wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def queue(server: Server) -> tuple[Server, str, list[str]]:
    """A fresh tenant with three items under review."""
    key = server.tenant(f"q-{time.monotonic_ns()}", "platform", "reviewer")
    with server.client(key) as c:
        ids = [c.post("/v1/generations", json=gen_body(REVIEW_PROMPT, seed=i)).json()["id"] for i in range(3)]
        for gid in ids:
            assert wait_for(c, gid)["status"] == "under_review"
    return server, key, ids


def test_two_reviewers_never_get_the_same_item(queue: tuple[Server, str, list[str]]) -> None:
    server, key, _ = queue
    reviewers = [key] + [_extra_key(server, key) for _ in range(2)]  # three people, one tenant
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        got = list(pool.map(lambda k: _claim(server, k), reviewers))
    assert len(set(got)) == 3 and "" not in got
    assert _claim(server, reviewers[0]) == got[0]  # a reload returns the item already held
    assert _claim(server, _extra_key(server, key)) == ""  # nothing left for a fourth reviewer
    with server.client(key) as c:
        items = c.get("/v1/reviews").json()["items"]
    assert all(i["assigned_to"] for i in items if i["id"] in got)


def _extra_key(server: Server, key: str) -> str:
    tenant = server.sql("SELECT tenant_id FROM api_keys WHERE prefix = $1", key[:10])[0]["tenant_id"]
    from gateway.auth import hash_key, new_key

    extra = new_key()
    server.sql(
        "INSERT INTO api_keys (id, tenant_id, key_hash, prefix, roles) VALUES (gen_random_uuid(), $1, $2, $3, "
        "'{reviewer}')",
        tenant,
        hash_key(extra),
        extra[:10],
    )
    return extra


def _claim(server: Server, key: str) -> str:
    with server.client(key) as c:
        r = c.post("/v1/reviews/claim", json={"lease_s": 60})
        return str(r.json()["id"]) if r.status_code == 200 else ""


def test_lease_expiry_frees_the_item_and_decisions_respect_it(queue: tuple[Server, str, list[str]]) -> None:
    server, key, _ = queue
    other = _extra_key(server, key)
    first = _claim(server, key)
    with server.client(other) as c:
        r = c.post(f"/v1/reviews/{first}/decision", json={"decision": "approve"})
        assert r.status_code == 409 and r.json()["error"]["code"] == "review_assigned_elsewhere"
    server.sql("UPDATE reviews SET lease_expires_at = now() - interval '1 second' WHERE id = $1::uuid", first)
    assert _claim(server, other) == first  # most urgent, oldest first: the expired one comes back first


def test_queue_order_priority_then_oldest(queue: tuple[Server, str, list[str]]) -> None:
    server, key, ids = queue
    with server.client(key) as c:
        items = c.get("/v1/reviews").json()["items"]
    keys = [(i["priority"], i["created_at"]) for i in items]
    assert keys == sorted(keys)
    first = items[0]
    assert first["prompt"] == REVIEW_PROMPT and first["thumbnails"] and first["deadline"]


def test_escalate_keeps_it_open_and_more_urgent(queue: tuple[Server, str, list[str]]) -> None:
    server, key, _ = queue
    rid = _claim(server, key)
    with server.client(key) as c:
        before = c.get(f"/v1/reviews/{rid}").json()
        r = c.post(f"/v1/reviews/{rid}/decision", json={"decision": "escalate", "notes": "senior please"})
        assert r.json()["status"] == "open"
        after = c.get(f"/v1/reviews/{rid}").json()
    assert after["escalated"] and after["priority"] == max(0, before["priority"] - 1) and after["assigned_to"] is None


def test_frames_are_served_by_reference(queue: tuple[Server, str, list[str]]) -> None:
    server, key, ids = queue
    with server.client(key) as c:
        item = c.get("/v1/reviews").json()["items"][0]
        r = c.get(item["thumbnails"][0])
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
        assert c.get(item["thumbnails"][0].rsplit("/", 1)[0] + "/99").status_code == 404
    with httpx.Client(base_url=server.url) as anon:
        assert anon.get(item["thumbnails"][0]).status_code == 401
    events = consume(
        server.settings.kafka.bootstrap,
        "provgate.review",
        until=lambda evs: any(e["value"].get("review_id") == item["id"] for e in evs),
    )
    ev = next(e for e in events if e["value"].get("review_id") == item["id"])
    assert ev["value"]["thumbnails"] == item["thumbnails"]  # references, never media inline
    assert all(len(json.dumps(e["value"])) < 20_000 for e in events)


def test_decisions_over_kafka_are_applied_once(queue: tuple[Server, str, list[str]]) -> None:
    from aiokafka import AIOKafkaProducer

    server, key, ids = queue
    with server.client(key) as c:
        items = {i["generation_id"]: i for i in c.get("/v1/reviews").json()["items"]}
    review = items[ids[0]]
    tenant = str(server.sql("SELECT tenant_id FROM reviews WHERE id = $1::uuid", review["id"])[0]["tenant_id"])
    msg = json.dumps(
        {
            "review_id": review["id"],
            "tenant_id": tenant,
            "decision": "reject",
            "reviewer": "alice@platform",
            "notes": "via kafka",
        }
    ).encode()

    async def send() -> None:
        p = AIOKafkaProducer(bootstrap_servers=server.settings.kafka.bootstrap, enable_idempotence=False)
        await p.start()
        try:
            for value in (msg, msg, b"not json", json.dumps({"review_id": "x"}).encode()):
                await p.send_and_wait("provgate.review.decisions", value)
        finally:
            await p.stop()

    asyncio.run(send())
    with server.client(key) as c:
        wait_until(
            lambda: c.get(f"/v1/generations/{ids[0]}").json()["status"] == "blocked",
            timeout=60,
            what="the Kafka decision to apply",
        )
        r = c.get(f"/v1/reviews/{review['id']}").json()
        assert r["decision"] == "reject" and r["reviewer"] == "alice@platform"
    time.sleep(2)
    logged = server.sql("SELECT count(*) AS n FROM review_decisions WHERE review_id = $1::uuid", review["id"])
    assert logged[0]["n"] == 1  # the duplicate changed nothing
    audit = consume(
        server.settings.kafka.bootstrap,
        "provgate.audit",
        until=lambda evs: any(
            e["headers"]["ce_type"] == "provgate.review.decided" and e["value"]["review_id"] == review["id"]
            for e in evs
        ),
    )
    decided = [
        e
        for e in audit
        if e["headers"]["ce_type"] == "provgate.review.decided" and e["value"]["review_id"] == review["id"]
    ]
    assert decided[0]["value"]["reviewer"] == "alice@platform"


def test_rejecting_a_released_video_takes_it_down(server: Server, client: httpx.Client) -> None:
    gid = client.post("/v1/generations", json=gen_body("a calm harbour at dawn")).json()["id"]
    assert wait_for(client, gid)["status"] == "succeeded"
    r = client.post(f"/v1/generations/{gid}/report", json={"reason": "user report: misleading"})
    assert r.status_code == 202
    rid = r.json()["review_id"]
    again = client.post(f"/v1/generations/{gid}/report", json={"reason": "second report"})
    assert again.json()["review_id"] == rid  # one open review per generation
    d = client.post(f"/v1/reviews/{rid}/decision", json={"decision": "reject", "notes": "confirmed"})
    assert d.json()["generation_status"] == "taken_down"
    assert client.get(f"/v1/generations/{gid}/content").status_code == 410


def test_stats_and_cli(queue: tuple[Server, str, list[str]]) -> None:
    server, key, _ = queue
    with server.client(key) as c:
        rid = c.get("/v1/reviews").json()["items"][0]["id"]
        c.post(f"/v1/reviews/{rid}/decision", json={"decision": "approve"})
        s = c.get("/v1/reviews/stats").json()
    assert s["open"] == 2 and s["decisions_last_hour"] == 1 and s["oldest_open_age_s"] > 0
    res = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "review", "stats", "--url", server.url, "--api-key", key],
        capture_output=True,
        text=True,
        env=subprocess_env(server),
        timeout=60,
    )
    assert res.returncode == 0 and "open items" in res.stdout and "2" in res.stdout


def test_published_event_schemas_match_the_code() -> None:
    for name, doc in (("events.schema.json", event_schemas()), ("asyncapi.json", asyncapi())):
        committed = json.loads((ROOT / "docs" / name).read_text())
        assert committed == json.loads(json.dumps(doc)), f"docs/{name} is stale: run `provgate schemas export`"
    spec = asyncapi()
    assert {c["address"] for c in spec["channels"].values()} == {
        "provgate.audit",
        "provgate.review",
        "provgate.consent",
        "provgate.review.decisions",
    }
    requested = event_schemas()["$defs"]["ReviewRequested"]
    assert {"priority", "thumbnails", "deadline"} <= set(requested["properties"])


def test_event_values_validate_against_the_published_schema(server: Server, client: httpx.Client) -> None:
    import jsonschema

    gid = client.post("/v1/generations", json=gen_body("a lantern in the snow")).json()["id"]
    wait_for(client, gid, ("succeeded",))
    schema = event_schemas()
    events = consume(
        server.settings.kafka.bootstrap,
        "provgate.audit",
        until=lambda evs: any(
            e["headers"]["ce_subject"] == gid and e["headers"]["ce_type"].endswith("released") for e in evs
        ),
    )
    for e in events:
        if e["headers"]["ce_subject"] != gid:
            continue
        ref = schema["x-provgate-event-types"][e["headers"]["ce_type"]]["$ref"].split("/")[-1]
        jsonschema.validate(e["value"], {**schema["$defs"][ref], "$defs": schema["$defs"]})
        jsonschema.validate(e["headers"], schema["x-provgate-headers"])
