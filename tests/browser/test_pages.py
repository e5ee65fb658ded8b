"""The review console and the verify page, in a real browser."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REVIEW_PROMPT, Server, gen_body, wait_for, wait_until


def test_console_sign_in_reveal_reject_blocks_the_generation(server: Server, page: Any) -> None:
    key = server.tenant(f"console-{time.monotonic_ns()}", "platform", "reviewer")
    with server.client(key) as c:
        gid = c.post("/v1/generations", json=gen_body(REVIEW_PROMPT)).json()["id"]
        assert wait_for(c, gid)["status"] == "under_review"

    page.goto(f"{server.url}/console")
    page.fill("#key", key)
    page.click("#signin-button")
    page.wait_for_selector("#prompt")
    assert page.inner_text("#prompt") == REVIEW_PROMPT
    assert page.locator("#queue .row").count() == 1
    frame = page.locator("#frames img").first
    frame.wait_for()
    page.wait_for_function("() => document.querySelector('#frames img').naturalWidth > 0")
    # Wellness defaults: blurred and greyscale until the reviewer reveals.
    assert "blurred" in frame.get_attribute("class")
    assert "blur" in page.evaluate("() => getComputedStyle(document.querySelector('#frames img')).filter")
    page.keyboard.press("v")
    assert "blurred" not in frame.get_attribute("class")
    page.wait_for_function("() => getComputedStyle(document.querySelector('#frames img')).filter === 'none'")
    page.keyboard.press("r")
    page.wait_for_selector("#toast:has-text('blocked')")
    with server.client(key) as c:
        wait_until(lambda: c.get(f"/v1/generations/{gid}").json()["status"] == "blocked", what="the rejection")
    page.wait_for_selector("text=Nothing to review")


def test_console_rejects_a_bad_key(server: Server, page: Any) -> None:
    page.goto(f"{server.url}/console")
    page.fill("#key", "pgk_wrong")
    page.click("#signin-button")
    page.wait_for_selector("#signin-error:has-text('unknown or revoked')")


def test_verify_page_shows_content_credentials(server: Server, client: httpx.Client, page: Any, tmp_path: Path) -> None:
    gid = client.post("/v1/generations", json=gen_body("a paper lantern rising", duration_s=3)).json()["id"]
    assert wait_for(client, gid)["status"] == "succeeded"
    out = tmp_path / "clip.mp4"
    out.write_bytes(client.get(f"/v1/generations/{gid}/content").content)

    page.goto(f"{server.url}/verify")  # public: no key
    page.set_input_files("#file", str(out))
    page.click("#check")
    page.wait_for_selector("#c2pa-state")
    assert page.inner_text("#c2pa-state") == "Trusted"
    assert "provgate dev signer" in page.inner_text("#signer")
    actions = page.inner_text("#actions")
    assert "c2pa.created (trainedAlgorithmicMedia)" in actions and "c2pa.watermarked" in actions
    assert page.inner_text("#watermark") == "found"
    assert page.inner_text("#consistent") == "yes"
    assert page.inner_text("#taken-down").startswith("no")

    client.post(f"/v1/generations/{gid}/takedown", json={"reason": "test"})
    page.click("#check")
    page.wait_for_selector("#taken-down:has-text('yes')")
    assert "taken down" in page.inner_text("#notes")
