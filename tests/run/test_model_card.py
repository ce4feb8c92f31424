"""The student's model card, `final/README.md`: Hugging Face format, scores, teacher, data."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from evokd_agent.report.model_card import model_card, teacher_kind
from evokd_agent.run.runner import run_distillation
from evokd_agent.servers.fake import FakeOpenAIServer
from tests.methods.test_baselines import Teacher, make_config


def _card(run_dir: Path) -> tuple[dict[str, object], str]:
    text = (run_dir / "final" / "README.md").read_text()
    assert text.startswith("---\n")
    _, front, body = text.split("---\n", 2)
    return yaml.safe_load(front), body


async def test_a_finished_run_leaves_a_model_card_beside_its_student(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    with FakeOpenAIServer(handler=Teacher()) as server:
        config = make_config(tmp_path, server.base_url, tiny_model_dir, "zerogen")
        outcome = await run_distillation(config, progress=False)
    meta, body = _card(outcome.run_dir)
    final = json.loads((outcome.run_dir / "final.json").read_text())
    assert meta["pipeline_tag"] == "text-classification" and "zerogen" in meta["tags"]  # type: ignore[operator]
    results = meta["model-index"][0]["results"]  # type: ignore[index]
    by_name = {m["name"]: m["value"] for r in results for m in r["metrics"]}
    assert by_name["dev macro-F1"] == round(final["dev_score"], 4)
    assert by_name["test macro-F1"] == round(final["test_score"], 4)
    assert "fake-model, remote OpenAI-compatible endpoint (127.0.0.1)" in body
    tokens = json.loads((outcome.run_dir / "ledger.json").read_text())["spent"]
    assert f"| teacher tokens spent | {tokens:,} of a 100,000 budget |" in body
    for label in ("negative", "positive"):
        assert f"| dev | F1 {label} |" in body and f"| test | F1 {label} |" in body
    assert "| zerogen |" in body  # accepted samples by how they were made
    assert "evokd run --resume RUN_DIR" in body


async def test_a_teacherless_run_says_so(tmp_path: Path, tiny_model_dir: Path) -> None:
    config = make_config(tmp_path, "http://127.0.0.1:9/v1", tiny_model_dir, "seeds_only")
    outcome = await run_distillation(config, progress=False)
    _, body = _card(outcome.run_dir)
    assert "| teacher | none: this method asks no teacher |" in body


def test_teacher_kinds() -> None:
    assert "SIMULATED" in teacher_kind({"base_url": "simulated"})
    assert "embedded" in teacher_kind({"base_url": "embedded"})
    remote = teacher_kind({"base_url": "https://user:pw@api.example.com/v1"})
    assert remote == "remote OpenAI-compatible endpoint (api.example.com)"


def test_the_simulated_teacher_is_named_as_it_served() -> None:
    from evokd_agent.report.model_card import teacher_name

    assert teacher_name({"base_url": "simulated", "model": "smollm2-135m-instruct"}) == (
        "simulated-teacher"
    )
    assert teacher_name({"base_url": "http://x/v1", "model": "gpt-4o-mini"}) == "gpt-4o-mini"


def test_an_ner_card_names_the_token_classification_head_and_entity_scores() -> None:
    final = {
        split: {
            "task": "ner",
            "f1": 0.5,
            "precision": 0.6,
            "recall": 0.4,
            "per_type": {"person": {"f1": 0.7}, "location": {"f1": 0.2}},
        }
        for split in ("dev", "test")
    }
    config = {
        "name": "wnut",
        "task": "ner",
        "labels": ["person", "location"],
        "method": "evokd",
        "student": {"model": "all-MiniLM-L6-v2"},
        "teacher": {"base_url": "embedded"},
    }
    card = model_card(config, final, [], tokens_spent=10, n_train=5, stop_reason="done")
    _, front, body = card.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["pipeline_tag"] == "token-classification"
    [index] = meta["model-index"]
    names = {m["name"]: m["value"] for r in index["results"] for m in r["metrics"]}
    assert names == {"dev entity F1 (micro, seqeval)": 0.5, "test entity F1 (micro, seqeval)": 0.5}
    assert "| entity types | person, location |" in body
    assert (
        "| test | entity F1 (micro) | 0.5000 |" in body and "| dev | F1 person | 0.7000 |" in body
    )
    assert "AutoModelForTokenClassification.from_pretrained" in body
