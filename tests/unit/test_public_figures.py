from __future__ import annotations

from classifiers.public_figures import CATEGORY, PublicFigureClassifier


def test_names_are_found_through_evasion_and_exempted_when_granted() -> None:
    clf = PublicFigureClassifier()
    assert clf.named("Barack Obama dancing at a party") == ["barack obama"]
    assert clf.named("b a r a c k   o b a m a on stage") == ["barack obama"]
    assert clf.named("0bama and T4ylor Sw1ft") == ["barack obama", "taylor swift"]
    assert clf.named("a swift boat passes a trump card game") == []
    s = clf.score("elon musk announces a giveaway")
    assert s.categories == {CATEGORY: 0.9} and s.reasons == ["public_figures: names elon musk"]
    assert clf.score("elon musk waves", frozenset({"elon musk"})).categories == {}
    assert clf.score("a paper boat on a pond").categories == {}


def test_a_name_with_no_words_has_an_empty_key() -> None:
    from classifiers.public_figures import name_key

    assert name_key("!!!") == name_key("🐱") == ""
    assert name_key("Barack  OBAMA") == "barack obama"
