"""The run's data: seeds (read or drawn per class), dev/test subsets and the unlabeled pool."""

from __future__ import annotations

import csv
import importlib
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from evokd_agent.config.run_config import RunConfig
from evokd_agent.errors import EvokdError
from evokd_agent.student.data import NerSample, TextSample, load_ner_samples, load_text_samples
from evokd_agent.student.ner import normalize_tag_set
from evokd_agent.textfiles import utf8_errors

Samples = list[TextSample] | list[NerSample]
T = TypeVar("T")


@dataclass(frozen=True)
class RunData:
    """Everything the run reads from disk, already subset and checked."""

    seeds: Samples
    """Labelled seeds the student starts from (empty for full_shot without seeds)."""
    dev: Samples
    """Dev samples (at most `data.dev_limit`)."""
    test: Samples | None
    """Test samples (at most `data.test_limit`), or None without a test file."""
    train: Samples | None
    """The labelled train file when one is configured (at most `data.train_limit` samples):
    full_shot trains on it."""
    pool: list[str]
    """Unlabeled pool texts (at most `data.pool_limit`); empty without a pool file."""
    pool_gold: dict[str, Any] = field(default_factory=dict)
    """Gold label (or BIO tags) of pool texts whose rows carry one: for the run's analysis of
    teacher-label accuracy only, never shown to the teacher or used for selection."""


def load_run_data(config: RunConfig) -> RunData:
    """Load and subset every configured file; errors name the file and the problem."""
    data = config.data
    seed = config.seed if data.seeds_seed is None else data.seeds_seed
    train = _load(config, data.train) if data.train is not None else None
    seeds: Samples = []
    if data.seeds is not None:
        seeds = _load(config, data.seeds)
    elif train is not None and data.seeds_per_class is not None:
        seeds = train
    if data.seeds_per_class is not None and seeds:
        source = data.seed_source
        seeds = draw_seeds(seeds, config.labels, data.seeds_per_class, seed, source=str(source))
    if train is not None:
        # After the seed draw, so a limit for fast full-shot runs never changes the seeds.
        train = _subset(train, data.train_limit, config.seed)
    dev = _subset(_load(config, data.dev), data.dev_limit, config.seed)
    test = _subset(_load(config, data.test), data.test_limit, config.seed) if data.test else None
    # One pass over the pool file: the texts, and gold labels for the run's analysis only.
    rows = read_pool(data.pool, config.labels) if data.pool else []
    rows = subset(rows, data.pool_limit, config.seed)
    pool = [text for text, _ in rows]
    gold = {text: value for text, value in rows if value is not None}
    return RunData(seeds=seeds, dev=dev, test=test, train=train, pool=pool, pool_gold=gold)


def _load(config: RunConfig, path: Path) -> Samples:
    if config.task == "ner":
        return load_ner_samples(path, normalize_tag_set(config.labels))
    return load_text_samples(path, config.labels)


def _subset(samples: Samples, limit: int | None, seed: int) -> Samples:
    return cast(Samples, subset(cast(list[Any], samples), limit, seed))


def subset(items: list[T], limit: int | None, seed: int) -> list[T]:
    """At most `limit` items, a fixed random choice for `seed`, in their original order."""
    if limit is None or len(items) <= limit:
        return items
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


def draw_seeds(
    samples: Samples, labels: Sequence[str], per_class: int, seed: int, *, source: str = "data"
) -> Samples:
    """`per_class` random samples of each label (NER: sentences with each entity type)."""
    rows = cast(Sequence[TextSample | NerSample], samples)
    rng = random.Random(seed)
    chosen: list[int] = []
    taken: set[int] = set()
    for label in labels:
        candidates = [i for i, s in enumerate(rows) if i not in taken and _has_label(s, label)]
        if len(candidates) < per_class:
            raise EvokdError(
                f"{source} has {len(candidates)} unused samples of label {label!r}, "
                f"{per_class} needed as seeds",
                "lower data.seeds_per_class or use a file with more samples of that label",
            )
        picked = rng.sample(candidates, per_class)
        chosen += picked
        taken.update(picked)
    return cast(Samples, [rows[i] for i in chosen])


def _has_label(sample: TextSample | NerSample, label: str) -> bool:
    if isinstance(sample, TextSample):
        return sample.label == label
    return f"B-{label}" in sample.tags


def read_texts(path: Path) -> list[str]:
    """Texts of an unlabeled file: its `text` field, or its `tokens` joined by spaces."""
    return [text for text, _ in read_pool(path)]


def read_pool(path: Path, labels: Sequence[str] = ()) -> list[tuple[str, Any]]:
    """(text, gold) per row of an unlabeled file: the text as `read_texts` reads it, and its
    `label` (or `tags`) where the row has one, else None (an integer label is an index into
    `labels`, as the sample loaders read it)."""
    rows: list[tuple[str, Any]] = []
    for where, row in _rows(path):
        value = row.get("text")
        if value is None and isinstance(row.get("tokens"), list):
            value = " ".join(str(t) for t in row["tokens"])
        if not isinstance(value, str) or not value.strip():
            raise EvokdError(
                f"{where}: needs a non-empty 'text' field (or a 'tokens' list)",
                "fix or remove that row",
            )
        gold = row.get("label", row.get("tags"))
        if isinstance(gold, int) and 0 <= gold < len(labels):
            gold = labels[gold]
        rows.append((value, gold))
    if not rows:
        raise EvokdError(f"pool file {path} has no texts", "point data.pool at a file with texts")
    return rows


def _rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if path.is_dir():  # a `datasets` object saved with save_to_disk
        datasets: Any = importlib.import_module("datasets")
        for i, row in enumerate(datasets.load_from_disk(str(path))):
            yield f"{path}, row {i}", dict(row)
    elif suffix == ".parquet":
        pq: Any = importlib.import_module("pyarrow.parquet")
        for i, row in enumerate(pq.read_table(path).to_pylist()):
            yield f"{path}, row {i}", row
    elif suffix in (".csv", ".tsv"):
        with utf8_errors(path), path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
            for row in reader:
                yield f"{path}, line {reader.line_num}", dict(row)
    else:
        with utf8_errors(path), path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise EvokdError(
                        f"{path}, line {n}: not valid JSON ({e.msg})", "fix or remove that row"
                    ) from None
                if not isinstance(row, dict):
                    raise EvokdError(
                        f"{path}, line {n}: expected a JSON object", "fix or remove that row"
                    )
                yield f"{path}, line {n}", row
