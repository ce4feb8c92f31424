"""Prompt templates: shipped per task, overridable per file, versioned by content."""

from __future__ import annotations

from pathlib import Path

import pytest

from evokd_agent.errors import EvokdError
from evokd_agent.prompting import STEPS, PromptSet


@pytest.mark.parametrize("task", ["classification", "ner"])
def test_shipped_templates_render(task: str) -> None:
    prompts = PromptSet.load(task)
    values = dict(
        task_description="T",
        label_list="- a",
        label_names="a",
        examples="- e",
        text="x",
        round=1,
        wrong="w",
        correct="c",
        n_hard=2,
        n_easy=1,
        n=3,
        label="a",
        label_description="d",
        difficulty="Make it hard.",
        plan='1. label "a", HARD',
        texts="1. x",
    )
    for step in STEPS:
        assert prompts.render(step, **values)
        assert len(prompts.version(step)) == 12


def test_user_copy_overrides_one_file_and_changes_version(tmp_path: Path) -> None:
    shipped = PromptSet.load("classification")
    (tmp_path / "classification").mkdir()
    (tmp_path / "classification" / "label.txt").write_text("Label $text please")
    mine = PromptSet.load("classification", tmp_path)
    assert mine.render("label", text="hi") == "Label hi please"
    assert mine.version("label") != shipped.version("label")
    assert mine.templates["analyze"] == shipped.templates["analyze"]


def test_unknown_placeholder_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "ner").mkdir()
    (tmp_path / "ner" / "label.txt").write_text("Label $txt")
    prompts = PromptSet.load("ner", tmp_path)
    with pytest.raises(EvokdError, match=r"label\.txt"):
        prompts.render("label", text="x")
