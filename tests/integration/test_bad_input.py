"""Bad input gets a clear 4xx naming what is wrong; never a 500."""

from __future__ import annotations

import base64
import io
import json
import struct
import uuid
import zlib

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gateway.images import MAX_IMAGE_SIDE
from schemas.api import MAX_PROMPT_CHARS
from tests.conftest import Server, gen_body


def _err(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])
    return body["error"]


def _post(client: httpx.Client, body: object) -> httpx.Response:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/v1/generations", content=raw, headers={"Content-Type": "application/json"})


def test_malformed_json(client: httpx.Client) -> None:
    e = _err(_post(client, b'{"prompt": "x", '), 400)
    assert e["code"] == "malformed_json"


def test_json_nested_too_deeply(client: httpx.Client) -> None:
    e = _err(_post(client, b"[" * 100_000 + b"]" * 100_000), 400)  # was a 500 (RecursionError in the decoder)
    assert e["code"] == "malformed_json" and "nests too deeply" in e["message"]
    e = _err(_post(client, b'{"prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), 400)
    assert e["code"] == "malformed_json"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"surprise": 1}, "surprise"),
        ({"duration_s": "ten"}, "duration_s"),
        ({"duration_s": 0.5}, "duration_s"),
        ({"duration_s": 21}, "duration_s"),
        ({"resolution": "4k"}, "resolution"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x" * (MAX_PROMPT_CHARS + 1)}, "prompt"),
        ({"seed": -1}, "seed"),
        ({"cameos": "abc"}, "cameos"),
        ({"user": {"id": "u"}}, "user"),
        ({"user": {"id": "u", "age_band": "child"}}, "user.age_band"),
        ({"user": {"id": "", "age_band": "adult"}}, "user.id"),
        ({"user": {"id": "u", "age_band": "adult", "email": "a@b"}}, "email"),
    ],
)
def test_invalid_fields_are_named(client: httpx.Client, patch: dict, field: str) -> None:
    e = _err(_post(client, gen_body(**patch)), 400)
    assert field in e["message"], e
    assert e["details"]["errors"][0]["field"]


ZERO = "00000000-0000-0000-0000-000000000000"


# A JSON body has types: a number or a flag sent as text is refused, naming the field. Litestar
# converts bodies laxly (as it must query strings): "1" passed for true, so a platform's
# `"input_image_consent": "1"` counted as the consent of the people in its image.
@pytest.mark.parametrize(
    ("method", "path", "body", "field", "message"),
    [
        ("POST", "/v1/generations", gen_body(input_image_consent="1"), "input_image_consent", "`bool`, got `str`"),
        ("POST", "/v1/generations", gen_body(duration_s="4"), "duration_s", "`float`, got `str`"),
        ("POST", "/v1/generations", gen_body(seed="7"), "seed", "`int | null`, got `str`"),
        ("POST", "/v1/generations", gen_body(seed=7.0), "seed", "`int | null`, got `float`"),
        ("POST", f"/v1/cameos/{ZERO}/revoke", {"all": "true"}, "all", "`bool`, got `str`"),
        ("PUT", "/v1/users/u1/guardian", {"daily_limit": "3"}, "daily_limit", "`int | null`, got `str`"),
        ("PUT", "/v1/users/u1/guardian", {"cameos_allowed": "false"}, "cameos_allowed", "`bool | null`, got `str`"),
        ("POST", "/v1/reviews/claim", {"lease_s": "60"}, "lease_s", "`int`, got `str`"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_named(
    client: httpx.Client, method: str, path: str, body: dict, field: str, message: str
) -> None:
    e = _err(client.request(method, path, json=body), 400)
    assert e["message"] == f"Expected {message} at `{field}`", e
    assert e["details"]["errors"][0] == {"field": field, "message": f"Expected {message}", "source": "body"}


NUL_PROMPT = "a paper boat\x00 on a pond"  # a variable, so tests/suite_prompts.py does not read it as a sent prompt


# Postgres text cannot hold NUL (U+0000): every free-text field that is stored refuses it with a
# 400 naming the field, before anything is written (it was a 500 from the failed insert).
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v1/generations", gen_body() | {"prompt": NUL_PROMPT}, "prompt"),
        ("POST", f"/v1/generations/{ZERO}/takedown", {"reason": "spam\x00"}, "reason"),
        ("POST", f"/v1/generations/{ZERO}/report", {"reason": "spam\x00"}, "reason"),
        ("POST", f"/v1/reviews/{ZERO}/decision", {"decision": "approve", "notes": "fine\x00"}, "notes"),
        (
            "PUT",
            f"/v1/cameos/{ZERO}/policy",
            {"audience": "everyone", "restrictions": ["no\x00 ads"]},
            "restrictions[0]",
        ),
    ],
)
def test_nul_characters_in_stored_text_are_named(
    client: httpx.Client, method: str, path: str, body: dict, field: str
) -> None:
    e = _err(client.request(method, path, json=body), 400)
    assert e["message"] == f"Expected `str` without NUL (U+0000) characters at `{field}`", e
    assert e["details"]["errors"][0]["field"] == field


def test_nul_characters_in_an_enrollment_text_field_are_named(client: httpx.Client) -> None:
    fields = {"owner_id": "o1", "owner_age_band": "adult", "display_name": "A\x00B"}
    e = _err(client.post("/v1/cameos", data=fields, files={"images": ("a.png", b"x", "image/png")}), 400)
    assert e["details"]["field"] == "display_name" and "NUL" in e["message"]


@pytest.mark.parametrize("text", ["🐱", "!!!", "\u200b\u202e" * 50])
def test_prompts_with_no_words_are_checked_not_a_server_error(client: httpx.Client, text: str) -> None:
    # Normalisation leaves no words in these; the semantic layer failed on that (IndexError), and
    # a failed classifier is a 503 "retry later", which no retry would ever get past.
    r = client.post("/v1/moderations", json={"input": text})
    assert r.status_code == 200 and r.json()["decision"]["outcome"] == "allow", r.text
    r = _post(client, gen_body() | {"prompt": text})
    assert r.status_code == 202, r.text


def test_empty_body_says_so(client: httpx.Client) -> None:
    e = _err(_post(client, b""), 400)
    assert e["message"] == "the request body is empty: send a JSON object"


@pytest.mark.parametrize(("body", "kind"), [(b"[]", "array"), (b'"x"', "str"), (b"42", "int"), (b"null", "null")])
def test_a_body_that_is_not_an_object_says_so(client: httpx.Client, body: bytes, kind: str) -> None:
    e = _err(_post(client, body), 400)
    assert e["message"] == f"the request body must be a JSON object, not {kind}", e
    assert "`data`" not in str(e)  # the handler's parameter name means nothing to a caller


def test_missing_required_field(client: httpx.Client) -> None:
    body = gen_body()
    del body["prompt"]
    e = _err(_post(client, body), 400)
    assert "prompt" in e["message"]


def test_wrong_top_level_type(client: httpx.Client) -> None:
    _err(_post(client, [1, 2, 3]), 400)


@pytest.mark.parametrize(
    ("image", "status", "code"),
    [
        ("!!!not base64!!!", 422, "invalid_input_image"),
        (base64.b64encode(b"this is text, not an image").decode(), 422, "invalid_input_image"),
    ],
)
def test_undecodable_input_image(client: httpx.Client, image: str, status: int, code: str) -> None:
    e = _err(_post(client, gen_body(input_image=image)), status)
    assert e["code"] == code and e["details"]["field"] == "input_image"


def test_oversized_input_image_dimensions(client: httpx.Client) -> None:
    buf = io.BytesIO()
    Image.new("L", (MAX_IMAGE_SIDE + 1, 8)).save(buf, "PNG")
    e = _err(_post(client, gen_body(input_image=base64.b64encode(buf.getvalue()).decode())), 413)
    assert e["code"] == "input_image_too_large"


def test_image_claiming_billions_of_pixels(client: httpx.Client) -> None:
    # A 60000x60000 PNG header over a few bytes of data: PIL refuses it as a decompression bomb
    # before the side limit is checked (it was a 422 "not a decodable image").
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")
    e = _err(_post(client, gen_body(input_image=base64.b64encode(png).decode())), 413)
    assert e["code"] == "input_image_too_large" and e["details"]["field"] == "input_image"


def test_oversized_body(server: Server, client: httpx.Client) -> None:
    huge = b'{"prompt": "' + b"x" * (server.settings.server.max_body_bytes + 10) + b'"}'
    r = _post(client, huge)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Basic abc"}, "invalid_api_key"),
        ({"Authorization": "Bearer pgk_not-a-real-key"}, "invalid_api_key"),
        ({"Authorization": "Bearer"}, "invalid_api_key"),
    ],
)
def test_bad_or_missing_api_key(server: Server, headers: dict, code: str) -> None:
    with httpx.Client(base_url=server.url, headers=headers) as c:
        e = _err(c.post("/v1/generations", json=gen_body()), 401)
        assert e["code"] == code


# Who calls comes before what was sent: without a valid key it is 401, with a key that lacks the
# route's role 403, whatever the body (malformed, wrongly typed or valid), so neither caller
# learns anything about the body's format. Both used to come after Litestar had read the body.
@pytest.mark.parametrize(
    ("method", "path", "body", "role"),
    [
        ("POST", "/v1/generations", b'{"prompt": ', "reviewer"),
        ("POST", "/v1/generations", b"{}", "reviewer"),
        ("POST", "/v1/generations", json.dumps(gen_body()).encode(), "reviewer"),
        ("POST", "/v1/reviews/claim", b'{"lease_s": "60"}', "platform"),
        ("POST", f"/v1/reviews/{ZERO}/decision", b'{"decision": "maybe"}', "platform"),
        ("POST", f"/v1/generations/{ZERO}/report", b"[", "reviewer"),
        ("PUT", "/v1/users/u1/guardian", b'{"cameos_allowed": "false"}', "reviewer"),
        ("PUT", "/v1/users/u1/connections", b'{"connections": 3}', "auditor"),
        ("PUT", f"/v1/cameos/{ZERO}/policy", b"[", "reviewer"),
    ],
)
def test_the_key_and_its_role_come_before_the_body(
    server: Server, method: str, path: str, body: bytes, role: str
) -> None:
    headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=server.url) as anon:
        assert _err(anon.request(method, path, content=body, headers=headers), 401)["code"] == "missing_api_key"
    with server.client(server.tenant(f"role-{role}-{uuid.uuid4().hex[:8]}", role)) as c:
        e = _err(c.request(method, path, content=body, headers=headers), 403)
        assert e["code"] == "role_required" and e["details"]["required"] != [role], e


@pytest.mark.parametrize(
    "path",
    [
        "/v1/generations/not-a-uuid",
        "/v1/generations/00000000-0000-0000-0000-000000000000",
        "/v1/generations/00000000-0000-0000-0000-000000000000/content",
        "/v1/no-such-route",
    ],
)
def test_unknown_ids_are_404(client: httpx.Client, path: str) -> None:
    _err(client.get(path), 404)


def test_unknown_review_is_404(client: httpx.Client) -> None:
    e = _err(
        client.post("/v1/reviews/00000000-0000-0000-0000-000000000000/decision", json={"decision": "approve"}), 404
    )
    assert e["code"] == "review_not_found"


def test_bad_review_decision(client: httpx.Client) -> None:
    e = _err(client.post("/v1/reviews/00000000-0000-0000-0000-000000000000/decision", json={"decision": "maybe"}), 400)
    assert "decision" in e["message"]


def test_bad_query_parameter(client: httpx.Client) -> None:
    _err(client.get("/v1/reviews", params={"status": "weird"}), 400)
    _err(client.get("/v1/reviews", params={"limit": "0"}), 400)


def test_verify_rejects_non_video(client: httpx.Client) -> None:
    e = _err(client.post("/v1/verify", files={"file": ("x.txt", b"hello", "text/plain")}), 422)
    assert e["code"] == "invalid_media"
    assert e["message"].endswith("not a decodable video: Invalid data found when processing input"), e
    assert "/" not in e["message"]  # FFmpeg's words, not the path of the server's temporary copy
    e = _err(client.post("/v1/verify", files={"other": ("x.txt", b"hello", "text/plain")}), 422)
    assert e["code"] == "missing_file"
    e = _err(client.post("/v1/verify", content=b"", headers={"Content-Type": "video/mp4"}), 422)
    assert e["code"] == "missing_file"


def test_bad_idempotency_key(client: httpx.Client) -> None:
    e = _err(client.post("/v1/generations", json=gen_body(), headers={"Idempotency-Key": "k" * 300}), 422)
    assert e["code"] == "invalid_idempotency_key"


def test_wrong_method(client: httpx.Client) -> None:
    _err(client.delete("/v1/generations"), 405)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)


# The server under test runs in a thread of this process; its Kafka clients use the global
# `random` module, which hypothesis attributes to the strategy and reports as deprecated use.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.dictionaries(
        st.sampled_from(["prompt", "user", "cameos", "input_image", "duration_s", "resolution", "seed", "x"]),
        json_values,
        max_size=7,
    )
)
def test_arbitrary_bodies_never_500(client: httpx.Client, body: dict) -> None:
    r = _post(client, body)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert "error" in r.json()
