"""The baselines through `evokd run` against the fake teacher, with a tiny student."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import yaml

from evokd_agent.config.data import load_run_data
from evokd_agent.config.run_config import load_run_config
from evokd_agent.run.runner import run_distillation
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply
from tests import batches
from tests.batches import (
    is_generation,
    item_count,
    items_reply,
    numbered_texts,
    prompt_of,
)

SEEDS = [("a good film with a fine cast", 1), ("a bad film with a dull plot", 0)]


class Teacher:
    """Writes reviews whose wording follows the asked label and labels them by their wording."""

    def __init__(self) -> None:
        self.written = 0
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> FakeReply:
        last = prompt_of(body)
        if is_generation(body):
            plan: list[str | None] = [label for label, _ in batches.plan(body)]
            plan = plan or [None] * item_count(body)
            items = []
            for label in plan:
                with self.lock:
                    self.written += 1
                    n = self.written
                if label is not None:  # an EvoKD plan line
                    good = label == "positive"
                else:
                    good = '"positive"' in last or "(positive)" in last
                items.append({"text": f"made up review {n} was {'good' * good}"})
            return items_reply(items)
        texts = numbered_texts(last)
        if texts:
            return items_reply([{"label": _label_of(text)} for text in texts])
        if "Which label fits" in last:
            return FakeReply.text(json.dumps({"label": _label_of(last.split("Text:")[-1])}))
        return FakeReply.text("?")


def _label_of(text: str) -> str:
    return "positive" if "good" in text.split("\n")[0] else "negative"


def label_calls(server: FakeOpenAIServer) -> int:
    return sum(
        "Which label fits" in prompt_of(r) or bool(numbered_texts(prompt_of(r)))
        for r in server.requests
    )


def write_rows(path: Path, rows: list[tuple[str, int]]) -> Path:
    path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
    return path


def make_config(
    tmp_path: Path, base_url: str, model_dir: Path, method: str, **overrides: Any
) -> Path:
    seeds = write_rows(tmp_path / "seeds.jsonl", SEEDS)
    train = write_rows(
        tmp_path / "train.jsonl",
        [(f"train {w} picture {i}", int(w == "good")) for i in range(6) for w in ("good", "bad")],
    )
    dev = write_rows(
        tmp_path / "dev.jsonl",
        [(f"dev {w} movie {i}", int(w == "good")) for i in range(3) for w in ("good", "bad")],
    )
    test = write_rows(
        tmp_path / "test.jsonl",
        [(f"test {w} story {i}", int(w == "good")) for i in range(3) for w in ("good", "bad")],
    )
    config: dict[str, Any] = {
        "name": method,
        "task": "classification",
        "task_description": "Is the review positive or negative?",
        "labels": ["negative", "positive"],
        "data": {"seeds": str(seeds), "train": str(train), "dev": str(dev), "test": str(test)},
        "teacher": {"base_url": base_url, "model": "fake-model", "max_concurrency": 4},
        "student": {
            "model": str(model_dir),
            "train": {"min_steps": 2, "learning_rate": 5e-3, "progress": False, "seed": 0},
        },
        "method": method,
        "budget_tokens": 100_000,
        "max_rounds": 2,
        "samples_per_round": {"hard": 2, "easy": 2},
        "stop": {"patience_rounds": 10},
        "evaluate_test": "end",
        "checkpoints": "none",
        "run_root": str(tmp_path / "runs"),
    }
    for key, value in overrides.items():
        if isinstance(value, dict):
            config[key] = {**config.get(key, {}), **value}
        else:
            config[key] = value
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rounds_of(run: Path) -> list[int]:
    return sorted({m["round"] for m in read_jsonl(run / "metrics.jsonl")})


async def test_seeds_only_trains_once_and_spends_nothing(
    tmp_path: Path, tiny_model_dir: Path, fake_server: FakeOpenAIServer
) -> None:
    config = make_config(tmp_path, fake_server.base_url, tiny_model_dir, "seeds_only")
    outcome = await run_distillation(config, progress=False)
    assert fake_server.requests == []
    assert outcome.final["tokens_spent"] == 0 and outcome.final["rounds"] == 0
    assert rounds_of(outcome.run_dir) == [0]
    assert outcome.final["test_score"] is not None


async def test_full_shot_trains_on_the_train_file_not_the_seeds(
    tmp_path: Path, tiny_model_dir: Path, fake_server: FakeOpenAIServer
) -> None:
    config = make_config(
        tmp_path,
        fake_server.base_url,
        tiny_model_dir,
        "full_shot",
        data={"seeds": None, "seeds_per_class": 1, "train_limit": 10},
    )
    outcome = await run_distillation(config, progress=False)
    assert fake_server.requests == [] and outcome.final["tokens_spent"] == 0
    metrics = read_jsonl(outcome.run_dir / "metrics.jsonl")
    assert {m["round"] for m in metrics} == {0}
    assert metrics[0]["n_train"] == 10  # train_limit of the 12, not the 2 drawn seeds


def test_train_limit_subsets_train_but_never_changes_the_seed_draw(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    data = {"seeds": None, "seeds_per_class": 1}
    full = load_run_data(
        load_run_config(make_config(tmp_path, "http://x/v1", tiny_model_dir, "evokd", data=data))
    )
    data["train_limit"] = 5
    limited = load_run_data(
        load_run_config(make_config(tmp_path, "http://x/v1", tiny_model_dir, "evokd", data=data))
    )
    assert limited.seeds == full.seeds and len(full.train or []) == 12
    assert len(limited.train or []) == 5 and set(limited.train or []) <= set(full.train or [])


async def test_eda_adds_labelled_edits_without_the_teacher(
    tmp_path: Path, tiny_model_dir: Path, fake_server: FakeOpenAIServer
) -> None:
    config = make_config(tmp_path, fake_server.base_url, tiny_model_dir, "eda")
    outcome = await run_distillation(config, progress=False)
    assert fake_server.requests == [] and outcome.final["tokens_spent"] == 0
    assert rounds_of(outcome.run_dir) == [0, 1, 2]
    samples = read_jsonl(outcome.run_dir / "samples.jsonl")
    accepted = [s for s in samples if s["accepted"]]
    # ceil(4 new samples per round / 2 seeds) = 2 edits of each seed per round
    assert len(accepted) == 8 and {s["phase"] for s in samples} == {"eda"}
    labels = {t: ["negative", "positive"][y] for t, y in SEEDS}
    assert all(s["label"] == labels[s["source_text"]] for s in accepted)
    assert {s["round"] for s in accepted} == {1, 2}
    assert len({s["text"] for s in accepted}) == 8  # round 2 repeats nothing of round 1
    metrics = read_jsonl(outcome.run_dir / "metrics.jsonl")
    assert max(m["n_train"] for m in metrics) == 2 + 8


async def test_auggpt_keeps_the_seed_labels_without_labelling_calls(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    with FakeOpenAIServer(handler=Teacher()) as server:
        config = make_config(
            tmp_path,
            server.base_url,
            tiny_model_dir,
            "auggpt",
            method_options={"batches_per_round": 1},
        )
        outcome = await run_distillation(config, progress=False)
        assert label_calls(server) == 0
        # 2 rounds x 2 seeds, each request writing the seed's 2 rewrites as one list
        assert len(server.requests) == 2 * 2
        assert all(item_count(r) == 2 for r in server.requests)
    assert outcome.final["tokens_spent"] > 0
    accepted = [s for s in read_jsonl(outcome.run_dir / "samples.jsonl") if s["accepted"]]
    assert len(accepted) == 8
    assert all(s["label_source"] == "hint" and s["phase"] == "rewrite" for s in accepted)
    # The fake rewrites of the negative seed read "was " (no "good"): the seed's label wins.
    assert {s["label"] for s in accepted} == {"negative", "positive"}
    assert all(("good" in s["text"]) == (s["label"] == "positive") for s in accepted)


async def test_zerogen_keeps_the_labels_it_asked_for(tmp_path: Path, tiny_model_dir: Path) -> None:
    with FakeOpenAIServer(handler=Teacher()) as server:
        config = make_config(tmp_path, server.base_url, tiny_model_dir, "zerogen")
        outcome = await run_distillation(config, progress=False)
        writes = [item_count(r) for r in server.requests if is_generation(r)]
        # 2 rounds x 4 batches (it never reads the student: one training per 4 batches)
        # x 2 labels, ceil(4 / 2) inputs per request; every batch reached the server (the
        # same prompt again is a new draw, not an answer read back from the cache).
        assert writes == [2] * (2 * 4 * 2)
        assert label_calls(server) == 0  # label-conditioned: the asked label is the label
    assert rounds_of(outcome.run_dir) == [0, 1, 2]
    samples = read_jsonl(outcome.run_dir / "samples.jsonl")
    labelled = [s for s in samples if s.get("stage") == "labelled"]
    assert len(labelled) == 32 and all(s["phase"] == "zerogen" for s in labelled)
    assert all(s["accepted"] and s["label_source"] == "hint" for s in labelled)
    assert all(("good" in s["text"]) == (s["label"] == "positive") for s in labelled)
    assert {s["label"] for s in labelled} == {"negative", "positive"}


async def test_a_round_with_nothing_new_does_not_retrain(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    # Every reply is unusable, so no round adds a sample: round 0's student stands.
    with FakeOpenAIServer(handler=lambda body: FakeReply.text("no JSON here")) as server:
        config = make_config(tmp_path, server.base_url, tiny_model_dir, "zerogen")
        outcome = await run_distillation(config, progress=False)
        assert server.requests  # the teacher was asked every round
    rows = {m["round"]: m for m in read_jsonl(outcome.run_dir / "metrics.jsonl")}
    assert sorted(rows) == [0, 1, 2]
    assert rows[0]["train_loss"] is not None  # round 0 trained on the seeds
    assert [rows[1]["train_loss"], rows[2]["train_loss"]] == [None, None]  # 1 and 2 did not
    assert {m["dev_f1"] for m in rows.values()} == {rows[0]["dev_f1"]}
