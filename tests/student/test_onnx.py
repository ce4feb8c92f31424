"""ONNX export of the student: onnxruntime predicts what torch predicts (to 1e-4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from evokd_agent.student.data import NerSample, TextSample
from evokd_agent.student.onnx import (
    agreement,
    export_onnx,
    load_onnx_student,
    quantization_of,
)
from evokd_agent.student.student import NerStudent, TextStudent
from tests.tiny_models import build_tiny_bert

WORDS = ["the", "a", "film", "movie", "plot", "cast", "great", "dull", "fine", "bad"]
WORDS += ["good", "story", "acting", "long", "short"]


def _sentences(n: int, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [list(rng.choice(WORDS, size=int(rng.integers(2, 30)))) for _ in range(n)]


def test_classifier_predictions_match_torch(tmp_path: Path, tiny_model_dir: Path) -> None:
    student = TextStudent.create(["negative", "positive"], tiny_model_dir, seed=3, device="cpu")
    texts = [" ".join(s) for s in _sentences(100)]
    student.train([TextSample(t, "positive" if "good" in t else "negative") for t in texts[:20]])
    student.save(tmp_path / "final")
    export_onnx(tmp_path / "final", tmp_path / "onnx")
    portable = load_onnx_student(tmp_path / "onnx")
    assert isinstance(portable, TextStudent)
    torch_probs = student.predict_proba(texts)
    onnx_probs = portable.predict_proba(texts)
    assert onnx_probs.shape == (100, 2)
    assert np.abs(onnx_probs - torch_probs).max() <= 1e-4
    assert portable.predict(texts) == student.predict(texts)


def test_tagger_predictions_match_torch(tmp_path: Path, tiny_model_dir: Path) -> None:
    tags = ["O", "B-person", "I-person"]
    student = NerStudent.create(tags, tiny_model_dir, seed=3, device="cpu")
    sentences = _sentences(100, seed=1)
    student.train(
        [
            NerSample(tuple(s), tuple("B-person" if w == "cast" else "O" for w in s))
            for s in sentences[:20]
        ]
    )
    student.save(tmp_path / "final")
    export_onnx(tmp_path / "final", tmp_path / "onnx")
    portable = load_onnx_student(tmp_path / "onnx")
    assert isinstance(portable, NerStudent)
    for mine, theirs in zip(
        portable.predict_proba(sentences), student.predict_proba(sentences), strict=True
    ):
        assert np.abs(mine - theirs).max() <= 1e-4
    assert portable.predict(sentences) == student.predict(sentences)


def test_a_quantized_export_is_marked_smaller_and_close(tmp_path: Path) -> None:
    torch.manual_seed(0)  # int8 suits most random tiny networks, not all: use one that it suits
    model_dir = build_tiny_bert(tmp_path / "bert")
    student = TextStudent.create(["negative", "positive"], model_dir, seed=3, device="cpu")
    texts = [" ".join(s) for s in _sentences(100)]
    samples = [TextSample(t, "positive" if "good" in t else "negative") for t in texts]
    student.train(samples[:20])
    student.save(tmp_path / "final")
    plain = export_onnx(tmp_path / "final", tmp_path / "fp32")
    small = export_onnx(tmp_path / "final", tmp_path / "int8", quantize=True)
    assert quantization_of(plain) is None
    assert "int8" in (quantization_of(small) or "")
    assert small.stat().st_size < plain.stat().st_size
    assert not list((tmp_path / "int8").glob("*.int8.onnx"))  # the intermediate file is gone
    check = agreement(load_onnx_student(tmp_path / "int8"), student, samples)
    # int8 weights move the probabilities a little: not 0, far less than a coin flip.
    assert 0 < check.max_gap < 0.1 and check.same_label >= 0.95 and check.sentences == 100
