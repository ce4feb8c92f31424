"""Save/load round trips, in plain transformers too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from evokd_agent.errors import EvokdError
from evokd_agent.student.checkpoint import META_FILE, read_meta
from evokd_agent.student.student import NerStudent, Student, TextStudent, load_student
from tests.student.helpers import FAST, NER_TOY, TOY


def test_text_round_trip_with_plain_transformers(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    student = TextStudent.create(["a", "b"], tiny_model_dir, seed=0, max_length=32)
    student.train(TOY, config=FAST)
    out = student.save(tmp_path / "ckpt")

    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.id2label == {0: "a", 1: "b"}
    with torch.inference_mode():
        logits = model(**tokenizer(["alpha", "beta"], return_tensors="pt", padding=True)).logits
    assert np.allclose(
        logits.softmax(-1).numpy(), student.predict_proba(["alpha", "beta"]), atol=1e-5
    )

    loaded: Student[Any, Any, Any] = Student.load(out)  # the base class picks the subclass
    assert isinstance(loaded, TextStudent)
    assert loaded.labels == ["a", "b"] and loaded.max_length == 32
    assert np.allclose(
        loaded.predict_proba(["alpha", "beta"]), student.predict_proba(["alpha", "beta"])
    )
    assert json.loads((out / META_FILE).read_text())["task"] == "classification"


def test_ner_round_trip_and_meta_from_config(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForTokenClassification

    student = NerStudent.create(["per", "loc"], tiny_model_dir, seed=0)
    student.train(NER_TOY, config=FAST)
    out = student.save(tmp_path / "ner")
    model = AutoModelForTokenClassification.from_pretrained(out)
    assert model.config.id2label[1] == "B-loc"

    (out / META_FILE).unlink()  # a directory written by another tool: read config.json instead
    meta = read_meta(out)
    assert (meta.task, meta.labels) == ("ner", student.labels)
    loaded = load_student(out)
    assert isinstance(loaded, NerStudent)
    assert loaded.predict([s.tokens for s in NER_TOY]) == student.predict(
        [s.tokens for s in NER_TOY]
    )
    with pytest.raises(EvokdError, match="use NerStudent"):
        TextStudent.load(out)


def test_bad_checkpoints(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(EvokdError, match=r"no config\.json"):
        Student.load(tmp_path)
    with pytest.raises(EvokdError, match="not a trained classifier"):
        read_meta(tiny_model_dir)  # a bare encoder
    with pytest.raises(EvokdError, match="could not load student model"):
        TextStudent.create(["a", "b"], "no-such-org/no-such-model-xyz")
