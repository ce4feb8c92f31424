"""The classification student's small-data regimes: the rule, weights and hooks in each, pooling."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

from evokd_agent.student.config import TrainConfig
from evokd_agent.student.data import TextSample
from evokd_agent.student.fewshot import choose_regime, pair_loss
from evokd_agent.student.pooling import Pooling, read_pooling
from evokd_agent.student.student import TextStudent

SMALL = TrainConfig(
    progress=False,
    seed=0,
    contrastive_steps=6,
    contrastive_learning_rate=5e-3,
    learning_rate=5e-3,
    min_steps=30,
    warmup_ratio=0.0,
    head_l2=1e-4,
)
"""High learning rates so the tiny random BERT learns toy data in a few steps."""

PAIRS = [
    TextSample("alpha", "a"),
    TextSample("alpha beta", "a"),
    TextSample("gamma", "b"),
    TextSample("gamma delta", "b"),
]
REGIMES = ["head", "contrastive", "finetune"]


def test_regime_rule() -> None:
    auto = TrainConfig(finetune_from=10)
    assert choose_regime([0, 1], 2, auto) == "head"  # one per class
    assert choose_regime([0, 0, 1], 2, auto) == "head"  # class 1 has a single sample
    assert choose_regime([0, 0, 1, 1], 2, auto) == "contrastive"
    assert choose_regime([0, 0, 1, 1], 3, auto) == "head"  # class 2 has none
    assert choose_regime([0] * 8 + [1], 2, auto) == "head"
    assert choose_regime([0] * 5 + [1] * 5, 2, auto) == "finetune"
    assert choose_regime([0] * 9 + [1], 2, auto) == "finetune"  # size alone decides there
    assert choose_regime([0, 1], 2, replace(auto, regime="contrastive")) == "contrastive"
    assert TrainConfig().finetune_from == 256


@pytest.mark.parametrize("regime", REGIMES)
def test_each_regime_learns_and_weight_zero_hides_a_sample(
    tiny_model_dir: Path, regime: str
) -> None:
    config = replace(SMALL, regime=regime, label_anchors=False)  # type: ignore[arg-type]
    student = TextStudent.create(["a", "b"], tiny_model_dir, seed=0)
    result = student.train(PAIRS, config=config)
    assert result.regime == regime
    assert student.predict(["alpha", "gamma"]) == ["a", "b"]

    hidden = TextStudent.create(["a", "b"], tiny_model_dir, seed=0)
    hidden.train(PAIRS, weights=[1.0, 1.0, 0.0, 0.0], config=config)
    # Nothing of class b counts: everything comes out a.
    assert hidden.predict(["alpha", "gamma"]) == ["a", "a"]


@pytest.mark.parametrize("regime", REGIMES)
def test_step_hook_acts_in_each_regime_and_never_sees_anchors(
    tiny_model_dir: Path, regime: str
) -> None:
    seen: list[Tensor] = []

    def drop_b(logits: Tensor, labels: Tensor, weights: Tensor, index: Tensor) -> Tensor:
        assert logits.shape == (len(index), 2)
        seen.append(index.clone())
        return torch.where(labels == 1, torch.zeros_like(weights), weights)

    config = replace(SMALL, regime=regime, label_anchors=True)  # type: ignore[arg-type]
    student = TextStudent.create(["a", "b"], tiny_model_dir, seed=0)
    student.train(PAIRS, config=config, step_weights=drop_b)
    assert seen and all(int(i.max()) < len(PAIRS) for i in seen)
    probs = student.predict_proba(["gamma"])[0]
    reference = TextStudent.create(["a", "b"], tiny_model_dir, seed=0)
    reference.train(PAIRS, config=config)
    # Hiding class b's samples moves "gamma" towards a (only the anchor "b" still pulls to b).
    assert probs[0] > reference.predict_proba(["gamma"])[0][0]


def test_restart_makes_the_student_a_function_of_its_data(tiny_model_dir: Path) -> None:
    config = replace(SMALL, regime="contrastive")
    twice = TextStudent.create(["a", "b"], tiny_model_dir, seed=0)
    twice.train(PAIRS[::-1], config=config)
    twice.train(PAIRS, config=config)
    once = TextStudent.create(["a", "b"], tiny_model_dir, seed=0)
    once.train(PAIRS, config=config)
    texts = ["alpha", "gamma delta"]
    assert np.allclose(twice.predict_proba(texts), once.predict_proba(texts), atol=1e-6)

    cont = TextStudent.create(["a", "b"], tiny_model_dir, seed=0)
    cont.train(PAIRS[::-1], config=replace(config, restart=False))
    cont.train(PAIRS, config=replace(config, restart=False))
    assert not np.allclose(cont.predict_proba(texts), once.predict_proba(texts), atol=1e-6)


def test_probabilities_are_not_saturated_on_a_handful_of_samples(tiny_model_dir: Path) -> None:
    student = TextStudent.create(["a", "b"], tiny_model_dir, seed=0)
    student.train(PAIRS, config=replace(SMALL, regime="head", head_l2=1e-2))
    probs = student.predict_proba(["alpha", "gamma"])
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert 0.5 < probs.max() < 0.99


def test_pair_loss_by_hand() -> None:
    emb = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    # Same-class pair: cos 1, target 1 -> 0. Cross pairs: cos 0, target 0 -> 0.
    assert float(pair_loss(emb, labels, torch.ones(3))) == pytest.approx(0.0)
    wrong = torch.tensor([0, 1, 1])  # pair (0,1) cos 1 but different: err 1; (1,2) cos 0 same: 1
    # positives: pairs (1,2),(2,1) err 1 -> mean 1; negatives: (0,1),(1,0) err 1, (0,2),(2,0) 0.
    assert float(pair_loss(emb, wrong, torch.ones(3))) == pytest.approx((1.0 + 0.5) / 2)
    # Weight 0 on sample 0 leaves only pair (1,2): loss 1 on positives, no negatives.
    assert float(pair_loss(emb, wrong, torch.tensor([0.0, 1.0, 1.0]))) == pytest.approx(1.0)


def test_pooling_read_from_sentence_transformers_files(tmp_path: Path) -> None:
    assert read_pooling(tmp_path) == Pooling("mean", False, "default")
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    modules = [
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    assert read_pooling(tmp_path) == Pooling("cls", True, "sentence-transformers")

    hidden = torch.tensor([[[1.0, 0.0], [3.0, 4.0], [9.0, 9.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert Pooling("mean")(hidden, mask).tolist() == [[2.0, 2.0]]
    assert Pooling("max")(hidden, mask).tolist() == [[3.0, 4.0]]
    assert Pooling("cls")(hidden, mask).tolist() == [[1.0, 0.0]]
    assert torch.allclose(
        Pooling("mean", True)(hidden, mask), torch.tensor([[0.7071, 0.7071]]), atol=1e-4
    )


def test_packaged_minilm_pooling_is_mean_and_normalised() -> None:
    from evokd_agent.student.model import packaged_minilm_dir

    pooling = read_pooling(packaged_minilm_dir())
    assert (pooling.mode, pooling.normalize) == ("mean", True)


def test_a_step_whose_every_weight_is_zero_is_skipped(tiny_model_dir: Path) -> None:
    def drop_all(logits: Tensor, labels: Tensor, weights: Tensor, index: Tensor) -> Tensor:
        return torch.zeros_like(weights)

    config = replace(SMALL, regime="contrastive", label_anchors=False)
    student = TextStudent.create(["a", "b"], tiny_model_dir, seed=0)
    result = student.train(PAIRS, config=config, step_weights=drop_all)  # used to raise
    assert result.regime == "contrastive"
