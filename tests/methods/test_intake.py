"""The one admit/reject path for new samples: the samples log, the counts, the dedup index."""

from __future__ import annotations

from typing import Any

from evokd_agent.distill.context import DistillContext, TaskSpec
from evokd_agent.distill.hygiene import Hygiene
from evokd_agent.distill.intake import Intake, new_batch
from evokd_agent.prompting import PromptSet
from evokd_agent.student.data import NerSample, TextSample

LABELS = ("negative", "positive")


def make_ctx(rows: list[dict[str, Any]]) -> DistillContext:
    return DistillContext(
        spec=TaskSpec("classification", "sentiment", LABELS),
        student=None,  # type: ignore[arg-type]
        train_config=None,  # type: ignore[arg-type]
        seeds=[TextSample("a good film", "positive")],
        dev=[],
        test=[],
        generator=None,  # type: ignore[arg-type]
        prompts=PromptSet.load("classification"),
        hygiene=Hygiene(LABELS, ["the dev sentence"]),
        record_sample=rows.append,
        end_round=lambda row: None,
        save_final=lambda: "",
    )


def test_rejections_are_recorded_with_details_and_counted_in_a_shared_dict() -> None:
    rows: list[dict[str, Any]] = []
    counts = {"budget": 1}
    intake = Intake(make_ctx(rows), counts)
    leak = "the dev sentence"
    assert not intake.check_text({"text": leak}, leak)
    intake.reject({"text": "t"}, "teacher_error", error="500")
    assert counts == {"budget": 1, "duplicate_of_eval": 1, "teacher_error": 1}
    assert rows == [
        {"text": leak, "accepted": False, "reason": "duplicate_of_eval"},
        {"text": "t", "accepted": False, "reason": "teacher_error", "error": "500"},
    ]


def test_admitted_samples_are_logged_indexed_and_become_the_newest_batch() -> None:
    rows: list[dict[str, Any]] = []
    ctx = make_ctx(rows)
    intake = Intake(ctx)
    text = "a brand new sentence about a long film"
    assert intake.check_text({"text": text}, text)
    intake.admit({"text": text}, TextSample(text, "positive"), index=text)
    ner = NerSample(("Ann", "sings"), ("B-person", "O"))
    intake.admit({"text": "Ann sings"}, ner, index=None, described=False)
    assert rows == [
        {"text": text, "label": "positive", "accepted": True, "reason": None},
        {"text": "Ann sings", "accepted": True, "reason": None},
    ]
    assert not intake.check_text({"text": text}, text)  # indexed: a repeat is refused
    assert intake.check_text({"text": "Ann sings"}, "Ann sings")  # not indexed
    new_batch(ctx, intake.accepted)
    assert ctx.state.batch == [TextSample(text, "positive"), ner]
    assert ctx.train_set == [*ctx.seeds, *ctx.state.batch]
    new_batch(ctx, [])
    assert len(ctx.state.batch) == 2  # nothing accepted: the batch stays
