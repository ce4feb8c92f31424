"""Training: weights, determinism, early stopping, predictions, uncertainty, error split."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from evokd_agent.errors import EvokdError
from evokd_agent.student.config import TrainConfig
from evokd_agent.student.data import NerSample, TextSample
from evokd_agent.student.student import NerStudent, Student, TextStudent
from tests.student.helpers import FAST, NER_TOY, TOY


def fresh(tiny: Path, labels: list[str] | None = None) -> TextStudent:
    return TextStudent.create(labels or ["a", "b"], tiny, seed=0)


def test_learns_toy_task_and_weight_zero_hides_a_sample(tiny_model_dir: Path) -> None:
    both = fresh(tiny_model_dir)
    result = both.train(TOY, config=FAST)
    assert both.predict(["alpha", "beta"]) == ["a", "b"]
    assert result.steps >= FAST.min_steps and result.epochs == result.steps  # 1 step per epoch
    assert result.train_loss[-1] < result.train_loss[0]

    hidden = fresh(tiny_model_dir)
    hidden_result = hidden.train(TOY, weights=[1.0, 0.0], config=FAST)
    # Nothing ever pushed towards "b": both inputs come out "a".
    assert hidden.predict(["alpha", "beta"]) == ["a", "a"]
    assert hidden_result.train_loss != result.train_loss


def test_same_seed_same_model_other_seed_other_model(tiny_model_dir: Path) -> None:
    runs = []
    for seed in (0, 0, 1):
        student = TextStudent.create(["a", "b"], tiny_model_dir, seed=seed)
        student.train(TOY * 3, config=replace(FAST, seed=seed, batch_size=2))
        runs.append(student.predict_proba(["alpha", "beta", "gamma"]))
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_early_stopping_restores_best_dev_weights(tiny_model_dir: Path) -> None:
    student = fresh(tiny_model_dir)
    # The dev set contradicts the training set: the better the student learns, the worse dev gets.
    dev = [TextSample("alpha", "b"), TextSample("beta", "a")]
    config = replace(FAST, patience=1, max_evals=20)
    result = student.train(TOY, dev=dev, config=config)
    planned = config.plan(len(TOY))[2]
    assert result.stopped_early and result.epochs < planned
    assert result.best_dev_score == max(result.dev_scores)
    assert student.evaluate(dev).main_score == pytest.approx(result.best_dev_score)


def test_split_errors_entropy_and_proba(tiny_model_dir: Path) -> None:
    student = fresh(tiny_model_dir)
    before = student.entropy(["alpha", "beta"])
    student.train(TOY, config=FAST)
    wrong, right = student.split_errors([TextSample("alpha", "a"), TextSample("alpha", "b")])
    assert [p.sample.label for p in right] == ["a"] and right[0].correct
    assert [(p.sample.label, p.predicted) for p in wrong] == [("b", "a")] and not wrong[0].correct
    assert wrong[0].confidence == pytest.approx(right[0].confidence)
    assert 0.5 < right[0].confidence <= 1.0

    probs = student.predict_proba(["alpha", "beta"])
    assert probs.shape == (2, 2)
    assert np.allclose(probs.sum(axis=1), 1.0)
    after = student.entropy(["alpha", "beta"])
    expected = [-(row * np.log(row)).sum() for row in probs.astype(np.float64)]
    assert after == pytest.approx(expected, rel=1e-5)
    assert all(a < b <= math.log(2) + 1e-6 for a, b in zip(after, before, strict=True))


def test_training_input_errors(tiny_model_dir: Path) -> None:
    student = fresh(tiny_model_dir)
    with pytest.raises(EvokdError, match="'c' is not one of the student's labels"):
        student.train([TextSample("x", "c")], config=FAST)
    with pytest.raises(EvokdError, match="one weight per sample"):
        student.train(TOY, weights=[1.0], config=FAST)
    with pytest.raises(EvokdError, match="finite and >= 0"):
        student.train(TOY, weights=[1.0, -1.0], config=FAST)
    with pytest.raises(EvokdError, match="pass a list of texts"):
        student.predict("alpha")
    with pytest.raises(EvokdError, match="learning_rate"):
        TrainConfig(learning_rate=0)
    with pytest.raises(EvokdError, match="no task given"):
        Student.create(["a", "b"], tiny_model_dir)


def test_plan_gives_tiny_data_enough_steps() -> None:
    assert TrainConfig().plan(2) == (2, 1, 50)
    assert TrainConfig().plan(1000) == (16, 63, 5)
    assert TrainConfig().plan(6920) == (16, 433, 3)
    assert TrainConfig(epochs=1, min_steps=0).plan(1000) == (16, 63, 1)


def test_ner_trains_and_maps_back_to_words(tiny_model_dir: Path) -> None:
    student = NerStudent.create(["per", "loc"], tiny_model_dir, seed=0)
    assert student.labels == ["O", "B-loc", "I-loc", "B-per", "I-per"]
    result = student.train(NER_TOY, weights=[1.0, 2.0, 1.0], config=replace(FAST, min_steps=60))
    assert result.train_loss[-1] < result.train_loss[0]
    assert student.evaluate(NER_TOY).f1 == pytest.approx(1.0)
    assert student.predict([s.tokens for s in NER_TOY]) == [s.tags for s in NER_TOY]

    # Words past max_length are predicted "O" with a uniform, maximally uncertain distribution.
    student.max_length = 4  # [CLS] john lives [SEP]
    (tags,) = student.predict([("john", "lives", "in", "paris")])
    assert tags == ("B-per", "O", "O", "O")
    (probs,) = student.predict_proba([("john", "lives", "in", "paris")])
    assert probs.shape == (4, 5) and np.allclose(probs[2:], 0.2)
    wrong, right = student.split_errors(NER_TOY[:1])
    assert not right and wrong[0].predicted == tags and wrong[0].confidence == pytest.approx(0.2)
    cut, whole = student.entropy([("john", "lives", "in", "paris"), ("john", "lives")])
    assert cut > whole


def test_ner_rejects_bad_samples(tiny_model_dir: Path) -> None:
    student = NerStudent.create(["per"], tiny_model_dir)
    with pytest.raises(EvokdError, match="invalid BIO"):
        student.train([NerSample(("a",), ("I-per",))], config=FAST)
    with pytest.raises(EvokdError, match="'B-loc' is not one of the student's labels"):
        student.train([NerSample(("a",), ("B-loc",))], config=FAST)
    with pytest.raises(EvokdError, match="2 tokens but 1 tags"):
        student.train([NerSample(("a", "b"), ("O",))], config=FAST)
