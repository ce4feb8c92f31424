"""Toy data and settings shared by the student tests."""

from __future__ import annotations

from evokd_agent.student.config import TrainConfig
from evokd_agent.student.data import NerSample, TextSample

FAST = TrainConfig(
    learning_rate=5e-3, min_steps=40, warmup_ratio=0.0, progress=False, seed=0, regime="finetune"
)
"""End-to-end fine-tuning at a high learning rate: the tiny random-init BERT learns the toy tasks
in a few dozen steps (the small-data regimes have their own tests: test_fewshot.py)."""

TOY = [TextSample("alpha", "a"), TextSample("beta", "b")]

NER_TOY = [
    NerSample(("john", "lives", "in", "paris"), ("B-per", "O", "O", "B-loc")),
    NerSample(("mary", "smith", "likes", "london"), ("B-per", "I-per", "O", "B-loc")),
    NerSample(("we", "saw", "john", "today"), ("O", "O", "B-per", "O")),
]
