"""`evokd bench`: cells run through `evokd run`, reused on a second call, and aggregated."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path
from typing import Any

import pytest
import yaml

from evokd_agent.cli import main
from evokd_agent.errors import EvokdError
from evokd_agent.run.bench import parse_ints, parse_methods, teacher_override
from evokd_agent.run.bench_report import describe_teacher
from evokd_agent.testing.fake_server import FakeOpenAIServer
from tests.methods.test_baselines import Teacher, make_config


def finals(out: Path, method: str, budget: int) -> list[dict[str, Any]]:
    cells = sorted((out / "runs" / "bench-data" / method / f"b{budget}").glob("s*/*/final.json"))
    return [json.loads(path.read_text()) for path in cells]


def test_bench_runs_reuses_and_aggregates(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench"
    with FakeOpenAIServer(handler=Teacher()) as server:
        config = make_config(tmp_path, server.base_url, tiny_model_dir, "evokd", name="bench-data")
        argv = ["bench", str(config), "--methods", "zerogen,seeds_only,llkd", "--seeds", "1,2"]
        argv += ["--budgets", "50000", "--out", str(out), "--max-rounds", "1", "--no-progress"]
        assert main(argv) == 0
        sent = len(server.requests)
        assert sent == 2 * 4  # 2 seeds x 4 inputs, one round each (ZeroGen keeps its labels)
        printed = capsys.readouterr().out
        assert main(argv) == 0  # every finished cell is reused: nothing sent again
        assert len(server.requests) == sent
    assert "| bench-data | zerogen | 50,000 | 2 |" in printed
    assert f"fake-model at {server.base_url}" in printed

    zerogen, seeds_only = finals(out, "zerogen", 50000), finals(out, "seeds_only", 0)
    assert len(zerogen) == 2 and len(seeds_only) == 2
    assert all(f["tokens_spent"] == 0 for f in seeds_only)
    cell = yaml.safe_load((out / "runs/bench-data/seeds_only/b0/s1/cell.yaml").read_text())
    assert cell["teacher"]["model"] == "no-teacher"  # no teacher started for 0-token methods
    with (out / "table.csv").open() as f:
        rows = {r["method"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"zerogen", "seeds_only"}  # llkd: no data.pool, skipped
    for method, runs in (("zerogen", zerogen), ("seeds_only", seeds_only)):
        row = rows[method]
        assert int(row["n_seeds"]) == 2
        for key, name in (("macro_f1", "macro_f1"), ("accuracy", "accuracy")):
            values = [r["test"][name] for r in runs]
            assert float(row[f"test_{key}_mean"]) == pytest.approx(statistics.fmean(values))
            assert float(row[f"test_{key}_std"]) == pytest.approx(statistics.stdev(values))
        tokens = statistics.fmean(r["tokens_spent"] for r in runs)
        assert float(row["tokens_spent_mean"]) == pytest.approx(tokens)
        assert row["test_entity_f1_mean"] == ""
    assert rows["seeds_only"]["budget"] == "0" and float(rows["zerogen"]["tokens_spent_mean"]) > 0

    table = (out / "table.md").read_text()
    mean = statistics.fmean(r["test"]["macro_f1"] for r in zerogen)
    std = statistics.stdev(r["test"]["macro_f1"] for r in zerogen)
    assert f"{mean:.4f} ± {std:.4f}" in table
    assert "llkd b50000 s1: skipped (method llkd pseudo-labels an unlabeled pool" in table
    assert (out / "f1_vs_tokens_bench-data.png").stat().st_size > 0
    assert len((out / "runs.csv").read_text().splitlines()) == 1 + 4


def test_teacher_override(tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"text": "a fine day", "label": 1}) + "\n")
    (tmp_path / "dev.jsonl").write_text(json.dumps({"text": "a dull day", "label": 0}) + "\n")
    record: dict[str, Any] = {
        "teacher": {"base_url": "http://127.0.0.1:1/v1", "model": "m"},
        "data": {"train": str(train), "dev": str(tmp_path / "dev.jsonl"), "test": None},
    }
    url = teacher_override(record, "http://host:8000/v1", "big-model")
    assert url["base_url"] == "http://host:8000/v1" and url["model"] == "big-model"
    assert teacher_override(record, "embedded")["base_url"] == "embedded"
    simulated = teacher_override(record, "simulated")
    assert simulated["simulated"] == {
        "corpus": str(train),
        "exclude": [str(tmp_path / "dev.jsonl")],
    }
    assert describe_teacher(simulated).startswith("SIMULATED teacher, not an LLM")
    with pytest.raises(EvokdError, match=r"no data\.train"):
        teacher_override({**record, "data": {"train": None}}, "simulated")
    with pytest.raises(EvokdError, match="not embedded, simulated nor an http"):
        teacher_override(record, "ftp://x")


def test_bad_lists_are_clear_errors() -> None:
    assert parse_ints("1, 2,2,3", "seeds") == (1, 2, 3)
    assert parse_ints("20_000,40000", "budgets", minimum=1) == (20000, 40000)
    with pytest.raises(EvokdError, match="'x' is not an integer"):
        parse_ints("1,x", "seeds")
    with pytest.raises(EvokdError, match="below 1"):
        parse_ints("0", "budgets", minimum=1)
    assert parse_methods("eda, seeds_only,eda") == ("eda", "seeds_only")
    with pytest.raises(EvokdError, match="unknown or unsupported method 'evokdd'"):
        parse_methods("evokdd")


def test_bench_config_with_an_api_key_is_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    config = make_config(tmp_path, "http://127.0.0.1:1/v1", tiny_model_dir, "evokd")
    raw = yaml.safe_load(config.read_text())
    raw["teacher"]["api_key"] = "sk-secret"
    config.write_text(yaml.safe_dump(raw))
    code = main(["bench", str(config), "--methods", "eda", "--out", str(tmp_path / "o")])
    assert code == 2
