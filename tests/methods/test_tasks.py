"""The task strategy: what classification and NER steps do differently, asked in one place."""

from __future__ import annotations

import json

from evokd_agent.distill.context import TaskSpec
from evokd_agent.distill.hygiene import Hygiene
from evokd_agent.distill.tasks import CLASSIFICATION, NER, describe, strategy_for, task_of
from evokd_agent.student.data import NerSample, TextSample

TEXT = TextSample("a fine film", "positive")
SENTENCE = NerSample(
    ("Ann", "Lee", "sings", "in", "Oslo"), ("B-person", "I-person", "O", "O", "B-location")
)


def test_the_run_task_and_the_sample_pick_the_same_strategy() -> None:
    assert task_of(TaskSpec("classification", "d", ("a", "b"))) is CLASSIFICATION
    assert task_of(TaskSpec("ner", "d", ("person",))) is NER
    assert strategy_for(TEXT) is CLASSIFICATION and strategy_for(SENTENCE) is NER


def test_how_the_teacher_and_the_log_see_a_sample() -> None:
    assert describe(TEXT) == '"a fine film" -> positive'
    assert describe(SENTENCE) == '"Ann Lee sings in Oslo" -> Ann Lee (person), Oslo (location)'
    assert describe(NerSample(("hi",), ("O",))) == '"hi" -> no entities'
    assert NER.hint(SENTENCE) == "Ann Lee, Oslo" and NER.hint(NerSample(("hi",), ("O",))) == "none"
    assert CLASSIFICATION.log_fields(TEXT) == {"label": "positive"}
    assert NER.log_fields(SENTENCE) == {
        "tokens": list(SENTENCE.tokens),
        "tags": list(SENTENCE.tags),
    }
    assert NER.pseudo_label(SENTENCE) == "B-person I-person O O B-location"


def test_answers_are_read_and_checked_per_task() -> None:
    labels = ("negative", "positive")
    hygiene = Hygiene(labels)
    read = CLASSIFICATION.read_answer
    assert read(hygiene, labels, "t", '{"label": "positive"}') == (TextSample("t", "positive"), "")
    assert read(hygiene, labels, "t", "no json") == (None, "reply_not_json")
    assert read(hygiene, labels, "t", '{"label": "neutral"}')[1] == "label_not_in_set"
    types = ("person", "location")
    reply = json.dumps({"entities": [{"text": "Oslo", "type": "location"}]})
    sample, reason = NER.read_answer(Hygiene(types), types, "Ann sings in Oslo", reply)
    assert reason == "" and isinstance(sample, NerSample)
    assert sample.tags == ("O", "O", "O", "B-location")
    ghost = json.dumps({"entities": [{"text": "Bob", "type": "person"}]})
    assert NER.read_answer(Hygiene(types), types, "Ann sings", ghost)[1] == "entity_not_in_sentence"
    assert CLASSIFICATION.answer_schema(labels) == {
        "label": {"type": "string", "enum": list(labels)}
    }
    assert NER.answer_schema(types)["entities"]["items"]["properties"]["type"] == {
        "enum": list(types)
    }
