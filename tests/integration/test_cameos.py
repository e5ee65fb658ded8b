"""Cameos end to end on real engines: enrollment with real photos, policies, revocation,
appearances found in real outputs, takedown by the owner, teen and guardian rules."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from consent.quality import face_crop
from consent.registry import face_backend
from generator.base import GeneratedMedia, GenerationSpec
from generator.procedural import ProceduralGenerator
from provenance.media import encode_mp4
from schemas.events import TOPIC_CONSENT
from tests.conftest import REVIEW_PROMPT, Server, Stack, consume, gen_body, start_server, subprocess_env, wait_for
from tests.faces import jpeg, photo, scaled


def _tenant_client(server: Server, *roles: str) -> httpx.Client:
    return server.client(server.tenant(f"cameo-{uuid.uuid4().hex[:8]}", *(roles or ("platform", "reviewer"))))


@pytest.fixture()
def tc(server: Server) -> Iterator[httpx.Client]:
    """A client of a fresh tenant: 1:N matching is per tenant, so tests do not see each other."""
    with _tenant_client(server) as c:
        yield c


def enroll(
    c: httpx.Client, owner: str, *names: str, age: str = "adult", expect: int = 201, **fields: str
) -> dict[str, Any]:
    files = [("images", (f"{n}.jpg", jpeg(photo(n)), "image/jpeg")) for n in names]
    r = c.post("/v1/cameos", data={"owner_id": owner, "owner_age_band": age, **fields}, files=files)
    assert r.status_code == expect, r.text
    return r.json()  # type: ignore[no-any-return]


def policy(c: httpx.Client, cameo_id: str, audience: str, approved: list[str] = (), **kw: Any) -> httpx.Response:  # type: ignore[assignment]
    return c.put(
        f"/v1/cameos/{cameo_id}/policy", json={"audience": audience, "approved_user_ids": list(approved), **kw}
    )


def generate(c: httpx.Client, user: str, *, age: str = "adult", expect: int = 202, **kw: Any) -> dict[str, Any]:
    r = c.post("/v1/generations", json=gen_body(user={"id": user, "age_band": age}, **kw))
    assert r.status_code == expect, r.text
    return r.json()  # type: ignore[no-any-return]


def b64(rgb: np.ndarray) -> str:
    return base64.b64encode(jpeg(rgb)).decode()


# -- enrollment ------------------------------------------------------------------------------------
def test_enroll_with_photos(tc: httpx.Client) -> None:
    cameo = enroll(tc, "alice", "obama", "obama2", "obama3")
    assert cameo["status"] == "active" and cameo["audience"] == "only_me" and cameo["owner_id"] == "alice"
    assert cameo["quality"]["images"] == 3 and cameo["quality"]["min_pair_similarity"] > 0.4
    got = tc.get(f"/v1/cameos/{cameo['id']}").json()
    assert got == cameo and "embedding" not in str(got)


@pytest.mark.parametrize(
    ("names", "code"),
    [(["t1"], "several_faces"), (["obama", "biden"], "different_people")],
)
def test_enrollment_refusals_name_the_problem(tc: httpx.Client, names: list[str], code: str) -> None:
    err = enroll(tc, "alice", *names, expect=422)["error"]
    assert err["code"] == code and err["details"]["field"] == "images"


def test_enrollment_bad_input(tc: httpx.Client) -> None:
    def post(data: dict[str, str], files: list[Any] | None = None, **kw: Any) -> dict[str, Any]:
        return tc.post("/v1/cameos", data=data, files=files, **kw).json()["error"]  # type: ignore[no-any-return]

    ok = {"owner_id": "alice", "owner_age_band": "adult"}
    img = [("images", ("a.jpg", jpeg(photo("obama")), "image/jpeg"))]
    assert post({"owner_age_band": "adult"}, img)["details"]["field"] == "owner_id"
    assert post({**ok, "owner_age_band": "child"}, img)["details"]["field"] == "owner_age_band"
    assert post({**ok, "colour": "red"}, img)["code"] == "unknown_field"
    assert post(ok, [("images", ("a.jpg", b"not an image", "image/jpeg"))])["code"] == "invalid_images"
    assert post(ok, [("dummy", ("a.txt", b"x", "text/plain"))])["code"] == "unknown_field"
    blank = [("images", ("b.jpg", jpeg(np.full((200, 200, 3), 90, np.uint8)), "image/jpeg"))]
    e = post(ok, blank)
    assert e["code"] == "no_face" and "image 0" in e["message"]
    r = tc.post("/v1/cameos", json=ok)
    assert r.status_code == 400 and r.json()["error"]["code"] == "multipart_required"
    r = tc.post("/v1/cameos", data=ok, files=img * 11)
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_images"
    # Only an admin enrolls a protected person.
    files = [("images", ("a.jpg", jpeg(photo("biden")), "image/jpeg"))]
    r = tc.post("/v1/cameos", data={**ok, "protected": "true", "display_name": "Joe Biden"}, files=files)
    assert r.status_code == 403


def test_enroll_with_a_short_video(tc: httpx.Client, tmp_path: Path) -> None:
    face = scaled(photo("obama"), 0.3)
    frames = np.full((24, 480, 640, 3), 50, np.uint8)
    for t in range(24):
        frames[t, 60 + 4 * t : 60 + 4 * t + face.shape[0], 100 + 6 * t : 100 + 6 * t + face.shape[1]] = face[
            : 480 - 60 - 4 * t, : 640 - 100 - 6 * t
        ]
    path = tmp_path / "me.mp4"
    encode_mp4(path, frames, np.zeros((24 * 1000, 2), np.float32), 24, 24000)
    r = tc.post(
        "/v1/cameos",
        data={"owner_id": "vera", "owner_age_band": "adult"},
        files=[("video", ("me.mp4", path.read_bytes(), "video/mp4"))],
    )
    assert r.status_code == 201, r.text
    assert r.json()["quality"]["images"] >= 3
    r = tc.post(
        "/v1/cameos",
        data={"owner_id": "vera", "owner_age_band": "adult"},
        files=[("video", ("x.mp4", b"\x00\x00\x00 ftypisomjunk", "video/mp4"))],
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_video"


def test_delete_erases_rows_and_files(server: Server, tc: httpx.Client) -> None:
    cameo = enroll(tc, "alice", "obama", "obama2")
    cid = cameo["id"]
    gen = generate(tc, "alice", cameos=[cid])
    wait_for(tc, gen["id"])
    media = Path(server.sql("SELECT media_dir FROM cameos WHERE id = $1", uuid.UUID(cid))[0]["media_dir"])
    assert (media / "face.png").is_file()
    assert server.sql("SELECT count(*) AS n FROM cameo_faces WHERE cameo_id = $1", uuid.UUID(cid))[0]["n"] == 3
    assert server.sql("SELECT count(*) AS n FROM appearances WHERE cameo_id = $1", uuid.UUID(cid))[0]["n"] == 1
    assert tc.delete(f"/v1/cameos/{cid}").status_code == 204
    for table, col in (("cameos", "id"), ("cameo_faces", "cameo_id"), ("appearances", "cameo_id")):
        assert server.sql(f"SELECT count(*) AS n FROM {table} WHERE {col} = $1", uuid.UUID(cid))[0]["n"] == 0
    assert not media.exists()
    assert tc.get(f"/v1/cameos/{cid}").status_code == 404
    assert tc.delete(f"/v1/cameos/{cid}").status_code == 404
    # Deleted means no longer usable, even by the owner.
    assert generate(tc, "alice", cameos=[cid], expect=403)["error"]["code"] == "cameo_not_granted"


# -- policy, generation, appearances, takedown ---------------------------------------------------------
def test_owner_generation_finds_the_face_and_records_the_appearance(tc: httpx.Client) -> None:
    cid = enroll(tc, "alice", "obama", "obama2")["id"]
    gid = generate(tc, "alice", cameos=[cid], duration_s=2)["id"]
    g = wait_for(tc, gid)
    assert g["status"] == "succeeded", g
    assert any(r.startswith("faces:") for r in g["decision"]["reasons"]), g["decision"]
    items = tc.get(f"/v1/cameos/{cid}/appearances").json()["items"]
    assert [(a["generation_id"], a["kind"]) for a in items] == [(gid, "requested")]
    assert items[0]["similarity"] > 0.4 and items[0]["frames"] >= 2 and items[0]["generation_status"] == "succeeded"
    # The owner takes it down; someone whose face is not in it cannot.
    r = tc.post(f"/v1/generations/{gid}/takedown", json={"cameo_owner": "mallory"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_an_appearance"
    r = tc.post(f"/v1/generations/{gid}/takedown", json={"cameo_owner": "alice", "reason": "not me"})
    assert r.status_code == 200 and r.json()["status"] == "taken_down"
    assert tc.get(f"/v1/generations/{gid}/content").status_code == 410


def test_audiences_and_connections(tc: httpx.Client) -> None:
    cid = enroll(tc, "alice", "obama")["id"]
    assert generate(tc, "bob", cameos=[cid], expect=403)["error"]["code"] == "cameo_not_granted"
    assert policy(tc, cid, "approved", ["bob"]).json()["approved_user_ids"] == ["bob"]
    generate(tc, "bob", cameos=[cid])
    assert generate(tc, "carol", cameos=[cid], expect=403)["error"]["code"] == "cameo_not_granted"
    policy(tc, cid, "mutuals")
    assert tc.put("/v1/users/alice/connections", json={"connections": ["carol"]}).json()["connections"] == ["carol"]
    generate(tc, "carol", cameos=[cid])
    assert generate(tc, "dave", cameos=[cid], expect=403)["error"]["code"] == "cameo_not_granted"
    policy(tc, cid, "everyone")
    generate(tc, "dave", cameos=[cid])
    # Bad policy bodies.
    r = tc.put(f"/v1/cameos/{cid}/policy", json={"audience": "friends"})
    assert r.status_code == 400 and "audience" in r.text
    assert tc.put(f"/v1/cameos/{uuid.uuid4()}/policy", json={"audience": "everyone"}).status_code == 404
    assert generate(tc, "dave", cameos=[str(uuid.uuid4())], expect=403)["error"]["code"] == "cameo_not_granted"


def test_restrictions_are_checked_against_prompts(tc: httpx.Client) -> None:
    cid = enroll(tc, "alice", "obama")["id"]
    policy(tc, cid, "everyone", restrictions=["no political content"])
    err = generate(tc, "bob", cameos=[cid], prompt="my friend gives a speech at an election rally", expect=403)
    assert err["error"]["code"] == "cameo_restricted"
    assert err["error"]["details"]["restrictions"] == ["no political content"]
    generate(tc, "bob", cameos=[cid], prompt="my friend plays with a puppy")


def test_revocation_blocks_a_job_not_yet_released(stack: Stack) -> None:
    api = start_server(stack, run_worker=False)
    worker = None
    try:
        with api.client() as c:
            cid = enroll(c, "alice", "obama", "obama2")["id"]
            policy(c, cid, "approved", ["bob"])
            gid = generate(c, "bob", cameos=[cid], duration_s=2)["id"]
            r = c.post(f"/v1/cameos/{cid}/revoke", json={"user_id": "bob"})
            assert r.status_code == 200 and r.json()["revoked_user_ids"] == ["bob"]
            worker = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "worker"],
                env=subprocess_env(api, PROVGATE_LOG_LEVEL="WARNING"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            g = wait_for(c, gid, timeout=180)
            assert g["status"] == "blocked", g
            assert g["decision"]["categories"].get("likeness/public-figure") == 1.0
            assert c.get(f"/v1/generations/{gid}/content").status_code == 409
            kinds = {a["generation_id"]: a["kind"] for a in c.get(f"/v1/cameos/{cid}/appearances").json()["items"]}
            assert kinds[gid] == "requested"
            # Bad revoke bodies.
            assert c.post(f"/v1/cameos/{cid}/revoke", json={}).status_code == 400
            assert c.post(f"/v1/cameos/{cid}/revoke", json={"user_id": "x", "all": True}).status_code == 400
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        api.thread.stop()


def test_revocation_wins_over_a_reviewer_approval(server: Server, tc: httpx.Client) -> None:
    """A job waiting for review is re-checked when the approval would release it."""
    cid = enroll(tc, "alice", "obama")["id"]
    policy(tc, cid, "approved", ["bob"])
    gid = generate(tc, "bob", cameos=[cid], prompt=REVIEW_PROMPT)["id"]
    assert wait_for(tc, gid)["status"] == "under_review"
    tc.post(f"/v1/cameos/{cid}/revoke", json={"all": True})
    review = next(i for i in tc.get("/v1/reviews?status=open").json()["items"] if i["generation_id"] == gid)
    r = tc.post(f"/v1/reviews/{review['id']}/decision", json={"decision": "approve"})
    assert r.status_code == 200, r.text
    g = tc.get(f"/v1/generations/{gid}").json()
    assert g["status"] == "blocked" and any("consent withdrawn" in x for x in g["decision"]["reasons"]), g


class LikenessGenerator(ProceduralGenerator):
    """A model that puts a real person's face into a video nobody asked it for."""

    def __init__(self, face: np.ndarray) -> None:
        super().__init__()
        self.face = face

    def generate(self, spec: GenerationSpec, cancelled: Any) -> GeneratedMedia:  # type: ignore[override]
        from dataclasses import replace

        return super().generate(replace(spec, cameo_faces=(self.face,)), cancelled)


def test_an_unrequested_enrolled_face_in_the_output_blocks(stack: Stack) -> None:
    img = photo("obama3")
    face = face_crop(img, face_backend("yunet").detect(img)[0])
    srv = start_server(stack, services_overrides={"generator": LikenessGenerator(face)})
    try:
        with srv.client() as c:
            cid = enroll(c, "alice", "obama", "obama2")["id"]
            gid = generate(c, "bob", prompt="a quiet street at dawn", duration_s=2)["id"]
            g = wait_for(c, gid)
            assert g["status"] == "blocked", g
            assert any("has not granted bob" in r for r in g["decision"]["reasons"])
            items = c.get(f"/v1/cameos/{cid}/appearances").json()["items"]
            assert [(a["generation_id"], a["kind"], a["generation_status"]) for a in items] == [
                (gid, "not_granted", "blocked")
            ]
            # Once alice shares with everyone, the same video is fine.
            policy(c, cid, "everyone")
            gid2 = generate(c, "bob", prompt="a quiet street at dawn", duration_s=2)["id"]
            assert wait_for(c, gid2)["status"] == "succeeded"
            kinds = {a["generation_id"]: a["kind"] for a in c.get(f"/v1/cameos/{cid}/appearances").json()["items"]}
            assert kinds[gid2] == "matched"
    finally:
        srv.thread.stop()


# -- input images, protected people --------------------------------------------------------------------
def test_input_image_faces_need_a_grant_or_an_attestation(tc: httpx.Client) -> None:
    cid = enroll(tc, "alice", "obama", "obama2")["id"]
    e = generate(tc, "bob", input_image=b64(photo("obama3")), expect=403)["error"]
    assert e["code"] == "cameo_not_granted" and e["details"]["reason"] == "not_granted"
    # An attestation covers unknown people, never an enrolled one who said no.
    e = generate(tc, "bob", input_image=b64(photo("obama3")), input_image_consent=True, expect=403)["error"]
    assert e["details"]["reason"] == "not_granted"
    e = generate(tc, "bob", input_image=b64(photo("biden")), expect=403)["error"]
    assert e["code"] == "cameo_not_granted" and e["details"]["reason"] == "consent_attestation_required"
    generate(tc, "bob", input_image=b64(photo("biden")), input_image_consent=True)
    policy(tc, cid, "approved", ["bob"])
    gid = generate(tc, "bob", input_image=b64(photo("obama3")))["id"]
    kinds = {a["generation_id"]: a["kind"] for a in tc.get(f"/v1/cameos/{cid}/appearances").json()["items"]}
    assert kinds[gid] == "input_image"
    generate(tc, "bob", input_image=b64(np.full((64, 64, 3), 200, np.uint8)))  # no face: nothing to consent to


def test_protected_person_named_or_requested(server: Server) -> None:
    name = f"cameo-{uuid.uuid4().hex[:8]}"
    with server.client(server.tenant(name, "platform", "admin")) as admin:
        p = enroll(
            admin, "press-office", "biden", protected="true", display_name="Joe Biden", aliases="President Biden"
        )
        assert p["protected"] is True and p["display_name"] == "Joe Biden"
        e = generate(admin, "bob", prompt="joe biden dancing in the rain", expect=403)["error"]
        assert e["code"] == "prompt_blocked" and e["details"]["categories"]["likeness/public-figure"] == 1.0
        e = generate(admin, "bob", prompt="President  B1den eating ice cream", expect=403)["error"]
        assert e["code"] == "prompt_blocked"
        assert generate(admin, "bob", cameos=[p["id"]], expect=403)["error"]["code"] == "cameo_not_granted"
        generate(admin, "bob", prompt="a paper boat on a pond")  # no name: fine
        # A well-known name from the public-figures list is refused without a cameo...
        e = generate(admin, "bob", prompt="barack obama dancing in the rain", expect=403)["error"]
        assert e["code"] == "prompt_blocked" and any("barack obama" in r for r in e["details"]["reasons"])
        # ...and a protected person who granted the user may be named (and requested).
        policy(admin, p["id"], "approved", ["bob"])
        generate(admin, "bob", prompt="joe biden dancing in the rain")
        generate(admin, "bob", prompt="president biden waves", cameos=[p["id"]])
        assert generate(admin, "carol", prompt="joe biden waves", expect=403)["error"]["code"] == "prompt_blocked"


# -- teens and guardians ---------------------------------------------------------------------------------
def test_teen_cameo_rules(tc: httpx.Client) -> None:
    cid = enroll(tc, "tom", "yaoming", age="teen")["id"]
    r = policy(tc, cid, "everyone")
    assert r.status_code == 422 and r.json()["error"]["code"] == "audience_not_allowed"
    policy(tc, cid, "approved", ["coach", "tia"])
    generate(tc, "tia", age="teen", cameos=[cid])  # a teen peer the owner approved
    e = generate(tc, "coach", cameos=[cid], expect=403)["error"]
    assert e["code"] == "cameo_not_granted" and "guardian" in e["message"]
    assert tc.put("/v1/users/tom/guardian", json={"cameos_allowed": True}).status_code == 200
    generate(tc, "coach", cameos=[cid])
    e = generate(tc, "stranger", cameos=[cid], expect=403)["error"]
    assert "has not approved stranger" in e["message"]
    tc.put("/v1/users/tom/guardian", json={"cameos_allowed": False})
    assert generate(tc, "tia", age="teen", cameos=[cid], expect=403)["error"]["code"] == "cameo_not_granted"
    # Guardian settings are for teens.
    generate(tc, "grown-up")
    assert tc.put("/v1/users/grown-up/guardian", json={"daily_limit": 3}).status_code == 400


def test_teen_daily_limit_holds_under_concurrency(server: Server, tc: httpx.Client) -> None:
    assert tc.put("/v1/users/kid/guardian", json={"daily_limit": 3}).status_code == 200

    def one(i: int) -> int:
        with httpx.Client(base_url=server.url, headers=dict(tc.headers), timeout=60) as c:
            r = c.post("/v1/generations", json=gen_body(prompt=f"a kite {i}", user={"id": "kid", "age_band": "teen"}))
            if r.status_code == 403:
                assert r.json()["error"]["code"] == "teen_limit_reached"
                assert r.json()["error"]["details"]["limit"] == 3
            return r.status_code

    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(one, range(8)))
    assert codes == [202] * 3 + [403] * 5


def test_default_teen_limit_is_ten(server: Server, tc: httpx.Client) -> None:
    codes = [
        tc.post("/v1/generations", json=gen_body(prompt=f"a leaf {i}", user={"id": "kim", "age_band": "teen"}))
        for i in range(11)
    ]
    assert [r.status_code for r in codes] == [202] * 10 + [403]
    assert codes[-1].json()["error"]["code"] == "teen_limit_reached"


def test_tenant_daily_limits_from_the_cli(server: Server, tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "tenant", "create", f"limits-{uuid.uuid4().hex[:6]}"]
        + ["--teen-daily-limit", "2", "--adult-daily-limit", "3"],
        capture_output=True,
        text=True,
        env=subprocess_env(server, PROVGATE_DATA_DIR=str(tmp_path)),
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    with server.client(res.stdout.strip().removeprefix("PROVGATE_API_KEY=")) as c:

        def codes(user: str, age: str, n: int) -> list[int]:
            body = gen_body(user={"id": user, "age_band": age})
            return [c.post("/v1/generations", json={**body, "prompt": f"a cloud {i}"}).status_code for i in range(n)]

        teen, adult = codes("t", "teen", 3), codes("a", "adult", 4)
    assert teen == [202, 202, 403] and adult == [202, 202, 202, 403]


# -- events ---------------------------------------------------------------------------------------------
def test_consent_events_reach_kafka(server: Server, tc: httpx.Client) -> None:
    cid = enroll(tc, "alice", "obama")["id"]
    policy(tc, cid, "approved", ["bob"])
    tc.post(f"/v1/cameos/{cid}/revoke", json={"user_id": "bob"})
    assert tc.delete(f"/v1/cameos/{cid}").status_code == 204
    want = {
        "provgate.cameo.enrolled",
        "provgate.cameo.policy_changed",
        "provgate.cameo.revoked",
        "provgate.cameo.deleted",
    }

    def mine(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [m for m in msgs if m["headers"].get("ce_subject") == cid]

    msgs = consume(
        server.env["PROVGATE_KAFKA_BOOTSTRAP"],
        TOPIC_CONSENT,
        until=lambda ms: want <= {m["headers"]["ce_type"] for m in mine(ms)},
    )
    assert want <= {m["headers"]["ce_type"] for m in mine(msgs)}
    assert all("embedding" not in str(m["value"]) for m in mine(msgs))
