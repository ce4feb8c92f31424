"""Benchmark batched teacher calls: labels per request (m) and inputs per request (k).

Examples:
    .venv/bin/python scripts/bench_teacher_calls.py --teacher simulated --part labelling --m 1,4,16
    .venv/bin/python scripts/bench_teacher_calls.py --teacher embedded --part labelling --m 1,4,8
    .venv/bin/python scripts/bench_teacher_calls.py --teacher embedded --part generation --k 1,4,8
    .venv/bin/python scripts/bench_teacher_calls.py --teacher embedded --part scoring --n 200 \
        --draws 1,2,3,4,5 --ways "chat m=16,off,content_free,batch,mixture"

SST-2 (or WNUT-17 with `--data wnut17`), one seed sentence per class as the prompt's examples.
`labelling`: the teacher labels `--n` sentences (a seeded sample of dev; of train for the
simulated teacher, which knows only its corpus) with m texts per request;
prints accuracy against gold (classification; NER: entity-level precision, recall and F1 of
the parsed entities),
items rejected, tokens spent and tokens per label, side by side for every m in one run.
`generation`: the teacher writes `--n` inputs, ZeroGen-style (n / labels per label), k per
request; prints inputs produced and accepted by the run's filters, tokens per accepted input.
`scoring` (classification): labels `--n` dev sentences (the same ones for every draw) with
`--shots` seed examples per class, drawn afresh for each of `--draws`, in the `--ways` given:
chat JSON (`chat m=M`: m per request, confidence from the label token's logprobs) and
completion scoring (`distill.label_scoring`), one scoring pass per draw (under `--orders` 1
or 2 example orders) read with each calibration (`off`, `content_free`, `batch`, `mixture`) as
a run's single call with every text would; prints accuracy, ECE (10 equal-width bins, over
the labelled texts), the count of each predicted label, the probability mass on label words,
tokens per label, and for two labels the threshold ceiling (the best accuracy any boundary on
the raw log-odds reaches, chosen with the gold labels: the most a calibration can get from
these replies); with several draws, the mean, lowest and highest accuracy and ECE of each way.
Every request goes through the real generator and ledger; no response cache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from evokd_agent.distill.calibration import combined
from evokd_agent.distill.confidence import LabelConfidence
from evokd_agent.distill.context import DistillContext, TaskSpec, ToolState, sample_text
from evokd_agent.distill.hygiene import Hygiene
from evokd_agent.distill.label_scoring import (
    Raw,
    ScoringSetup,
    calibrate_scores,
    content_free_prior,
    raw_distributions,
)
from evokd_agent.distill.labelling import ask_labels
from evokd_agent.distill.parsing import parse_entities, parse_label
from evokd_agent.distill.scoring import score_texts
from evokd_agent.distill.steps import write_variants
from evokd_agent.distill.tasks import entities_of
from evokd_agent.prompting import PromptSet
from evokd_agent.student.config import TrainConfig
from evokd_agent.student.data import NerSample, TextSample, load_samples
from evokd_agent.teacher.client import TeacherClient
from evokd_agent.teacher.config import TeacherConfig
from evokd_agent.teacher.generator import ChatGenerator
from evokd_agent.teacher.ledger import TokenLedger
from evokd_agent.teacher.simulated_config import SimulatedTeacherConfig

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TASKS = {
    "sst2": ("classification", "Decide whether a movie review sentence is negative or positive."),
    "wnut17": ("ner", "Find the named entities in short, informal social-media posts."),
}


SCORING_WAYS = ["off", "content_free", "batch", "mixture"]


def teacher_config(kind: str, data: str) -> TeacherConfig:
    if kind == "embedded":
        return TeacherConfig(base_url="embedded", max_concurrency=1)
    simulated = SimulatedTeacherConfig(
        corpus=DATA / data / "train.jsonl",
        exclude=[DATA / data / "dev.jsonl", DATA / data / "test.jsonl"],
        noise=0.1,
    )
    return TeacherConfig(base_url="simulated", simulated=simulated, max_concurrency=8)


def context(
    teacher: TeacherConfig, data: str, seeds: list[Any], labels: list[str], k: int, m: int
) -> tuple[DistillContext, ChatGenerator]:
    task, description = TASKS[data]
    generator = ChatGenerator(TeacherClient(teacher), ledger=TokenLedger(None), progress=False)
    ctx = DistillContext(
        spec=TaskSpec(task, description, tuple(labels)),  # type: ignore[arg-type]
        student=None,  # type: ignore[arg-type]
        train_config=TrainConfig(),
        seeds=seeds,
        dev=[],
        test=[],
        generator=generator,
        prompts=PromptSet.load(task),
        hygiene=Hygiene(labels, []),
        record_sample=lambda row: None,
        end_round=lambda row: None,
        save_final=lambda: "",
        max_tokens=96,
        inputs_per_request=k,
        texts_per_request=m,
        json_mode="schema",
    )
    return ctx, generator


def one_per_class(samples: list[Any], labels: list[str], rng: random.Random) -> list[Any]:
    seeds = []
    for label in labels:
        if isinstance(samples[0], TextSample):
            pool = [s for s in samples if s.label == label]
        else:
            pool = [s for s in samples if any(t == label for _, t in entities_of(s))]
        seeds.append(rng.choice(pool))
    return seeds


def label_names(samples: list[Any]) -> list[str]:
    """Class names (classification) or entity types (NER) of a data set."""
    if isinstance(samples[0], TextSample):
        return sorted({s.label for s in samples})
    return sorted({t for s in samples for _, t in entities_of(s)})


def entity_scores(
    gold: list[set[tuple[str, str]]], got: list[set[tuple[str, str]] | None]
) -> dict[str, float]:
    """Entity-level precision (the share of the teacher's entities that are right: span and
    type), recall and F1."""
    tp = sum(len(g & (p or set())) for g, p in zip(gold, got, strict=True))
    n_pred = sum(len(p or set()) for p in got)
    n_gold = sum(len(g) for g in gold)
    return {
        "entity_precision": round(tp / n_pred, 4) if n_pred else 0.0,
        "entity_recall": round(tp / n_gold, 4) if n_gold else 0.0,
        "entity_f1": round(2 * tp / (n_pred + n_gold), 4) if n_pred + n_gold else 0.0,
        "entities_named": n_pred,
    }


async def labelling(teacher: TeacherConfig, args: argparse.Namespace) -> list[dict[str, Any]]:
    rng = random.Random(args.seed)
    train = load_samples(DATA / args.data / "train.jsonl")
    # The simulated teacher knows only its corpus (train): it labels a dev text like its
    # nearest train neighbour, so its label accuracy is measured on train texts.
    split = args.split or ("train" if args.teacher == "simulated" else "dev")
    dev = load_samples(DATA / args.data / f"{split}.jsonl")
    labels = label_names(list(train))
    seeds = one_per_class(list(train), labels, rng)
    sample: list[Any] = rng.sample(list(dev), args.n)
    texts = [sample_text(s) for s in sample]
    rows = []
    for m in args.m:
        ctx, generator = context(teacher, args.data, seeds, labels, 1, m)
        started = time.perf_counter()
        async with generator.client:
            answers = await ask_labels(ctx, texts)
        wall = time.perf_counter() - started
        rejected = sum(a.reply is None for a in answers)
        scores: dict[str, float]
        if isinstance(sample[0], TextSample):
            got = [parse_label(a.reply, labels) if a.reply else None for a in answers]
            right = sum(g == s.label for g, s in zip(got, sample, strict=True))
            scores = {"accuracy": round(right / len(sample), 4)}
        else:
            parsed = [parse_entities(a.reply) if a.reply else None for a in answers]
            gold = [set(entities_of(s)) for s in sample if isinstance(s, NerSample)]
            scores = entity_scores(gold, [set(p) if p is not None else None for p in parsed])
        spent = generator.ledger.spent
        row = {
            "part": "labelling",
            "teacher": args.teacher,
            "data": args.data,
            "m": m,
            "texts": len(texts),
            **scores,
            "rejected": rejected,
            "requests": generator.ledger.status().total.requests,
            "tokens": spent,
            "tokens_per_label": round(spent / max(len(texts) - rejected, 1), 1),
            "wall_s": round(wall, 1),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def calibration_error(pairs: list[tuple[float, bool]], bins: int = 10) -> float:
    """ECE of (confidence, correct) pairs over equal-width confidence bins."""
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(c, ok) for c, ok in pairs if lo < c <= hi or (b == 0 and c == 0)]
        if inside:
            accuracy = sum(ok for _, ok in inside) / len(inside)
            confidence = sum(c for c, _ in inside) / len(inside)
            total += len(inside) / len(pairs) * abs(accuracy - confidence)
    return total


def scoring_row(
    args: argparse.Namespace,
    way: str,
    draw: int,
    sample: list[TextSample],
    scores: list[LabelConfidence | None],
    labels: list[str],
    extra: dict[str, Any],
) -> dict[str, Any]:
    got = [x.label if x is not None else None for x in scores]
    pairs = [
        (x.confidence, x.label == s.label)
        for x, s in zip(scores, sample, strict=True)
        if x is not None and x.label is not None
    ]
    tokens = extra.pop("tokens")
    return {
        "part": "scoring",
        "teacher": args.teacher,
        "data": args.data,
        "way": way,
        "draw": draw,
        "shots_per_class": args.shots,
        "texts": len(sample),
        "accuracy": round(
            sum(g == s.label for g, s in zip(got, sample, strict=True)) / len(sample), 4
        ),
        "ece": round(calibration_error(pairs), 4) if pairs else None,
        "unlabelled": sum(g is None for g in got),
        "predicted": {label: got.count(label) for label in labels},
        "tokens": tokens,
        "tokens_per_label": round(tokens / max(len(pairs), 1), 1),
        **extra,
    }


def threshold_ceiling(raw: list[Raw], sample: list[TextSample], labels: list[str]) -> float | None:
    """Two labels: the best accuracy of any threshold on the uncalibrated log-odds (of the
    orders' geometric mean), chosen with the gold labels: what no calibration that only moves
    the decision boundary can beat (unreadable texts count as wrong). None for more labels."""
    if len(labels) != 2:
        return None
    joint = [
        (combined(views, labels), s.label)
        for (views, _, _), s in zip(raw, sample, strict=True)
        if views
    ]
    pairs = [
        (math.log(max(d[labels[1]], 1e-9)) - math.log(max(d[labels[0]], 1e-9)), gold)
        for d, gold in joint
    ]
    cuts = [-math.inf, *sorted(x for x, _ in pairs)]
    best = max(sum((x > cut) == (y == labels[1]) for x, y in pairs) for cut in cuts)
    return round(best / len(sample), 4)


async def scoring(teacher: TeacherConfig, args: argparse.Namespace) -> list[dict[str, Any]]:
    train = [s for s in load_samples(DATA / args.data / "train.jsonl") if isinstance(s, TextSample)]
    dev = [s for s in load_samples(DATA / args.data / f"{args.split or 'dev'}.jsonl")]
    labels = label_names(list(train))
    # The same texts for every draw of the prompt's examples.
    sample = [s for s in random.Random(args.seed).sample(dev, args.n) if isinstance(s, TextSample)]
    texts = [sample_text(s) for s in sample]
    rows = []
    for draw in args.draws:
        rng = random.Random(draw)
        seeds = [
            s
            for label in labels
            for s in rng.sample([t for t in train if t.label == label], args.shots)
        ]
        for m in [int(w.split("=")[1]) for w in args.ways if w.startswith("chat")]:
            ctx, generator = context(teacher, args.data, seeds, labels, 1, m)
            started = time.perf_counter()
            async with generator.client:
                chat = await score_texts(ctx, texts)
            extra: dict[str, Any] = {
                "tokens": generator.ledger.spent,
                "wall_s": round(time.perf_counter() - started, 1),
            }
            rows.append(scoring_row(args, f"chat m={m}", draw, sample, chat, labels, extra))
            print(json.dumps(rows[-1]), flush=True)
        calibrations = [w for w in args.ways if not w.startswith("chat")]
        if not calibrations:
            continue
        # One scoring pass per draw; each calibration is applied to the same replies, the way
        # a run applies it (`calibrate_scores`, one call with every text).
        ctx, generator = context(teacher, args.data, seeds, labels, 1, 1)
        setup = ScoringSetup(calibration="off", orders=args.orders)
        started = time.perf_counter()
        async with generator.client:
            raw = await raw_distributions(ctx, setup, texts)
            wall = time.perf_counter() - started
            spent = generator.ledger.spent
            prior = await content_free_prior(ctx, setup) if "content_free" in calibrations else None
        mass = sum(m for _, m, _ in raw) / len(raw)
        ceiling = threshold_ceiling(raw, sample, labels)
        for way in calibrations:
            state = ToolState(label_prior=prior)
            way_setup = ScoringSetup(calibration=way, orders=args.orders)
            scored = calibrate_scores(state, way_setup, labels, raw)
            extra = {
                "label_word_mass": round(mass, 3),
                "orders": args.orders,
                "threshold_ceiling": ceiling,
                "tokens": generator.ledger.spent if way == "content_free" else spent,
                "wall_s": round(wall, 1),
            }
            rows.append(
                scoring_row(
                    args,
                    f"scoring {way}",
                    draw,
                    sample,
                    [x.confidence for x in scored],
                    labels,
                    extra,
                )
            )
            print(json.dumps(rows[-1]), flush=True)
    if len(args.draws) > 1:
        for way in dict.fromkeys(r["way"] for r in rows):
            mine = [r for r in rows if r["way"] == way]
            summary: dict[str, Any] = {
                "part": "scoring summary",
                "way": way,
                "draws": [r["draw"] for r in mine],
                "accuracy_mean": round(sum(r["accuracy"] for r in mine) / len(mine), 4),
                "accuracy_min": min(r["accuracy"] for r in mine),
                "accuracy_max": max(r["accuracy"] for r in mine),
                "ece_mean": round(sum(r["ece"] or 0 for r in mine) / len(mine), 4),
                "ece_max": max(r["ece"] or 0 for r in mine),
            }
            ceilings = [r["threshold_ceiling"] for r in mine if r.get("threshold_ceiling")]
            if ceilings:
                summary["threshold_ceiling_mean"] = round(sum(ceilings) / len(ceilings), 4)
            rows.append(summary)
            print(json.dumps(summary), flush=True)
    return rows


async def generation(teacher: TeacherConfig, args: argparse.Namespace) -> list[dict[str, Any]]:
    rng = random.Random(args.seed)
    train = load_samples(DATA / args.data / "train.jsonl")
    labels = label_names(list(train))
    seeds = one_per_class(list(train), labels, rng)
    rows = []
    for k in args.k:
        ctx, generator = context(teacher, args.data, seeds, labels, k, 1)
        jobs = [
            {
                "task_description": ctx.spec.description,
                "label": label,
                "label_description": label,
                "n": args.n // len(labels),
            }
            for label in labels
        ]
        started = time.perf_counter()
        async with generator.client:
            report = await write_variants(ctx, "zerogen", jobs, "zerogen")
        wall = time.perf_counter() - started
        spent = generator.ledger.spent
        row = {
            "part": "generation",
            "teacher": args.teacher,
            "data": args.data,
            "k": k,
            "asked": sum(j["n"] for j in jobs),
            "produced": report.produced,
            "accepted": report.accepted,
            "rejected": report.rejected,
            "requests": generator.ledger.status().total.requests,
            "tokens": spent,
            "tokens_per_accepted": round(spent / max(report.accepted, 1), 1),
            "wall_s": round(wall, 1),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    from evokd_agent.run.runner import teacher_endpoint

    with teacher_endpoint(teacher_config(args.teacher, args.data), Path(args.log)) as teacher:
        part = {"labelling": labelling, "generation": generation, "scoring": scoring}[args.part]
        return await part(teacher, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", choices=["simulated", "embedded"], default="simulated")
    parser.add_argument("--data", choices=sorted(TASKS), default="sst2")
    parser.add_argument(
        "--part", choices=["labelling", "generation", "scoring"], default="labelling"
    )
    parser.add_argument("--shots", type=int, default=1, help="scoring: seed examples per class")
    parser.add_argument(
        "--draws",
        type=ints,
        default=[1],
        help="scoring: draws of the prompt's examples (each on the same texts)",
    )
    parser.add_argument(
        "--orders",
        type=int,
        default=1,
        choices=[1, 2],
        help="scoring: example orders each text is scored under (2: also reversed)",
    )
    parser.add_argument(
        "--ways",
        type=lambda text: [w.strip() for w in text.split(",") if w.strip()],
        default=["chat m=16", *SCORING_WAYS],
        help='scoring: "chat m=M" and calibrations, comma-separated',
    )
    parser.add_argument("--m", type=ints, default=[1, 4, 16], help="texts per labelling request")
    parser.add_argument("--k", type=ints, default=[1, 4, 8, 16], help="inputs per request")
    parser.add_argument("--n", type=int, default=200, help="texts to label / inputs to write")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--split",
        choices=["train", "dev", "test"],
        help="texts to label (default: train for the simulated teacher, dev for the embedded one;"
        " test: a held-out check of a choice made on dev)",
    )
    parser.add_argument("--log", default="/tmp/bench_teacher_calls.log", help="teacher log")
    parser.add_argument("--out", help="write the rows here as JSON lines")
    args = parser.parse_args()
    rows = asyncio.run(main_async(args))
    if args.out:
        Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
