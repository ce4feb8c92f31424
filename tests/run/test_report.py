"""`evokd report`: a real PNG, and Markdown/HTML summaries computed from the run's records."""

from __future__ import annotations

import argparse
import random
import re
import shutil
from pathlib import Path

import pytest

from evokd_agent.cli.report import add_report_parser
from evokd_agent.config.run_config import RunConfig
from evokd_agent.errors import EvokdError
from evokd_agent.report.writer import write_report
from evokd_agent.rundir.records import RoundMetrics, RunState, SampleRecord
from evokd_agent.rundir.store import RunStore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def classification_dev(f1: float, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    wrong_neg, wrong_pos = rng.randint(1, 9), rng.randint(10, 19)
    return {
        "task": "classification",
        "accuracy": f1,
        "macro_f1": f1,
        "per_class_f1": {"negative": round(f1 - 0.05, 4), "positive": round(f1 + 0.05, 4)},
        "support": {"negative": 50, "positive": 50},
        "labels": ["negative", "positive"],
        "confusion": [[50 - wrong_neg, wrong_neg], [wrong_pos, 50 - wrong_pos]],
        "n": 100,
    }


@pytest.fixture
def run(tmp_path: Path, config: RunConfig) -> RunStore:
    """A run with 5 rounds of random but fixed scores, samples with rejections, and a ledger."""
    store = RunStore.create(tmp_path / "runs", config)
    rng = random.Random(7)
    tokens = 0
    for r in range(5):
        tokens += rng.randint(300, 900)
        dev = round(rng.uniform(0.4, 0.9), 4)
        store.append_metrics(
            RoundMetrics(
                round=r,
                tokens_spent=tokens if r else 0,
                dev_f1=dev,
                test_f1=round(dev - 0.02, 4) if r % 2 == 0 else None,
                n_train=2 + 8 * r,
                wall_seconds=12.5,
                dev=classification_dev(dev, r),
            )
        )
    reasons = ["label_not_in_set"] * 3 + ["duplicate_of_eval"] * 2 + ["near_duplicate"]
    store.append_samples(
        [SampleRecord(round=1, phase="hard", text=f"t{i}", label="positive", accepted=True)
         for i in range(7)]
        + [SampleRecord(round=2, phase="easy", text=f"r{i}", accepted=False, reason=reason)
           for i, reason in enumerate(reasons)]
    )  # fmt: skip
    store.write_state(RunState(round_completed=4, finished=True, stop_reason="dev F1 plateaued"))
    store.write_json(
        "ledger.json",
        {
            "budget": config.budget_tokens,
            "stopped": "the teacher reported 900 completion tokens for a request limited to 96",
            "total": {"overruns": 1, "overrun_tokens": 804},
            "spend": [
                {
                    "phase": "generation",
                    "round": 1,
                    "prompt_tokens": 400,
                    "completion_tokens": 200,
                    "cached_prompt_tokens": 300,
                },
                # A row written before prompt caching was read: no cached_prompt_tokens field.
                {"phase": "labelling", "round": 1, "prompt_tokens": 150, "completion_tokens": 5},
                {
                    "phase": "generation",
                    "round": 2,
                    "prompt_tokens": 100,
                    "completion_tokens": 50,
                    "cached_prompt_tokens": 80,
                },
                # Answers a resumed run replayed from its cache are charged like new ones.
                {"phase": "analysis", "round": 1, "replayed_tokens": 90, "cache_hits": 1},
            ],
        },
    )
    return store


def test_report_writes_a_png_markdown_and_html(run: RunStore) -> None:
    paths = write_report(run.path)
    png = paths.plot.read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 5000

    metrics = run.read_metrics()
    best = max(metrics, key=lambda m: m.dev_f1)
    md = paths.markdown.read_text()
    assert f"Best dev F1: {best.dev_f1:.4f} at round {best.round}" in md
    assert f"Final dev F1: {metrics[-1].dev_f1:.4f}" in md
    assert "![F1 against teacher tokens](f1_vs_tokens.png)" in md
    assert "dev F1 plateaued" in md
    # Rejections counted by reason from samples.jsonl, most frequent first.
    assert re.search(r"\| label_not_in_set \| 3 \|.*\n\| duplicate_of_eval \| 2 \|", md)
    assert "| hard | 7 | 0 |" in md and "| easy | 0 | 6 |" in md
    # Tokens by phase summed from the ledger, prefix-cached prompt tokens apart.
    assert "| generation | 750 | 75.4% | 380 |" in md and "| labelling | 155 | 15.6% | 0 |" in md
    assert "| analysis | 90 | 9.0% | 0 |" in md
    assert "(380 prompt tokens from the provider's prefix cache, counted in full)" in md
    assert "; 1 replies used more than their reservation (+804 tokens)" in md
    assert "sending stopped early: the teacher reported 900 completion tokens" in md
    # The best round's per-class scores and its most frequent confusion.
    positive = best.dev["per_class_f1"]["positive"]
    assert f"| positive | {positive:.4f} | 50 |" in md
    wrong = best.dev["confusion"][1][0]
    assert f"| positive | negative | {wrong} |" in md

    page = paths.html.read_text()
    assert page.startswith("<!doctype html>")
    assert 'src="data:image/png;base64,iVBORw0KGgo' in page
    assert f"{best.dev_f1:.4f}" in page


def test_report_handles_a_run_without_rounds(tmp_path: Path, config: RunConfig) -> None:
    store = RunStore.create(tmp_path, config)
    paths = write_report(store.path)
    assert paths.plot.read_bytes().startswith(PNG_SIGNATURE)
    md = paths.markdown.read_text()
    assert "No rounds completed yet" in md and "No samples recorded" in md


def test_report_handles_a_single_round(tmp_path: Path, config: RunConfig) -> None:
    store = RunStore.create(tmp_path, config)
    store.append_metrics(RoundMetrics(round=0, tokens_spent=0, dev_f1=0.6123, n_train=2))
    paths = write_report(store.path)
    assert paths.plot.stat().st_size > 0
    assert "Best dev F1: 0.6123 at round 0" in paths.markdown.read_text()


def test_report_reads_a_run_whose_data_moved(run: RunStore, config: RunConfig) -> None:
    assert config.data.dev.is_file()
    shutil.rmtree(config.data.dev.parent)
    assert write_report(run.path).markdown.is_file()


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(EvokdError, match="not a run directory"):
        write_report(tmp_path)


def test_cli_report_writes_to_out(
    run: RunStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="evokd")
    add_report_parser(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "out"
    args = parser.parse_args(["report", str(run.path), "--out", str(out)])
    assert args.func(args) == 0
    assert (out / "report.html").is_file() and (out / "f1_vs_tokens.png").is_file()
    assert str(out / "report.md") in capsys.readouterr().out
