"""The real packaged MiniLM (slow: run with `make test-all` or `pytest -m slow`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evokd_agent.student.config import TrainConfig
from evokd_agent.student.data import NerSample, TextSample
from evokd_agent.student.student import NerStudent, TextStudent, load_student

pytestmark = pytest.mark.slow


def test_minilm_learns_one_shot_sentiment(tmp_path: Path) -> None:
    student = TextStudent.create(["negative", "positive"])  # default model: packaged MiniLM
    seeds = [
        TextSample("a wonderful, moving film", "positive"),
        TextSample("a dull, boring mess", "negative"),
    ]
    result = student.train(seeds, config=TrainConfig(progress=False))
    assert result.steps >= 50
    assert student.predict(["a wonderful film", "a boring mess"]) == ["positive", "negative"]
    loaded = load_student(student.save(tmp_path / "minilm"))
    assert loaded.predict(["a wonderful film"]) == ["positive"]


def test_minilm_ner_learns_few_shot() -> None:
    train = [
        NerSample(("Barack", "Obama", "visited", "Paris"), ("B-per", "I-per", "O", "B-loc")),
        NerSample(
            ("Angela", "Merkel", "lives", "in", "Berlin"), ("B-per", "I-per", "O", "O", "B-loc")
        ),
    ]
    student = NerStudent.create(["per", "loc"])
    student.train(train, config=TrainConfig(progress=False, learning_rate=1e-4))
    assert student.evaluate(train).f1 == pytest.approx(1.0)
