"""What each method of a bench bought: accepted samples, tokens per sample, how many of their
labels agree with the corpus's gold labels, and dev F1 at equal sample counts.

    .venv/bin/python scripts/audit_bench_samples.py BENCH_OUT DATASET GOLD.jsonl [--labels a,b]

Meant for the SIMULATED teacher, whose inputs are corpus sentences: a sample whose text is in
GOLD.jsonl is compared with its gold label (an integer label indexes --labels); for NER (rows
with tokens and tags) a sample agrees when its entities, (words, type), are the corpus's.
"dev F1 at n" is each method's dev F1 at the round whose training set is nearest EvoKD's final
one.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def rows(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():  # seeds_only and full_shot log no samples
        return
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def finished_runs(out: Path, dataset: str, method: str) -> list[Path]:
    found = []
    for cell in sorted((out / "runs" / dataset / method).glob("b*/s*/bench.json")):
        run = cell.parent / json.loads(cell.read_text())["run_dir"]
        if (run / "final.json").is_file():
            found.append(run)
    return found


def key(sample: dict[str, Any]) -> str:
    """How a sample's input is found in the corpus: its words (NER) or its text."""
    if sample.get("tokens"):
        return " ".join(sample["tokens"])
    return str(sample.get("text") or "").strip()


def entities(tokens: list[str], tags: list[str]) -> set[tuple[str, str]]:
    """(surface, type) of every entity of BIO-tagged words."""
    found: set[tuple[str, str]] = set()
    words: list[str] = []
    kind = ""
    for word, tag in [*zip(tokens, tags, strict=False), ("", "O")]:
        if words and not (tag.startswith("I-") and tag[2:] == kind):
            found.add((" ".join(words), kind))
            words = []
        if tag.startswith("B-") or (tag.startswith("I-") and not words):
            words, kind = [word], tag[2:]
        elif tag.startswith("I-"):
            words.append(word)
    return found


def answer(sample: dict[str, Any]) -> Any:
    """The sample's label (classification) or its entities (NER: from its tags, or the
    (text, type) list LLKD's pool rows carry)."""
    if sample.get("tags"):
        return entities(sample["tokens"], sample["tags"])
    if isinstance(sample.get("entities"), list):
        return {(str(e["text"]), str(e["type"])) for e in sample["entities"]}
    return sample.get("label")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("dataset")
    parser.add_argument("gold", type=Path)
    parser.add_argument("--labels", default="negative,positive")
    args = parser.parse_args()
    names = args.labels.split(",")
    gold: dict[str, Any] = {}
    for r in rows(args.gold):
        if "tokens" in r:  # NER: the sentence's words and its entities
            gold[" ".join(r["tokens"])] = entities(r["tokens"], r["tags"])
        else:
            gold[str(r["text"]).strip()] = (
                names[r["label"]] if isinstance(r["label"], int) else r["label"]
            )
    methods = sorted(p.name for p in (args.out / "runs" / args.dataset).iterdir())
    evokd = finished_runs(args.out, args.dataset, "evokd")
    target = statistics.fmean(list(rows(r / "metrics.jsonl"))[-1]["n_train"] for r in evokd)
    print(f"dev F1 at n: the round nearest {target:.0f} training samples (EvoKD's final mean)")
    for method in methods:
        runs = finished_runs(args.out, args.dataset, method)
        accepted = [[s for s in rows(r / "samples.jsonl") if s.get("accepted")] for r in runs]
        tokens = [json.loads((r / "final.json").read_text())["tokens_spent"] for r in runs]
        n = sum(len(a) for a in accepted)
        known = [(key(s), s) for a in accepted for s in a if key(s) in gold]
        right = sum(gold[k] == answer(s) for k, s in known)
        at_n = [
            min(rows(r / "metrics.jsonl"), key=lambda m: abs(m["n_train"] - target))["dev_f1"]
            for r in runs
        ]
        print(
            f"{method:11s} runs {len(runs)}  accepted {n / max(1, len(runs)):6.1f}  "
            f"tokens/sample {sum(tokens) / n if n else float('nan'):6.1f}  "
            f"label agreement {right / len(known) if known else float('nan'):.3f} "
            f"({len(known)} of {n} in the corpus)  dev F1 at n {statistics.fmean(at_n):.3f}"
        )


if __name__ == "__main__":
    main()
