"""Benchmark the student: training throughput, and full-shot scores on SST-2 and WNUT-17.

Examples:
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_student.py --parts throughput
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_student.py --parts sst2 --sst2-epochs 2
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_student.py --parts wnut --wnut-epochs 5

Each figure is printed with the command that produced it and its wall time. Data comes from
../shared/data (sst2/, wnut17/: {train,dev,test}.jsonl with a meta.json), never from the repo.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from evokd_agent.student.config import TrainConfig
from evokd_agent.student.data import (
    infer_tags,
    load_ner_samples,
    load_text_samples,
)
from evokd_agent.student.student import NerStudent, TextStudent

PARTS = ("throughput", "sst2", "wnut")
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated: {PARTS}")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default=None, help="student model (default: packaged MiniLM)")
    parser.add_argument("--n-throughput", type=int, default=1000, help="sentences for throughput")
    parser.add_argument("--short-words", type=int, default=20, help="'short' = at most N words")
    parser.add_argument("--sst2-epochs", type=int, default=3)
    parser.add_argument("--wnut-epochs", type=int, default=5)
    parser.add_argument("--max-length", type=int, default=64, help="SST-2 subword tokens per input")
    parser.add_argument(
        "--wnut-max-length", type=int, default=128, help="WNUT-17 subwords (5%% of test > 64)"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-5, help="SST-2 learning rate")
    parser.add_argument("--wnut-lr", type=float, default=1e-4, help="WNUT-17 learning rate")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--save-dir", type=Path, default=None, help="save trained students here")
    parser.add_argument("--json-out", type=Path, default=None, help="also write figures as JSON")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(message)s", stream=sys.stdout)
    logging.getLogger("evokd_agent").setLevel(logging.INFO)  # per-epoch loss and dev score

    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {unknown}; choose from {PARTS}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    command = shlex.join([sys.executable, *sys.argv])
    print(f"command: {command}", flush=True)
    figures: dict[str, Any] = {"command": command}
    for part in parts:
        started = time.perf_counter()
        result = {"throughput": bench_throughput, "sst2": bench_sst2, "wnut": bench_wnut}[part](
            args
        )
        result["wall_seconds"] = round(time.perf_counter() - started, 1)
        figures[part] = result
        print(f"[{part}] {json.dumps(result)}", flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def config(args: argparse.Namespace, **overrides: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "learning_rate": args.lr,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "progress": not args.no_progress,
    }
    return TrainConfig(**{**base, **overrides})


def bench_throughput(args: argparse.Namespace) -> dict[str, Any]:
    """One epoch on the first N short SST-2 train sentences, no dev set."""
    sst2 = args.data_dir / "sst2"
    samples = load_text_samples(sst2 / "train.jsonl")
    short = [s for s in samples if len(s.text.split()) <= args.short_words][: args.n_throughput]
    loaded = time.perf_counter()
    student = TextStudent.create(["negative", "positive"], args.model, max_length=args.max_length)
    load_seconds = time.perf_counter() - loaded
    result = student.train(short, config=config(args, epochs=1, min_steps=0))
    return {
        "sentences": len(short),
        "mean_words": round(sum(len(s.text.split()) for s in short) / len(short), 1),
        "epochs": result.epochs,
        "samples_per_second": round(result.samples_per_second, 1),
        "train_seconds": round(result.train_seconds, 1),
        "model_load_seconds": round(load_seconds, 1),
    }


def bench_sst2(args: argparse.Namespace) -> dict[str, Any]:
    """Full-shot SST-2: train on train, early stop on dev, test accuracy once."""
    sst2 = args.data_dir / "sst2"
    meta = json.loads((sst2 / "meta.json").read_text())
    names = meta["label_names"]
    train = load_text_samples(sst2 / "train.jsonl", names)
    dev = load_text_samples(sst2 / "dev.jsonl", names)
    test = load_text_samples(sst2 / "test.jsonl", names)
    student = TextStudent.create(names, args.model, max_length=args.max_length, seed=args.seed)
    result = student.train(train, dev=dev, config=config(args, epochs=args.sst2_epochs))
    metrics = student.evaluate(test)
    if args.save_dir:
        student.save(args.save_dir / "sst2")
    return {
        "train": len(train),
        "epochs_run": result.epochs,
        "best_epoch": result.best_epoch,
        "dev_macro_f1": [round(s, 4) for s in result.dev_scores],
        "test_accuracy": round(metrics.accuracy, 4),
        "test_macro_f1": round(metrics.macro_f1, 4),
        "train_samples_per_second": round(result.samples_per_second, 1),
        "train_seconds": round(result.train_seconds, 1),
    }


def bench_wnut(args: argparse.Namespace) -> dict[str, Any]:
    """Full-shot WNUT-17: train on train, early stop on dev entity F1, test entity F1 once."""
    wnut = args.data_dir / "wnut17"
    train = load_ner_samples(wnut / "train.jsonl")
    dev = load_ner_samples(wnut / "dev.jsonl")
    test = load_ner_samples(wnut / "test.jsonl")
    tags = infer_tags([*train, *dev, *test])
    student = NerStudent.create(tags, args.model, max_length=args.wnut_max_length, seed=args.seed)
    run = config(args, epochs=args.wnut_epochs, learning_rate=args.wnut_lr)
    result = student.train(train, dev=dev, config=run)
    metrics = student.evaluate(test)
    if args.save_dir:
        student.save(args.save_dir / "wnut17")
    return {
        "train": len(train),
        "epochs_run": result.epochs,
        "best_epoch": result.best_epoch,
        "dev_f1": [round(s, 4) for s in result.dev_scores],
        "test_precision": round(metrics.precision, 4),
        "test_recall": round(metrics.recall, 4),
        "test_entity_f1": round(metrics.f1, 4),
        "test_f1_per_type": {k: round(v.f1, 4) for k, v in metrics.per_type.items()},
        "train_samples_per_second": round(result.samples_per_second, 1),
        "train_seconds": round(result.train_seconds, 1),
    }


if __name__ == "__main__":
    sys.exit(main())
