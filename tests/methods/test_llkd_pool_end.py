"""LLKD whose unlabeled pool runs out finishes there, rather than retraining on the same data
every round up to its round cap (which an equal-spend bench raises to 100)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from evokd_agent.run.runner import run_distillation
from evokd_agent.servers.fake import FakeOpenAIServer
from tests.methods.test_llkd_run import POOL, teacher
from tests.methods.test_run_integration import write_rows


async def test_llkd_finishes_when_its_pool_is_used_up(tmp_path: Path, tiny_model_dir: Path) -> None:
    seeds = write_rows(tmp_path / "seeds.jsonl", [("a good film", 1), ("a bad film", 0)])
    dev = write_rows(tmp_path / "dev.jsonl", [("dev good 1", 1), ("dev bad 1", 0)])
    pool = write_rows(tmp_path / "pool.jsonl", POOL)  # 12 texts: 2 rounds of 6
    with FakeOpenAIServer(handler=teacher) as server:
        config = {
            "name": "llkd-pool",
            "task": "classification",
            "task_description": "Is the review positive or negative?",
            "labels": ["negative", "positive"],
            "data": {"seeds": str(seeds), "dev": str(dev), "pool": str(pool)},
            "teacher": {"base_url": server.base_url, "model": "fake-model"},
            "student": {
                "model": str(tiny_model_dir),
                "train": {"min_steps": 2, "learning_rate": 5e-3, "progress": False, "seed": 0},
            },
            "method": "llkd",
            "budget_tokens": 1_000_000,
            "max_rounds": 50,
            "method_options": {"pool_per_round": 6},
            "stop": {"min_delta": 0},  # never a plateau: only the pool can end it early
            "evaluate_test": "never",
            "checkpoints": "none",
            "run_root": str(tmp_path / "runs"),
        }
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(config))
        outcome = await run_distillation(path, progress=False)
    rounds = [
        json.loads(line)["round"]
        for line in (outcome.run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    assert rounds == [0, 1, 2]
    assert outcome.final["rounds"] == 2
    assert outcome.stop_reason.startswith("score_confidence has nothing left to do")
    assert "pool is empty or used up" in outcome.stop_reason
