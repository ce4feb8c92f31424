"""Benchmark the student on small data: SST-2 per-class curve and the WNUT-17 per-type curve.

Examples:
    .venv/bin/python scripts/bench_fewshot.py --part sst2 --shots 1,2,4,8,32 --draws 1,2,3,4,5
    .venv/bin/python scripts/bench_fewshot.py --part sst2 --shots full --draws 1
    .venv/bin/python scripts/bench_fewshot.py --part wnut --shots 1,5,20 --draws 1,2,3,4,5

SST-2: for each draw, k sentences per class from train (seeded), three students side by side in
one process: `student` (this package's default: regime chosen by data size), `old` (the previous
recipe: transformers' sequence classifier on BERT's CLS pooler, random head, lr 5e-5, >= 30
steps) and `probe` (frozen mean-pooled encoder + logistic-regression head, no anchors). Scored on
the full test split; ECE (10 bins) of predict_proba on the full dev split. WNUT-17: k sentences
per entity type (a sentence counts for every type it holds), the token classifier with the
default (`student`) and the previous learning rate 5e-5 (`old`), entity F1 on test. Prints one
JSON line per cell and a markdown table at the end (`--out` writes both).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import itertools

import numpy as np

from evokd_agent.student.config import TrainConfig
from evokd_agent.student.data import (
    NerSample,
    TextSample,
    infer_tags,
    load_ner_samples,
    load_text_samples,
)
from evokd_agent.student.model import load_tokenizer, packaged_minilm_dir, quiet_transformers
from evokd_agent.student.student import NerStudent, TextStudent

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OLD = TrainConfig(regime="finetune", learning_rate=5e-5, min_steps=30, progress=False)
"""The SST-2 recipe before the small-data student (the examples' min_steps 30 and lr 5e-5)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--part", choices=("sst2", "wnut"), required=True)
    parser.add_argument("--shots", default="1,2,4,8,32", help="per class (or type); 'full'")
    parser.add_argument("--draws", default="1,2,3,4,5")
    parser.add_argument("--recipes", default="student,old,probe", help="WNUT-17: student,old")
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="write cells.jsonl and table.md")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    command = shlex.join(["python", "scripts/bench_fewshot.py", *sys.argv[1:]])
    print(f"command: {command}", flush=True)
    shots = [s for s in args.shots.split(",") if s]
    draws = [int(d) for d in args.draws.split(",") if d]
    cells: list[dict[str, Any]] = []
    for shot in shots:
        for draw in draws:
            if args.part == "sst2":
                for recipe in args.recipes.split(","):
                    cells.append(sst2_cell(args.data_dir / "sst2", shot, draw, recipe))
                    print(json.dumps(cells[-1]), flush=True)
            else:
                for recipe in args.recipes.split(","):
                    if recipe != "probe":  # no frozen probe for the tagger
                        cells.append(wnut_cell(args.data_dir / "wnut17", shot, draw, recipe))
                        print(json.dumps(cells[-1]), flush=True)
    table = summarise(cells, args.part)
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(c) + "\n" for c in cells)
        (args.out / "cells.jsonl").write_text(lines)
        (args.out / "table.md").write_text(f"`{command}`\n\n{table}\n")
    return 0


def draw_per_class(
    samples: list[TextSample], names: list[str], k: int, seed: int
) -> list[TextSample]:
    rng = random.Random(seed)
    return [s for n in names for s in rng.sample([t for t in samples if t.label == n], k)]


def ece(probs: np.ndarray, gold: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the top prediction, equal-width confidence bins."""
    conf = probs.max(axis=1)
    pred = probs.argmax(axis=1)
    total = 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    for lo, hi in itertools.pairwise(edges):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(
                (pred[inside] == gold[inside]).mean() - conf[inside].mean()
            )
    return float(total)


def sst2_cell(folder: Path, shot: str, draw: int, recipe: str) -> dict[str, Any]:
    names = json.loads((folder / "meta.json").read_text())["label_names"]
    train = load_text_samples(folder / "train.jsonl", names)
    dev = load_text_samples(folder / "dev.jsonl", names)
    test = load_text_samples(folder / "test.jsonl", names)
    data = train if shot == "full" else draw_per_class(train, names, int(shot), draw)
    student = (
        old_student(names, draw)
        if recipe == "old"
        else TextStudent.create(names, seed=draw, max_length=64)
    )
    config = {
        "student": TrainConfig(progress=False, seed=draw),
        "old": replace(OLD, seed=draw),
        "probe": TrainConfig(progress=False, seed=draw, regime="head", label_anchors=False),
    }[recipe]
    tick = time.perf_counter()
    result = student.train(data, config=config)
    seconds = time.perf_counter() - tick
    metrics = student.evaluate(test)
    probs = student.predict_proba([s.text for s in dev])
    gold = np.array([names.index(s.label) for s in dev])
    return {
        "task": "sst2",
        "shot": shot,
        "draw": draw,
        "recipe": recipe,
        "regime": result.regime,
        "n_train": len(data),
        "test_accuracy": round(metrics.accuracy, 4),
        "test_macro_f1": round(metrics.macro_f1, 4),
        "dev_ece": round(ece(probs, gold), 4),
        "train_seconds": round(seconds, 1),
    }


def old_student(names: list[str], seed: int) -> TextStudent:
    """The previous recipe's network: transformers' classifier on the CLS pooler."""
    from transformers import AutoModelForSequenceClassification

    from evokd_agent.student.train import seed_everything

    path = str(packaged_minilm_dir())
    seed_everything(seed)
    with quiet_transformers():
        net = AutoModelForSequenceClassification.from_pretrained(
            path,
            num_labels=len(names),
            id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)},
        )
    tokenizer = load_tokenizer(path, task="classification")
    return TextStudent(net, tokenizer, names, max_length=64, base_model="old recipe")


def draw_per_type(samples: list[NerSample], k: int, seed: int) -> list[NerSample]:
    """k sentences per entity type; a drawn sentence counts for every type it contains."""
    rng = random.Random(seed)
    order = list(samples)
    rng.shuffle(order)
    types = sorted({t[2:] for s in samples for t in s.tags if t != "O"})
    have = dict.fromkeys(types, 0)
    picked: list[NerSample] = []
    for s in order:
        present = {t[2:] for t in s.tags if t != "O"}
        if any(have[t] < k for t in present):
            picked.append(s)
            for t in present:
                have[t] += 1
        if all(v >= k for v in have.values()):
            break
    return picked


def wnut_cell(folder: Path, shot: str, draw: int, recipe: str) -> dict[str, Any]:
    train = load_ner_samples(folder / "train.jsonl")
    test = load_ner_samples(folder / "test.jsonl")
    dev = load_ner_samples(folder / "dev.jsonl")
    tags = infer_tags([*train, *dev, *test])
    data = train if shot == "full" else draw_per_type(train, int(shot), draw)
    student = NerStudent.create(tags, seed=draw, max_length=128)
    # The previous default: lr 5e-5 whatever the size (now 3e-4 under 256 sentences).
    config = TrainConfig(progress=False, seed=draw, learning_rate=5e-5 if recipe == "old" else None)
    tick = time.perf_counter()
    result = student.train(data, config=config)
    seconds = time.perf_counter() - tick
    metrics = student.evaluate(test)
    return {
        "task": "wnut17",
        "shot": shot,
        "draw": draw,
        "recipe": recipe,
        "learning_rate": config.peak_learning_rate(len(data), "ner"),
        "n_train": len(data),
        "steps": result.steps,
        "test_entity_f1": round(metrics.f1, 4),
        "test_precision": round(metrics.precision, 4),
        "test_recall": round(metrics.recall, 4),
        "train_seconds": round(seconds, 1),
    }


def summarise(cells: list[dict[str, Any]], part: str) -> str:
    """Mean ± std over draws per (shot, recipe)."""
    keys = (
        ["test_accuracy", "test_macro_f1", "dev_ece", "train_seconds"]
        if part == "sst2"
        else ["test_entity_f1", "test_precision", "test_recall", "train_seconds"]
    )
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in cells:
        groups.setdefault((c["shot"], c["recipe"]), []).append(c)
    head = "| per class | recipe | draws | n train | " + " | ".join(keys) + " |"
    lines = [head, "|" + "---|" * (4 + len(keys))]
    for (shot, recipe), rows in groups.items():
        stats = []
        for k in keys:
            values = np.array([r[k] for r in rows], dtype=float)
            stats.append(
                f"{values.mean():.3f} ± {values.std():.3f}"
                if "sec" not in k
                else f"{values.mean():.1f}"
            )
        n = int(np.mean([r["n_train"] for r in rows]))
        lines.append(f"| {shot} | {recipe} | {len(rows)} | {n} | " + " | ".join(stats) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
