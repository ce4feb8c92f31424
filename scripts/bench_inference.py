"""Student inference on CPU: torch against ONNX Runtime, batch 1 and 32, beside the teacher's cost.

    python scripts/bench_inference.py [--student DIR] [--n 256] [--threads 2]

Without --student it times a fresh MiniLM classifier (the packaged all-MiniLM-L6-v2 with a
2-label head: the weights' values do not change the time). Sentences are SST-2 dev sentences.
For each backend and batch size it prints sentences per second and p50/p99 latency per call,
after a warm-up; the backends run alternately in one process, so they see the same machine load.
"onnxruntime-int8" is the `evokd export --onnx --quantize` export (int8 weights); the script
first prints the fp32 ceiling (the encoder's multiply-adds for these sentences against the
matrix-multiply speed measured on this machine), then how far each ONNX export's probabilities
are from torch's, and how often its top label is torch's.

Beside them: the teacher's cost per labelled sentence, read from committed measurements
(`benchmarks/results/embedded_labelling/sst2_dev200_shots4.jsonl`: the embedded teacher's
completion scoring, seconds and tokens per label; `benchmarks/results/simulated_sst2_equal_5seed`:
tokens per accepted sample of the batched chat labelling a remote teacher is billed for).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import numpy as np
import torch

from evokd_agent.student.onnx import export_onnx, load_onnx_student
from evokd_agent.student.student import TextStudent, load_student

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "data" / "sst2" / "dev.jsonl"
LABELLING = ROOT / "benchmarks" / "results" / "embedded_labelling" / "sst2_dev200_shots4.jsonl"
EQUAL_SPEND = ROOT / "benchmarks" / "results" / "simulated_sst2_equal_5seed" / "table.csv"


def time_calls(predict: Callable[[Sequence[str]], object], batches: list[list[str]]) -> list[float]:
    """Seconds per call of `predict` on each batch."""
    out = []
    for batch in batches:
        started = time.perf_counter()
        predict(batch)
        out.append(time.perf_counter() - started)
    return out


def figures(seconds: list[float], sentences: int) -> dict[str, float]:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "sentences_per_s": round(sentences / sum(seconds), 1),
        "p50_ms": round(statistics.median(seconds) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
    }


def teacher_costs() -> dict[str, object]:
    costs: dict[str, object] = {}
    if LABELLING.exists():
        for line in LABELLING.read_text().splitlines():
            row = json.loads(line)
            if row.get("way") == "scoring batch":
                costs["embedded_s_per_label"] = round(row["wall_s"] / row["texts"], 3)
                costs["embedded_tokens_per_label"] = row["tokens_per_label"]
    if EQUAL_SPEND.exists():
        with open(EQUAL_SPEND, newline="") as f:
            for row in csv.DictReader(f):
                if row["method"] == "llkd":  # a pool text labelled by batched chat requests
                    per = round(float(row["tokens_per_accepted_sample"]), 1)
                    costs["remote_tokens_per_label_llkd_batched_chat"] = per
    return costs


def compute_ceiling(student: TextStudent, texts: list[str], threads: int) -> dict[str, float]:
    """What the machine allows at most: the encoder's multiply-adds for these sentences (their
    real token counts, no padding) against the fp32 matrix-multiply speed measured here, on
    matrices of the encoder's own shapes."""
    config = student.model.encoder.config
    hidden, ff, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    flops = 0.0
    for text in texts:
        n = len(student.tokenizer(text)["input_ids"])
        # Q, K, V and output projections, the feed-forward pair, and attention's two products.
        flops += layers * 2 * n * (4 * hidden * hidden + 2 * hidden * ff + 2 * n * hidden)
    torch.set_num_threads(threads)
    a, b = torch.randn(32 * 24, hidden), torch.randn(hidden, ff)
    for _ in range(20):
        a @ b
    started, reps = time.perf_counter(), 200
    for _ in range(reps):
        a @ b
    peak = 2 * a.shape[0] * hidden * ff * reps / (time.perf_counter() - started)
    per_sentence = flops / len(texts)
    return {
        "gflop_per_sentence": round(per_sentence / 1e9, 3),
        "fp32_matmul_gflop_per_s": round(peak / 1e9, 1),
        "ceiling_sentences_per_s": round(peak / per_sentence, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--student", type=Path, default=None, help="a saved student (final/)")
    parser.add_argument("--n", type=int, default=256, help="sentences per measurement")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for both backends")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per setting")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts = [json.loads(line)["text"] for line in DEV.read_text().splitlines()][: args.n]
    with tempfile.TemporaryDirectory() as tmp:
        source = args.student
        if source is None:
            source = Path(tmp) / "student"
            TextStudent.create(["negative", "positive"], device="cpu").save(source)
        export_onnx(source, Path(tmp) / "onnx")
        export_onnx(source, Path(tmp) / "int8", quantize=True)
        # Classifiers all three (the script times SST-2 sentence classification).
        backends = {
            "torch": cast(TextStudent, load_student(source, device="cpu")),
            "onnxruntime": cast(
                TextStudent, load_onnx_student(Path(tmp) / "onnx", threads=args.threads)
            ),
            "onnxruntime-int8": cast(
                TextStudent, load_onnx_student(Path(tmp) / "int8", threads=args.threads)
            ),
        }
        print(json.dumps({"fp32_ceiling": compute_ceiling(backends["torch"], texts, args.threads)}))
        reference = backends["torch"].predict_proba(texts)
        for name in ("onnxruntime", "onnxruntime-int8"):
            probs = backends[name].predict_proba(texts)
            row = {
                "backend": name,
                "max_abs_prob_difference": float(np.abs(probs - reference).max()),
                "same_top_label_as_torch": round(
                    float((probs.argmax(1) == reference.argmax(1)).mean()), 4
                ),
                "sentences": len(texts),
            }
            print(json.dumps(row))
        for size in (1, 32):
            batches = [texts[i : i + size] for i in range(0, len(texts), size)]
            seconds: dict[str, list[float]] = {name: [] for name in backends}
            for student in backends.values():  # warm-up
                time_calls(student.predict_proba, batches[:4])
            for _ in range(args.rounds):
                for name, student in backends.items():
                    seconds[name] += time_calls(student.predict_proba, batches)
            for name in backends:
                row = {"backend": name, "batch": size, "threads": args.threads}
                row.update(figures(seconds[name], len(texts) * args.rounds))
                print(json.dumps(row), flush=True)
    print(json.dumps({"teacher": teacher_costs()}))


if __name__ == "__main__":
    main()
