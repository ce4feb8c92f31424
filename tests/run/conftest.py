"""Tiny data files and config files for the run-layer tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from evokd_agent.config.run_config import RunConfig

ConfigWriter = Callable[..., Path]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """data/{train,dev,test}.jsonl for a 2-label task with integer labels, like SST-2."""
    data = tmp_path / "data"
    write_jsonl(
        data / "train.jsonl",
        [{"text": f"train text number {i}", "label": i % 2} for i in range(10)],
    )
    write_jsonl(
        data / "dev.jsonl", [{"text": "a fine film", "label": 1}, {"text": "dull", "label": 0}]
    )
    write_jsonl(
        data / "test.jsonl", [{"text": "great fun", "label": 1}, {"text": "bad", "label": 0}]
    )
    return data


def base_config(**overrides: Any) -> dict[str, Any]:
    """A valid config as plain data, with paths relative to a config in the tmp folder."""
    config: dict[str, Any] = {
        "name": "unit",
        "task": "classification",
        "task_description": "sentiment of movie reviews",
        "labels": ["negative", "positive"],
        "data": {
            "train": "data/train.jsonl",
            "seeds_per_class": 1,
            "dev": "data/dev.jsonl",
            "test": "data/test.jsonl",
        },
        "budget_tokens": 5000,
        "max_rounds": 3,
    }
    config.update(overrides)
    return config


@pytest.fixture
def write_config(tmp_path: Path, data_dir: Path) -> ConfigWriter:
    """Write `base_config(**overrides)` as YAML next to data/ and return its path."""

    def write(filename: str = "run.yaml", **overrides: Any) -> Path:
        path = tmp_path / filename
        path.write_text(yaml.safe_dump(base_config(**overrides)), encoding="utf-8")
        return path

    return write


@pytest.fixture
def config(write_config: ConfigWriter) -> RunConfig:
    from evokd_agent.config.run_config import load_run_config

    return load_run_config(write_config())
