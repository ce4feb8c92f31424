"""`evokd run` end to end against the fake teacher: the agent's tool calls, the run directory,
and a run killed mid-round then resumed without sending any answered request twice."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from evokd_agent.distill.context import DistillContext
from evokd_agent.run.runner import run_distillation
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply
from tests.batches import (
    is_generation,
    item_count,
    items_reply,
    numbered_texts,
    plan,
)

ROUND: list[tuple[str, dict[str, Any]]] = [
    ("evaluate_student", {"split": "batch"}),
    ("sample_errors", {"max_wrong": 3, "max_correct": 2}),
    ("analyze_weakness", {}),
    ("generate_samples", {"n_hard": 2, "n_easy": 1}),
    ("label_samples", {}),
    ("train_student", {}),
]


class Teacher:
    """Answers like a cooperative teacher; agent decisions come from a script of tool calls."""

    def __init__(self, decisions: list[FakeReply]) -> None:
        self.decisions = decisions
        self.written = 0
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> FakeReply:
        last = body["messages"][-1]["content"] or ""
        if body.get("tools"):
            return self.decisions.pop(0) if self.decisions else FakeReply.tool_call("finish", {})
        if "explain which kinds" in last:
            return FakeReply.text("It confuses mild praise with criticism.")
        if is_generation(body):
            items = []
            labels: list[str | None] = [label for label, _ in plan(body)]
            for label in labels or [None] * item_count(body):
                with self.lock:
                    self.written += 1
                    n = self.written
                asked = label == "positive" if label else '"positive"' in last
                word = "good" if asked else "bad"
                items.append({"text": f"made up review number {n} was {word}"})
            return items_reply(items)
        texts = numbered_texts(last)
        if texts:
            return items_reply(
                [{"label": "positive" if "good" in t else "negative"} for t in texts]
            )
        if "Which label fits" in last:
            text = last.split("Text:")[-1]
            label = "positive" if "good" in text.split("\n")[0] else "negative"
            return FakeReply.text(json.dumps({"label": label}))
        return FakeReply.text("?")


def decisions_for(rounds: int) -> list[FakeReply]:
    out: list[FakeReply] = []
    for r in range(rounds):
        for name, args in ROUND:
            if r == 0 and name == "generate_samples":
                out.append(FakeReply.tool_call(name, {"n_hard": "lots"}))  # bad call: retried
            if r == 1 and name == "analyze_weakness":
                out.append(FakeReply.error(429, "slow down", retry_after=0.01))
            out.append(FakeReply.tool_call(name, args))
    out.append(FakeReply.tool_call("finish", {"reason": "three rounds done"}))
    return out


def write_rows(path: Path, rows: list[tuple[str, int]]) -> Path:
    path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
    return path


def make_config(tmp_path: Path, base_url: str, model_dir: Path, policy: str) -> Path:
    seeds = write_rows(tmp_path / "seeds.jsonl", [("a good film", 1), ("a bad film", 0)])
    dev = write_rows(
        tmp_path / "dev.jsonl",
        [(f"dev {w} movie {i}", int(w == "good")) for i in range(4) for w in ("good", "bad")],
    )
    test = write_rows(
        tmp_path / "test.jsonl",
        [(f"test {w} story {i}", int(w == "good")) for i in range(3) for w in ("good", "bad")],
    )
    config = {
        "name": "it",
        "task": "classification",
        "task_description": "Is the review positive or negative?",
        "labels": ["negative", "positive"],
        "data": {"seeds": str(seeds), "dev": str(dev), "test": str(test)},
        "teacher": {"base_url": base_url, "model": "fake-model", "max_concurrency": 4},
        "student": {
            "model": str(model_dir),
            "train": {"min_steps": 4, "learning_rate": 5e-3, "progress": False, "seed": 0},
        },
        "method": "evokd",
        "policy": policy,
        "budget_tokens": 200_000,
        "max_rounds": 3,
        "samples_per_round": {"hard": 2, "easy": 1},
        "stop": {"patience_rounds": 10},
        "evaluate_test": "end",
        "run_root": str(tmp_path / "runs"),
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_llm_policy_three_rounds_writes_the_run_directory(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    teacher = Teacher(decisions_for(3))
    with FakeOpenAIServer(handler=teacher) as server:
        config = make_config(tmp_path, server.base_url, tiny_model_dir, "llm")
        outcome = await run_distillation(config, progress=False)
        statuses = [r for r in server.requests if r.get("tools")]
    run = outcome.run_dir
    assert teacher.decisions == []  # every scripted decision was asked for
    assert len(statuses) == 3 * 6 + 3  # + the bad call's correction turn, the 429 retry, finish

    metrics = read_jsonl(run / "metrics.jsonl")
    assert [m["round"] for m in metrics][:4] == [0, 1, 2, 3]
    tokens = [m["tokens_spent"] for m in metrics[:4]]
    assert tokens[0] == 0 and tokens == sorted(tokens) and tokens[3] > tokens[1]
    assert metrics[-1]["test_f1"] is not None  # scored once, at finish

    samples = read_jsonl(run / "samples.jsonl")
    accepted = [s for s in samples if s["accepted"]]
    assert len(accepted) == 9  # 3 rounds x (2 hard + 1 easy), all new
    assert {s["round"] for s in accepted} == {1, 2, 3}
    assert all(s["prompt_id"].startswith("classification/generate@") for s in accepted)
    assert {s["label"] for s in accepted} == {"negative", "positive"}

    events = read_jsonl(run / "events.jsonl")
    outcomes = [e for e in events if e.get("event") == "agent.tool_call"]
    assert any(e.get("status") == "invalid_arguments" for e in outcomes)
    retries = [e for e in events if e.get("event") == "teacher.retry"]
    assert retries and "rate_limit" in retries[0]["error"]

    state = json.loads((run / "state.json").read_text())
    assert state["finished"] is True
    final = json.loads((run / "final.json").read_text())
    assert final["rounds"] == 3 and Path(final["checkpoint"]).is_dir()
    assert (run / "report.md").is_file() and (run / "f1_vs_tokens.png").stat().st_size > 0


async def test_killed_mid_round_then_resumed_sends_nothing_twice(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    teacher = Teacher([])
    real_train = DistillContext.train
    calls = {"n": 0}

    def crashing_train(self: DistillContext, samples: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:  # round 0, round 1, then round 2's training: after its labelling
            raise KeyboardInterrupt
        return real_train(self, samples)

    with FakeOpenAIServer(handler=teacher) as server:
        config = make_config(tmp_path, server.base_url, tiny_model_dir, "scripted")
        monkeypatch.setattr(DistillContext, "train", crashing_train)
        with pytest.raises(KeyboardInterrupt):
            await run_distillation(config, progress=False)
        first = len(server.requests)
        run_dir = next((tmp_path / "runs").iterdir())
        assert json.loads((run_dir / "state.json").read_text())["round_completed"] == 1

        monkeypatch.setattr(DistillContext, "train", real_train)
        outcome = await run_distillation(resume=run_dir, progress=False)
        bodies = [json.dumps(b, sort_keys=True) for b in server.requests]

    assert first > 0 and len(bodies) > first  # the resumed run did new work (round 3)
    assert len(set(bodies)) == len(bodies), "a request was sent twice"
    assert outcome.run_dir == run_dir
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    assert [m["round"] for m in metrics][:4] == [0, 1, 2, 3]
    state = json.loads((run_dir / "state.json").read_text())
    assert state["finished"] and state["resumes"] == 1
    accepted = [s for s in read_jsonl(run_dir / "samples.jsonl") if s["accepted"]]
    assert len(accepted) == 9  # rows of the interrupted attempt were moved aside, not doubled
