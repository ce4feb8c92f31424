"""Every shipped example config loads, and its data files are found."""

from __future__ import annotations

from pathlib import Path

import pytest

from evokd_agent.config.run_config import load_run_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFIGS = sorted(EXAMPLES.glob("*.yaml")) + sorted(EXAMPLES.glob("*.toml"))
BENCH_CONFIGS = sorted((EXAMPLES / "bench").glob("*.yaml"))


def test_the_three_documented_examples_exist() -> None:
    names = {p.name for p in CONFIGS}
    assert {"sst2_1shot.yaml", "wnut17_1shot.yaml", "sst2_llkd.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_loads(path: Path) -> None:
    config = load_run_config(path)
    assert config.teacher.is_embedded
    assert config.data.dev.is_file()
    # shared/ sits beside the checkout (it may be a symlink: compare resolved paths).
    assert config.data.dev.is_relative_to((EXAMPLES.parents[1] / "shared" / "data").resolve())
    if config.method == "llkd":
        assert config.data.pool is not None and config.data.pool_limit is not None


@pytest.mark.parametrize("path", BENCH_CONFIGS, ids=lambda p: p.name)
def test_bench_config_loads(path: Path) -> None:
    config = load_run_config(path)
    assert config.teacher.is_embedded or config.teacher.is_simulated
    assert config.data.train is not None and config.data.train.is_file()  # full_shot
    assert config.data.pool is not None  # llkd
    if config.teacher.simulated is not None:
        # The simulated teacher serves the train split and never the evaluation files.
        assert config.teacher.simulated.corpus == config.data.train
        assert config.data.dev in config.teacher.simulated.exclude
        assert config.data.test in config.teacher.simulated.exclude
