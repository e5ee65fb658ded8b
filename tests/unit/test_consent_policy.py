"""Who may use a cameo: every rule of consent.policy, and the owners' restrictions."""

from __future__ import annotations

import pytest

from consent.policy import CameoPolicy, Guardian, Requester, grants, validate_audience
from consent.restrictions import violated

ADULT = Requester("bob", "adult")
TEEN = Requester("tia", "teen")


def cameo(**kw) -> CameoPolicy:  # type: ignore[no-untyped-def]
    base = {"cameo_id": "c1", "owner_id": "alice", "owner_age_band": "adult"}
    base.update(kw)
    return CameoPolicy(**base)


def test_owner_always_and_only_me_nobody_else() -> None:
    assert grants(cameo(), Requester("alice", "adult")).granted
    assert not grants(cameo(), ADULT).granted


@pytest.mark.parametrize(
    ("policy", "granted"),
    [
        ({"audience": "approved", "approved": frozenset({"bob"})}, True),
        ({"audience": "approved", "approved": frozenset({"carol"})}, False),
        ({"audience": "mutuals", "owner_connections": frozenset({"bob"})}, True),
        ({"audience": "mutuals", "owner_connections": frozenset({"carol"})}, False),
        ({"audience": "mutuals", "approved": frozenset({"bob"})}, True),
        ({"audience": "everyone"}, True),
        ({"audience": "everyone", "revoked": frozenset({"bob"})}, False),
        ({"audience": "everyone", "status": "deleted"}, False),
        ({"audience": "only_me", "approved": frozenset({"bob"})}, False),
    ],
)
def test_audiences(policy: dict, granted: bool) -> None:
    assert grants(cameo(**policy), ADULT).granted is granted


def test_teen_cameo_rules() -> None:
    teen = {"owner_id": "tom", "owner_age_band": "teen"}
    assert validate_audience("teen", "everyone") is not None
    assert validate_audience("adult", "everyone") is None
    # An adult needs the teen's approval AND the guardian's yes.
    approved = {**teen, "audience": "approved", "approved": frozenset({"bob"})}
    assert not grants(cameo(**approved), ADULT).granted
    assert not grants(cameo(**approved, guardian=Guardian(cameos_allowed=False)), ADULT).granted
    assert grants(cameo(**approved, guardian=Guardian(cameos_allowed=True)), ADULT).granted
    # Mutuals are not enough for an adult, even with the guardian's yes.
    mutual = {**teen, "audience": "mutuals", "owner_connections": frozenset({"bob", "tia"})}
    assert not grants(cameo(**mutual, guardian=Guardian(cameos_allowed=True)), ADULT).granted
    # A teen peer follows the audience, unless the guardian says no.
    assert grants(cameo(**mutual), TEEN).granted
    assert not grants(cameo(**mutual, guardian=Guardian(cameos_allowed=False)), TEEN).granted
    # A stored "everyone" on a teen's cameo is never honoured as everyone.
    assert not grants(cameo(**teen, audience="everyone"), TEEN).granted


def test_guardian_can_forbid_a_teen_using_other_cameos() -> None:
    c = cameo(audience="everyone")
    assert grants(c, TEEN).granted
    assert not grants(c, Requester("tia", "teen", Guardian(cameos_allowed=False))).granted


def test_protected_person_needs_a_grant() -> None:
    p = cameo(protected=True, display_name="A. Senator")
    r = grants(p, ADULT)
    assert not r.granted and "protected person A. Senator" in r.reason
    assert grants(cameo(protected=True, audience="approved", approved=frozenset({"bob"})), ADULT).granted


@pytest.mark.parametrize(
    ("prompt", "broken"),
    [
        ("my friend gives a speech at an election rally", ["no political content"]),
        ("my friend votes for the new president", ["no political content"]),
        ("a p0litical debate on stage", ["no political content"]),
        ("my friend drinks beer at a bar", ["no alcohol"]),
        ("my friend plays with a puppy in the park", []),
        ("my friend cooks pasta", []),
    ],
)
def test_restrictions(prompt: str, broken: list[str]) -> None:
    assert violated(prompt, ["no political content", "no alcohol"]) == broken


@pytest.mark.parametrize(
    ("prompt", "broken"),
    [
        ("my friend campaigns for the senate", ["no political content"]),
        ("my friend kisses his date under the stars", ["nothing romantic"]),
        ("my friend punches a man in a bar fight", ["no violence"]),
        ("my friend plays with a puppy", []),
        ("my friend cooks pasta", []),
        ("my friend walks in a park", []),
    ],
)
def test_restrictions_semantic(prompt: str, broken: list[str]) -> None:
    from classifiers.minilm_onnx import MiniLMOnnx

    enc = MiniLMOnnx()
    got = violated(prompt, ["no political content", "nothing romantic", "no violence"], enc.encode)
    assert got == broken


def test_a_prompt_with_no_words_breaks_no_restriction() -> None:
    def embed(texts: list[str]) -> None:
        raise AssertionError(f"nothing to embed, got {texts}")

    assert violated("🐱 !!!", ["no political content", "nothing romantic"], embed) == []
