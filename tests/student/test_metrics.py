"""Metrics against hand-computed values."""

from __future__ import annotations

import pytest

from evokd_agent.errors import EvokdError
from evokd_agent.student.metrics import classification_metrics, ner_metrics


def test_classification_metrics_hand_computed() -> None:
    gold = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "b", "b", "c", "c"]
    m = classification_metrics(gold, pred, ["a", "b", "c"])
    assert m.accuracy == pytest.approx(4 / 6)
    # a: tp 2, gold 3, pred 2 -> 0.8; b: tp 1, gold 2, pred 2 -> 0.5; c: tp 1, gold 1, pred 2 -> 2/3
    assert m.per_class_f1 == pytest.approx({"a": 0.8, "b": 0.5, "c": 2 / 3})
    assert m.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m.confusion == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m.support == {"a": 3, "b": 2, "c": 1}
    assert "accuracy  0.6667" in m.format()
    assert m.to_dict()["task"] == "classification"


def test_macro_f1_skips_labels_absent_from_gold_and_predictions() -> None:
    m = classification_metrics(["a", "b"], ["a", "a"], ["a", "b", "unused"])
    assert m.per_class_f1["unused"] == 0.0
    assert m.macro_f1 == pytest.approx((2 / 3 + 0.0) / 2)


def test_classification_unknown_label_is_an_error() -> None:
    with pytest.raises(EvokdError, match="'z' is not in the label set"):
        classification_metrics(["a"], ["z"], ["a", "b"])
    with pytest.raises(EvokdError, match="1 gold labels but 2 predictions"):
        classification_metrics(["a"], ["a", "a"], ["a"])


def test_ner_metrics_entity_level() -> None:
    gold = [["B-per", "I-per", "O", "B-loc"], ["B-loc", "O"]]
    # per entity "Ann Lee" predicted only partly -> wrong; loc correct once, one spurious per.
    pred = [["B-per", "O", "O", "B-loc"], ["B-loc", "B-per"]]
    m = ner_metrics(gold, pred)
    # gold entities: per(0-1), loc(3), loc(0) = 3; predicted: per(0), loc(3), loc(0), per(1) = 4
    assert m.precision == pytest.approx(2 / 4)
    assert m.recall == pytest.approx(2 / 3)
    assert m.f1 == pytest.approx(2 * (0.5 * 2 / 3) / (0.5 + 2 / 3))
    assert m.per_type["loc"].f1 == pytest.approx(1.0)
    assert m.per_type["loc"].support == 2
    assert m.per_type["per"].precision == 0.0 and m.per_type["per"].support == 1
    assert m.to_dict()["per_type"]["loc"]["support"] == 2


def test_ner_metrics_edge_cases() -> None:
    assert ner_metrics([["O"]], [["O"]]).f1 == 0.0
    with pytest.raises(EvokdError, match="2 gold tags but 1 predicted"):
        ner_metrics([["O", "O"]], [["O"]])
