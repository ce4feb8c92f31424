"""`evokd eval --model DIR --data FILE`: score a saved student on a labelled file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_eval_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `eval` subcommand to the `evokd` parser."""
    parser = subparsers.add_parser(
        "eval",
        help="score a saved student on a labelled data file",
        description="Print the metrics of a saved student (a directory written by Student.save, "
        "or any HF classifier/tagger) on a JSONL/CSV/Parquet file: accuracy, macro-F1, per-class "
        "F1 and confusion matrix for classification; entity precision/recall/F1 for NER.",
    )
    parser.add_argument("--model", required=True, type=Path, help="student checkpoint directory")
    parser.add_argument("--data", required=True, type=Path, help="labelled .jsonl/.csv/.parquet")
    parser.add_argument(
        "--labels",
        help="comma-separated label names, in index order, for files with integer labels "
        "(default: the checkpoint's labels)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="inputs per forward pass (default: 16 on a CPU, 64 on a GPU)",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--json", action="store_true", help="print metrics as JSON")
    parser.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    """Run `evokd eval`; EvokdError (bad checkpoint, bad row) propagates for the CLI to print."""
    from evokd_agent.student.checkpoint import read_meta
    from evokd_agent.student.data import load_ner_samples, load_text_samples
    from evokd_agent.student.metrics import ClassificationMetrics, NerMetrics
    from evokd_agent.student.student import TextStudent, load_student

    meta = read_meta(args.model)
    names = [n.strip() for n in args.labels.split(",")] if args.labels else None
    student = load_student(args.model, device=args.device)
    if args.batch_size is not None:
        student.eval_batch_size = max(1, args.batch_size)
    metrics: ClassificationMetrics | NerMetrics
    if isinstance(student, TextStudent):
        metrics = student.evaluate(load_text_samples(args.data, names or meta.labels))
    else:
        metrics = student.evaluate(load_ner_samples(args.data, names or meta.labels))
    if args.json:
        print(json.dumps({"model": str(args.model), "data": str(args.data), **metrics.to_dict()}))
    else:
        print(f"model  {args.model}\ndata   {args.data}\ntask   {meta.task}\n")
        print(metrics.format())
    return 0
