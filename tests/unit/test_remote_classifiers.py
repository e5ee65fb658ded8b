"""Remote prompt classifiers against a local server answering in the documented formats."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from classifiers.base import ClassifierError
from classifiers.registry import prompt_classifier
from classifiers.remote import LlamaGuardClassifier, OpenAIModerationClassifier
from tests.fake_moderation import FakeModeration


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeModeration]:
    f = FakeModeration()
    yield f
    f.close()


def test_openai_moderation(fake: FakeModeration) -> None:
    clf = prompt_classifier(
        "openai", {"PROVGATE_OPENAI_MODERATION_URL": f"{fake.url}/v1/moderations", "PROVGATE_OPENAI_API_KEY": "sk-x"}
    )
    assert isinstance(clf, OpenAIModerationClassifier)
    s = clf.score("a street attack")
    assert s.categories["violence"] == 0.97 and "openai: flagged violence" in s.reasons
    assert max(clf.score("a paper boat").categories.values()) < 0.01
    req = fake.requests[-1]
    assert req["auth"] == "Bearer sk-x" and req["body"]["model"] == "omni-moderation-latest"
    clf.close()  # type: ignore[attr-defined]


def test_llamaguard(fake: FakeModeration) -> None:
    clf = prompt_classifier("llamaguard", {"PROVGATE_LLAMAGUARD_URL": f"{fake.url}/v1/chat/completions"})
    assert isinstance(clf, LlamaGuardClassifier)
    assert clf.score("a paper boat").categories == {}
    s = clf.score("a street attack")
    assert s.categories["violence"] == 1.0 and s.reasons == ["llamaguard: unsafe (S1)"]
    assert clf.score("a weapon of mass destruction").categories["illicit/violent"] == 1.0
    assert fake.requests[-1]["body"]["messages"][-1]["content"] == "a weapon of mass destruction"
    clf.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["openai", "llamaguard"])
def test_errors_fail_closed(fake: FakeModeration, name: str) -> None:
    env = {
        "PROVGATE_OPENAI_MODERATION_URL": f"{fake.url}/v1/moderations",
        "PROVGATE_LLAMAGUARD_URL": f"{fake.url}/v1/chat/completions",
        "PROVGATE_REMOTE_CLASSIFIER_TIMEOUT_S": "2",
    }
    clf = prompt_classifier(name, env)
    for text in ("explode-server", "garbage"):
        with pytest.raises(ClassifierError):
            clf.score(text)
    down = prompt_classifier(
        name,
        {**env, f"PROVGATE_{'OPENAI_MODERATION' if name == 'openai' else 'LLAMAGUARD'}_URL": "http://127.0.0.1:9/x"},
    )
    with pytest.raises(ClassifierError):
        down.score("anything")
    clf.close()  # type: ignore[attr-defined]
    down.close()  # type: ignore[attr-defined]


def test_llamaguard_needs_a_url() -> None:
    with pytest.raises(ValueError, match="PROVGATE_LLAMAGUARD_URL"):
        prompt_classifier("llamaguard", {})
