"""Prompt classifier layers inside the running service: a remote backend selected by config,
the semantic layer, and fail-closed admission when a classifier is down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Server, Stack, gen_body, start_server
from tests.fake_moderation import FakeModeration


@pytest.fixture(scope="module")
def remote_server(stack: Stack) -> Iterator[tuple[Server, FakeModeration]]:
    fake = FakeModeration()
    srv = start_server(
        stack,
        run_worker=False,
        PROVGATE_PROMPT_CLASSIFIERS="lexicon,semantic,openai",
        PROVGATE_OPENAI_MODERATION_URL=f"{fake.url}/v1/moderations",
        PROVGATE_REMOTE_CLASSIFIER_TIMEOUT_S="2",
    )
    yield srv, fake
    srv.thread.stop()
    fake.close()


def test_remote_moderation_blocks_and_explains(remote_server: tuple[Server, FakeModeration]) -> None:
    srv, fake = remote_server
    with srv.client() as c:
        # The fake scores violence 0.97 for any text with "attack"; the local layers score this
        # text lower, so the decision shows the remote layer's score (the max of the layers').
        text = "an attack on the city skyline, cartoon"
        r = c.post("/v1/generations", json=gen_body(text))
        assert r.status_code == 403, r.text
        err = r.json()["error"]
        assert err["code"] == "prompt_blocked" and err["details"]["categories"]["violence"] == 0.97
        assert any("openai" in x for x in err["details"]["reasons"])
        m = c.post("/v1/moderations", json={"input": text}).json()
        assert m["flagged"] and m["categories"]["violence"] and m["category_scores"]["violence"] == 0.97
        assert c.post("/v1/generations", json=gen_body("a paper boat on a pond")).status_code == 202


def test_a_failing_classifier_refuses_with_503(remote_server: tuple[Server, FakeModeration]) -> None:
    srv, _ = remote_server
    with srv.client() as c:
        r = c.post("/v1/generations", json=gen_body("a quiet garden, explode-server"))
        assert r.status_code == 503 and r.json()["error"]["code"] == "classifier_unavailable"
        r = c.post("/v1/moderations", json={"input": "garbage"})
        assert r.status_code == 503
    rows = srv.sql("SELECT count(*) AS n FROM generations WHERE prompt LIKE '%explode-server%'")
    assert rows[0]["n"] == 0  # nothing admitted unchecked
