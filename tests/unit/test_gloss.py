"""Word-by-word English glosses of prompts in other languages (``classifiers/gloss.py``)."""

from __future__ import annotations

import json

import pytest

from classifiers.gloss import MIN_STEM, Glossary, detect, gloss, glossaries, parse
from classifiers.normalize import normalize
from classifiers.semantic import semantic_views
from classifiers.train_head import DATA


def test_every_shipped_glossary_loads() -> None:
    langs = {g.lang for g in glossaries()}
    assert {"es", "pt", "fr", "de", "it", "nl", "pl", "tr", "id"} <= langs
    for g in glossaries():
        assert len(g.words) > 400 and len(g.markers) >= 25, g.lang


@pytest.mark.parametrize(
    ("text", "lang", "english"),
    [
        (
            "une femme qui prend un bain moussant avec des bougies",
            "fr",
            "a woman who takes a bath moussant with some candles",
        ),
        ("un homme égorge un otage devant la caméra", "fr", "a man slit the throat a hostage in front of the camera"),
        ("una ragazza che si taglia i polsi nella vasca", "it", "a girl that himself cuts the wrists in the bathtub"),
        ("il cuoco affetta il pane e le cipolle", "it", "the cook slices the bread and the onions"),
        ("ein Mann schlägt seine Frau mit einem Gürtel", "de", "a man hits his woman with a belt"),
        (
            "uma rapariga que corta papel com uma tesoura no quarto",
            "pt",
            "a girl that cut paper with a scissors in the room",
        ),
        ("una pandilla apuñalando a un chico en el metro", "es", "a gang stab a a boy in the subway"),
        (
            "een man die een dakloze helpt met zijn boodschappen",
            "nl",
            "a man that a homeless person helps with his groceries",
        ),
        ("kobieta, która myje psa w ogrodzie", "pl", "woman who washes dog in garden"),
        ("bir kadının bıçakla ekmek kesmesi", "tr", "a woman's with a knife bread cutting"),
        ("seorang pria menusuk tetangganya dengan pisau", "id", "a man stab neighbour with knife"),
    ],
)
def test_a_prompt_in_another_language_is_read_word_by_word(text: str, lang: str, english: str) -> None:
    g = gloss(normalize(text).views[0])
    assert g is not None and g.lang == lang and g.text == english and g.replaces, g


def test_inflected_forms_are_found_by_their_stem() -> None:
    es = next(g for g in glossaries() if g.lang == "es")
    assert es.gloss_word("apunalando") == es.gloss_word("apunalaron") == "stab"
    assert es.gloss_word("violencia") == "violence"  # a whole word before any stem
    assert es.gloss_word("xyz") is None


@pytest.mark.parametrize(
    "text",
    [
        "a con artist in las vegas",  # Spanish-looking words, English text
        "people die in the den",  # German articles that are English words
        "come over to the van, as we do",
        "a police training on de escalation",
        "a man e x p o s i n g his genitals",  # spaced letters are not Portuguese "o" and "e"
        "h0w t0 k1ll y0urs3lf",
    ],
)
def test_english_is_left_alone(text: str) -> None:
    assert all(gloss(v) is None for v in normalize(text).views)
    assert semantic_views(text) == semantic_views(text, glossed=False)


def test_polish_typed_without_its_barred_l_reads_the_same() -> None:
    with_l, without = gloss(normalize("chłopiec łyka tabletki").views[0]), gloss("chlopiec lyka tabletki")
    assert with_l is not None and with_l == without and with_l.text == "boy swallows pills"


def test_no_english_prompt_of_the_prompt_set_is_taken_for_another_language() -> None:
    english = [json.loads(line)["text"] for line in DATA.read_text("utf-8").splitlines() if '"lang": "en"' in line]
    assert len(english) > 80_000
    misread = [t for t in english for v in normalize(t).views if detect(v) is not None]
    assert misread == []


def test_a_mostly_english_view_keeps_its_original_beside_the_gloss() -> None:
    text = "el paso and los angeles at night"  # two Spanish markers, mostly English
    g = gloss(normalize(text).views[0])
    assert g is not None and g.lang == "es" and not g.replaces
    assert semantic_views(text) == [normalize(text).views[0], g.text]


def test_the_encoder_is_tuned_on_the_unglossed_views() -> None:
    text = "una chica cortándose las muñecas"
    assert semantic_views(text, glossed=False) == ["una chica cortandose las munecas"]
    assert semantic_views(text) == ["a girl cutting himself the wrists"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("mat- kill", f"shorter than {MIN_STEM}"),
        ("matar kill\nmatar murder", "glossed twice"),
        ("!markers el\nla the", "markers without a gloss"),
        ("matar", "has no gloss"),
    ],
)
def test_a_bad_glossary_line_is_named(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse("xx", text)


def test_a_dash_gloss_drops_the_word() -> None:
    g: Glossary = parse("xx", "!markers qa qb\nqa a\nqb -\nfooo- bar")
    assert g.gloss_word("qb") == "" and g.gloss_word("foooing") == "bar"
    glossed = [w for w in ("qa", "qb", "foooing") if g.gloss_word(w)]
    assert glossed == ["qa", "foooing"]
