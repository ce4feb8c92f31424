"""Teacher replies are read leniently: JSON inside prose, bare lists, label words."""

from __future__ import annotations

from evokd_agent.distill.parsing import extract_json, parse_entities, parse_label, parse_texts
from evokd_agent.distill.tasks import entities_of, split_words
from evokd_agent.student.data import NerSample


def test_extract_json_skips_prose_and_broken_prefixes() -> None:
    assert extract_json('Sure! {"a": [1, 2]} hope it helps') == {"a": [1, 2]}
    assert extract_json('{"broken": [ then ["x", "y"]') == ["x", "y"]
    assert extract_json("no json here") is None
    assert extract_json(None) is None


def test_parse_texts_keys_bare_list_and_objects() -> None:
    reply = '```json\n{"hard": [" a ", "", {"text": "b"}], "easy": ["c"]}\n```'
    assert parse_texts(reply, ("hard", "easy")) == {"hard": ["a", "b"], "easy": ["c"]}
    assert parse_texts('["x", "y"]', ("texts",)) == {"texts": ["x", "y"]}
    assert parse_texts("nothing", ("texts",)) == {}


def test_parse_label_json_word_and_unknown() -> None:
    labels = ("negative", "positive")
    assert parse_label('{"label": "Positive"}', labels) == "positive"
    assert parse_label('{"label": "neutral"}', labels) == "neutral"  # caller rejects it
    assert parse_label("I think it is negative.", labels) == "negative"
    assert parse_label("positive or negative", labels) is None  # ambiguous
    assert parse_label("", labels) is None


def test_parse_entities() -> None:
    reply = '{"entities": [{"text": "Paris", "type": "location"}, {"text": "", "type": "x"}, 3]}'
    assert parse_entities(reply) == [("Paris", "location")]
    assert parse_entities('[{"text": "Bob", "type": "person"}]') == [("Bob", "person")]
    assert parse_entities("none") is None
    assert parse_entities('{"entities": [{"text": "&#34;Ann&#34;", "type": "person"}]}') == [
        ('"Ann"', "person")
    ]


def test_split_words_and_entities_of() -> None:
    assert split_words("I'm in New York, at 5.30!") == (
        "I'm",
        "in",
        "New",
        "York",
        ",",
        "at",
        "5.30",
        "!",
    )
    sample = NerSample(
        ("Bob", "met", "Ann", "Lee", "in", "Paris"),
        ("B-person", "O", "B-person", "I-person", "O", "B-location"),
    )
    assert entities_of(sample) == [("Bob", "person"), ("Ann Lee", "person"), ("Paris", "location")]
