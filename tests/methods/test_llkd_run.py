"""`evokd run` with method llkd against the fake teacher: scripted logprobs make some pool labels
wrong and unsure; the selection must keep those out of training and say so in the run dir."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from evokd_agent.run.runner import run_distillation
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply, FakeTokenLogprob
from tests.batches import numbered_texts
from tests.methods.test_run_integration import write_rows

# Pool texts with their gold labels; the teacher gets the "WRONG" ones wrong, unsure (0.55).
POOL = [(f"review {i} was {'good' if i % 2 else 'bad'}", i % 2) for i in range(12)]
WRONG = {"review 3 was good", "review 4 was bad", "review 9 was good"}


def _label_tokens(text: str) -> tuple[str, tuple[FakeTokenLogprob, FakeTokenLogprob]]:
    """The teacher's label for a pool text, as its value token (with alternatives) and rest."""
    gold = "positive" if "good" in text else "negative"
    wrong = text in WRONG
    label = ("negative" if gold == "positive" else "positive") if wrong else gold
    other = "negative" if label == "positive" else "positive"
    sure = 0.55 if wrong else 0.95
    top = {label[:3]: math.log(sure), other[:3]: math.log(1 - sure)}
    return label, (
        FakeTokenLogprob(label[:3], math.log(sure), top),
        FakeTokenLogprob(label[3:] + '"}', 0.0),
    )


def teacher(body: dict[str, Any]) -> FakeReply:
    if "prompt" in body:  # completion scoring: the label words among the first token's options
        text = body["prompt"].rsplit("Text: ", 1)[1].split("\n")[0]
        top = {f" {t}": lp for t, lp in _label_tokens(text)[1][0].top.items()}
        return FakeReply.text(" x", logprobs=(FakeTokenLogprob(" x", 0.0, top),))
    prompt = body["messages"][-1]["content"]
    texts = numbered_texts(prompt)
    if texts:  # a batch: each item's label token carries that item's distribution
        tokens = [FakeTokenLogprob('{"items": [', 0.0)]
        labels = []
        for i, text in enumerate(texts, 1):
            label, value = _label_tokens(text)
            labels.append({"id": i, "label": label})
            sep = ", " if i > 1 else ""
            tokens += [FakeTokenLogprob(f'{sep}{{"id": {i}, "label": "', 0.0), *value]
        tokens.append(FakeTokenLogprob("]}", 0.0))
        content = "".join(t.token for t in tokens)
        assert json.loads(content) == {"items": labels}
        return FakeReply.text(content, logprobs=tuple(tokens))
    text = prompt.split("Text:")[-1].strip().split("\n")[0]
    label, value = _label_tokens(text)
    single = (FakeTokenLogprob('{"label": "', 0.0), *value)
    return FakeReply.text(json.dumps({"label": label}), logprobs=single)


@pytest.mark.parametrize(
    ("labelling", "requests", "method"),
    [
        ({"per_request": 1}, 12, "logprobs"),
        ({}, 2, "logprobs"),
        ({"method": "scoring", "calibration": "off"}, 12, "scoring"),
    ],
)
async def test_llkd_keeps_unsure_wrong_pseudo_labels_out(
    tmp_path: Path, tiny_model_dir: Path, labelling: dict[str, Any], requests: int, method: str
) -> None:
    """One text per labelling request, the default batches (6 pool texts a round, in one
    request), or completion scoring (one text per request): the same labels and confidences,
    so the same selection."""
    seeds = write_rows(tmp_path / "seeds.jsonl", [("a good film", 1), ("a bad film", 0)])
    dev = write_rows(
        tmp_path / "dev.jsonl",
        [(f"dev {w} {i}", int(w == "good")) for i in range(3) for w in ("good", "bad")],
    )
    pool = write_rows(tmp_path / "pool.jsonl", POOL)
    with FakeOpenAIServer(handler=teacher) as server:
        config = {
            "name": "llkd-it",
            "task": "classification",
            "task_description": "Is the review positive or negative?",
            "labels": ["negative", "positive"],
            "data": {"seeds": str(seeds), "dev": str(dev), "pool": str(pool)},
            "teacher": {"base_url": server.base_url, "model": "fake-model"},
            "student": {
                "model": str(tiny_model_dir),
                "train": {"min_steps": 6, "learning_rate": 5e-3, "progress": False, "seed": 0},
            },
            "method": "llkd",
            "policy": "llm",  # ignored: llkd is a fixed procedure
            "budget_tokens": 100_000,
            "labelling": labelling,
            "max_rounds": 2,
            "method_options": {"pool_per_round": 6, "ema": 0.5},
            "stop": {"patience_rounds": 10},
            "evaluate_test": "never",
            "run_root": str(tmp_path / "runs"),
        }
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(config))
        outcome = await run_distillation(path, progress=False)
        bodies = list(server.requests)
    assert not any(b.get("tools") for b in bodies)  # scripted, no agent calls
    assert len(bodies) == requests and all(b.get("logprobs") for b in bodies)
    rows = [
        json.loads(line) for line in (outcome.run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    llkd = [r["llkd"] for r in rows if r["round"] > 0]
    assert [r["pool_in_training"] for r in llkd] == [6, 12]
    for r in llkd:
        # The unsure wrong labels were never selected; some right ones were.
        assert r["teacher_accuracy_selected"] == 1.0
        assert r["teacher_accuracy_rejected"] is not None and r["teacher_accuracy_rejected"] < 1
        assert 0 < r["pool_selected_fraction"] < 1
        assert r["mean_confidence_selected"] > r["mean_confidence_rejected"]
    samples = [
        json.loads(line) for line in (outcome.run_dir / "samples.jsonl").read_text().splitlines()
    ]
    scored = {s["text"]: s for s in samples if s["stage"] == "scored"}
    assert scored["review 3 was good"]["label"] == "negative"
    assert scored["review 3 was good"]["teacher_confidence"] == 0.55
    assert scored["review 1 was good"]["confidence_method"] == method
    if method == "scoring":  # few-shot completion prompts built from the seeds
        assert all("Text: a good film\nLabel: positive" in b["prompt"] for b in bodies)
