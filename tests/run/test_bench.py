"""`evokd bench`: cells run through `evokd run`, reused on a second call, and aggregated."""

from __future__ import annotations

import csv
import json
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from evokd_agent.bench.cells import (
    SAFETY_MAX_ROUNDS,
    BenchSpec,
    changed_rounds,
    parse_ints,
    parse_methods,
    plan_cells,
    teacher_override,
)
from evokd_agent.bench.results import describe_teacher
from evokd_agent.cli.main import main
from evokd_agent.errors import EvokdError
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply
from tests.methods.test_baselines import Teacher, make_config

CACHED = 7
"""Prompt tokens every fake reply reports as served from the provider's prefix cache."""


class CachingTeacher(Teacher):
    """The baselines' fake teacher, as a provider with prefix caching would answer."""

    def __call__(self, body: dict[str, Any]) -> FakeReply:
        return replace(super().__call__(body), cached_tokens=CACHED)


def finals(out: Path, method: str, budget: int) -> list[dict[str, Any]]:
    cells = sorted((out / "runs" / "bench-data" / method / f"b{budget}").glob("s*/*/final.json"))
    return [json.loads(path.read_text()) for path in cells]


def run_dirs(out: Path, method: str, budget: int) -> list[Path]:
    cells = (out / "runs" / "bench-data" / method / f"b{budget}").glob("s*/*/final.json")
    return sorted(path.parent for path in cells)


def accepted(run: Path) -> int:
    """Samples of a run that joined its training data, read from samples.jsonl."""
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    return sum(r["accepted"] and r["phase"] != "seed" for r in rows)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_bench_runs_reuses_and_aggregates(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench"
    with FakeOpenAIServer(handler=CachingTeacher()) as server:
        config = make_config(tmp_path, server.base_url, tiny_model_dir, "evokd", name="bench-data")
        argv = ["bench", str(config), "--methods", "zerogen,seeds_only,llkd", "--seeds", "1,2"]
        argv += ["--budgets", "50000", "--out", str(out), "--max-rounds", "1", "--no-progress"]
        assert main(argv) == 0
        sent = len(server.requests)
        assert sent > 0
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

    # Spend: share of the budget, prefix-cached prompt tokens, accepted samples, tokens per one.
    zerogen_runs = run_dirs(out, "zerogen", 50000)
    spent = [f["tokens_spent"] for f in zerogen]
    taken = [accepted(run) for run in zerogen_runs]
    # 1 round of 4 batches of 4 inputs (2 per label); ZeroGen keeps its labels
    assert taken == [16, 16]
    ledgers = [json.loads((run / "ledger.json").read_text()) for run in zerogen_runs]
    cached = [ledger["total"]["cached_prompt_tokens"] for ledger in ledgers]
    assert cached == [CACHED * ledger["total"]["requests"] for ledger in ledgers]
    row = rows["zerogen"]
    pct = statistics.fmean(100 * t / 50000 for t in spent)
    assert float(row["budget_spent_pct_mean"]) == pytest.approx(pct, abs=0.01)
    assert float(row["cached_prompt_tokens_mean"]) == pytest.approx(statistics.fmean(cached))
    assert float(row["accepted_samples_mean"]) == pytest.approx(statistics.fmean(taken))
    assert float(row["tokens_per_accepted_sample"]) == pytest.approx(sum(spent) / sum(taken))
    nothing = rows["seeds_only"]
    assert nothing["budget_spent_pct_mean"] == nothing["tokens_per_accepted_sample"] == ""
    assert float(nothing["accepted_samples_mean"]) == 0
    per_run = {(r["method"], r["seed"]): r for r in csv_rows(out / "runs.csv")}
    for seed, run, tokens, n, c in zip((1, 2), zerogen_runs, spent, taken, cached, strict=True):
        r = per_run[("zerogen", str(seed))]
        assert r["run_dir"] == run.relative_to(out).as_posix()  # no machine path
        assert (int(r["tokens_spent"]), int(r["accepted_samples"])) == (tokens, n)
        assert int(r["cached_prompt_tokens"]) == c
        assert float(r["tokens_per_accepted_sample"]) == pytest.approx(tokens / n)
        assert r["stop_reason"] == "round limit reached: 1 of max_rounds 1"

    table = (out / "table.md").read_text()
    mean = statistics.fmean(r["test"]["macro_f1"] for r in zerogen)
    std = statistics.stdev(r["test"]["macro_f1"] for r in zerogen)
    assert f"{mean:.4f} ± {std:.4f}" in table
    assert "llkd b50000 s1: skipped (method llkd pseudo-labels an unlabeled pool" in table
    assert (out / "f1_vs_tokens_bench-data.png").stat().st_size > 0
    assert len((out / "runs.csv").read_text().splitlines()) == 1 + 4
    assert "At most 1 round(s) per run (--max-rounds)" in table
    assert "## Runs that ended before their budget was spent" in table
    assert "- bench-data zerogen b50000 s1: round limit reached: 1 of max_rounds 1" in table
    header = next(line for line in table.splitlines() if line.startswith("| data set"))
    for column in ("tokens spent", "% of budget", "cached prompt tokens", "accepted samples"):
        assert f"| {column} |" in header
    assert "| tokens / accepted sample |" in header


def test_bench_spends_each_teacher_budget_by_default(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, budget = tmp_path / "bench", 6000
    with FakeOpenAIServer(handler=Teacher()) as server:
        config = make_config(tmp_path, server.base_url, tiny_model_dir, "evokd", name="bench-data")
        argv = ["bench", str(config), "--methods", "zerogen,eda,seeds_only", "--seeds", "1"]
        argv += ["--budgets", str(budget), "--out", str(out), "--no-progress"]
        assert main(argv) == 0
        table = capsys.readouterr().out

    [zerogen] = run_dirs(out, "zerogen", budget)
    state = json.loads((zerogen / "state.json").read_text())
    final = json.loads((zerogen / "final.json").read_text())
    assert state["stop_reason"].startswith("token budget")  # ended cleanly by the budget
    assert final["rounds"] > 2  # past the config's max_rounds (2): the budget ended it
    assert 0.75 * budget <= final["tokens_spent"] <= budget
    cell = yaml.safe_load((zerogen.parent / "cell.yaml").read_text())
    assert cell["max_rounds"] == SAFETY_MAX_ROUNDS and cell["stop"]["min_delta"] == 0
    # Methods without a teacher run as configured: eda its 2 rounds, seeds_only round 0 only.
    [eda], [seeds_only] = run_dirs(out, "eda", 0), run_dirs(out, "seeds_only", 0)
    assert json.loads((eda / "final.json").read_text())["rounds"] == 2
    assert json.loads((seeds_only / "final.json").read_text())["rounds"] == 0

    row = {r["method"]: r for r in csv_rows(out / "table.csv")}["zerogen"]
    assert float(row["budget_spent_pct_mean"]) == pytest.approx(
        100 * final["tokens_spent"] / budget, abs=0.01
    )
    assert float(row["accepted_samples_mean"]) == accepted(zerogen) > 0
    assert "Equal spend: each method that calls the teacher ran until its budget" in table
    assert "Runs that ended before their budget was spent" not in table

    # Asked for other rounds, the finished cells are not silently reused (nor run again).
    assert main([*argv, "--max-rounds", "3"]) == 1
    assert "was run with max_rounds 100 (now 3); stop {" in capsys.readouterr().err
    assert run_dirs(out, "zerogen", budget) == [zerogen]


def test_equal_spend_is_planned_for_teacher_methods_only(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    config = make_config(tmp_path, "http://127.0.0.1:1/v1", tiny_model_dir, "evokd")
    spec = BenchSpec(
        configs=(config,),
        methods=("evokd", "llkd", "zerogen", "auggpt", "eda", "seeds_only"),
        seeds=(1,),
        budgets=None,
        out=tmp_path / "out",
    )
    cells = {c.method: c for c in plan_cells(spec)}
    for method in ("evokd", "zerogen", "auggpt"):
        record = cells[method].record
        assert record is not None
        assert record["max_rounds"] == SAFETY_MAX_ROUNDS
        assert record["stop"]["min_delta"] == 0 and record["stop"]["min_gain_per_1k_tokens"] is None
        assert record["stop"]["patience_rounds"] == 10  # the config's, now inert
    for method in ("eda", "seeds_only"):
        record = cells[method].record
        assert record is not None and record["max_rounds"] == 2  # the config's
        assert record["stop"]["min_delta"] == 0.005
    assert cells["llkd"].skip is not None  # no data.pool in this config

    # A config asking for more rounds than the safety cap keeps them.
    raw = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**raw, "max_rounds": 500}))
    [cell] = plan_cells(replace(spec, methods=("zerogen",)))
    assert cell.record is not None and cell.record["max_rounds"] == 500

    # --max-rounds caps every run and keeps the config's early stop.
    capped = {c.method: c.record for c in plan_cells(replace(spec, max_rounds=3))}
    assert all(r is not None and r["max_rounds"] == 3 for r in capped.values() if r)
    zerogen = capped["zerogen"]
    assert zerogen is not None and zerogen["stop"]["min_delta"] == 0.005

    # A cell folder run under another round cap is not this bench's cell.
    [cell] = plan_cells(replace(spec, methods=("zerogen",), max_rounds=3))
    assert changed_rounds(cell) is None  # never run
    cell.directory.mkdir(parents=True)
    (cell.directory / "cell.yaml").write_text(
        yaml.safe_dump({**(cell.record or {}), "max_rounds": 4})
    )
    message = changed_rounds(cell)
    assert message is not None and "was run with max_rounds 4 (now 3); use another" in message
    (cell.directory / "cell.yaml").write_text(yaml.safe_dump(cell.record))
    assert changed_rounds(cell) is None


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
