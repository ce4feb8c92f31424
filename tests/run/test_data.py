"""The run's data: seeds drawn per class with a seed, dev/test subsets, the unlabeled pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from evokd_agent.config.data import draw_seeds, load_run_data
from evokd_agent.config.run_config import load_run_config
from evokd_agent.errors import EvokdError
from evokd_agent.student.data import NerSample, TextSample
from tests.run.conftest import ConfigWriter, write_jsonl


def test_seeds_are_drawn_per_class_reproducibly(write_config: ConfigWriter) -> None:
    config = load_run_config(write_config(data={
        "train": "data/train.jsonl", "seeds_per_class": 2, "dev": "data/dev.jsonl",
    }))  # fmt: skip
    data = load_run_data(config)
    labels = [s.label for s in data.seeds if isinstance(s, TextSample)]
    assert sorted(labels) == ["negative", "negative", "positive", "positive"]
    assert load_run_data(config).seeds == data.seeds
    other = load_run_data(config.model_copy(update={"seed": 1}))
    assert other.seeds != data.seeds  # 5 candidates per label: another seed, another draw


def test_not_enough_samples_of_a_label(write_config: ConfigWriter) -> None:
    config = load_run_config(write_config(data={
        "train": "data/train.jsonl", "seeds_per_class": 6, "dev": "data/dev.jsonl",
    }))  # fmt: skip
    with pytest.raises(EvokdError, match="5 unused samples of label 'negative', 6 needed"):
        load_run_data(config)


def test_limits_subset_dev_and_pool(write_config: ConfigWriter, data_dir: Path) -> None:
    write_jsonl(data_dir / "pool.jsonl", [{"text": f"pool {i}"} for i in range(20)])
    config = load_run_config(write_config(data={
        "seeds": "data/train.jsonl", "dev": "data/train.jsonl", "dev_limit": 3,
        "pool": "data/pool.jsonl", "pool_limit": 4,
    }))  # fmt: skip
    data = load_run_data(config)
    assert len(data.seeds) == 10 and len(data.dev) == 3 and len(data.pool) == 4
    assert len(set(data.pool)) == 4 and all(t.startswith("pool ") for t in data.pool)
    assert data.test is None


def test_ner_seeds_cover_every_entity_type() -> None:
    samples = [
        NerSample(("Bob", "ran"), ("B-person", "O")),
        NerSample(("in", "Paris"), ("O", "B-location")),
        NerSample(("Ann", "in", "Rome"), ("B-person", "O", "B-location")),
    ]
    seeds = draw_seeds(samples, ["person", "location"], 1, seed=3)
    assert len(seeds) == 2 and len(set(seeds)) == 2
    tags = {t for s in seeds if isinstance(s, NerSample) for t in s.tags}
    assert {"B-person", "B-location"} <= tags


def test_pool_from_a_saved_datasets_object_with_gold_for_analysis(
    write_config: ConfigWriter, data_dir: Path
) -> None:
    import datasets

    rows = {"text": [f"pool {i}" for i in range(6)], "label": [i % 2 for i in range(6)]}
    datasets.Dataset.from_dict(rows).save_to_disk(str(data_dir / "pool_ds"))
    config = load_run_config(write_config(data={
        "seeds": "data/train.jsonl", "dev": "data/train.jsonl", "pool": "data/pool_ds",
    }))  # fmt: skip
    data = load_run_data(config)
    assert data.pool == rows["text"]
    assert data.pool_gold["pool 1"] == config.labels[1]  # integer labels map to names


def test_a_folder_that_is_not_a_saved_dataset_is_refused(
    write_config: ConfigWriter, data_dir: Path
) -> None:
    (data_dir / "not_a_dataset").mkdir()
    with pytest.raises(EvokdError, match="save_to_disk"):
        load_run_config(write_config(data={
            "seeds": "data/train.jsonl", "dev": "data/train.jsonl", "pool": "data/not_a_dataset",
        }))  # fmt: skip
