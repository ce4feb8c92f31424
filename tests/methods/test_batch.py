"""Batched teacher calls: k inputs per generation request, m texts per labelling request.

Replies that skip, repeat or reorder items lose those items (rejected and counted), never
mislabel them; each item's confidence comes from its own label token.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from evokd_agent.distill import batch
from evokd_agent.distill.context import Candidate
from evokd_agent.distill.hygiene import Hygiene
from evokd_agent.distill.labelling import label_candidates
from evokd_agent.distill.scoring import score_ner_texts, score_texts
from evokd_agent.distill.steps import analyze_weakness, generate_inputs, write_variants
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply, FakeTokenLogprob
from tests.batches import (
    is_generation,
    item_count,
    items_reply,
    numbered_texts,
    plan,
    prompt_of,
)
from tests.teacher.conftest import generator_for
from tests.teacher.test_simulated import make_ctx as simulated_ctx

LABELS = ("negative", "positive")
TEXTS = [f"review number {i} was {'good' if i % 2 else 'bad'} overall" for i in range(8)]


def gold(text: str) -> str:
    return "positive" if "good" in text else "negative"


# --- parsing ---------------------------------------------------------------------------------
def reply(ids: list[Any]) -> str:
    return json.dumps({"items": [{"id": i, "label": f"L{i}"} for i in ids]})


def test_in_order_items_are_all_accepted() -> None:
    parsed = batch.parse_batch(reply([1, 2, 3]), 3)
    assert [i["label"] for i in parsed.items if i] == ["L1", "L2", "L3"]
    assert parsed.reasons == (None, None, None) and parsed.order == (0, 1, 2)


@pytest.mark.parametrize(
    ("ids", "reasons"),
    [
        ([1, 3], (None, batch.MISSING, None)),
        ([1, 2, 2, 3], (None, batch.REPEATED, None)),
        ([1, 3, 2, 4], (None, batch.OUT_OF_ORDER, batch.OUT_OF_ORDER, None)),
        (["1", 2, "x", 9, 3], (None, None, None)),  # a digit string is an id; 2 strays
    ],
)
def test_skipped_repeated_and_reordered_items_are_rejected(
    ids: list[Any], reasons: tuple[str | None, ...]
) -> None:
    parsed = batch.parse_batch(reply(ids), len(reasons))
    assert parsed.reasons == reasons
    for k, item in enumerate(parsed.items):
        assert (item is None) == (reasons[k] is not None)
        if item is not None:
            assert str(item["id"]) == str(k + 1)  # never another id's answer


def test_a_reply_without_an_item_list_rejects_every_item() -> None:
    for text in ["no json here", '{"label": "positive"}', '{"items": "many"}']:
        parsed = batch.parse_batch(text, 2)
        assert parsed.reasons == (batch.NOT_JSON, batch.NOT_JSON)
    assert batch.parse_batch("[" + reply([1])[10:-1], 1).reasons == (None,)  # a bare list


def test_chunks_cover_every_index_once() -> None:
    assert batch.chunks(7, 3) == [range(0, 3), range(3, 6), range(6, 7)]
    assert batch.chunks(0, 4) == [] and batch.chunks(2, 1) == [range(0, 1), range(1, 2)]


# --- through HTTP ----------------------------------------------------------------------------
def make_ctx(generator: Any, *, m: int = 4, k: int = 4, task: str = "classification") -> Any:
    """A tool context on `generator` (no student): `.ctx`, and `.rows` its samples log."""
    labels = LABELS if task == "classification" else ("person", "location")
    return simulated_ctx(generator, task, labels, k=k, m=m)


def labeller(order: Callable[[list[int]], list[int]] = lambda ids: ids) -> Any:
    """Labels the numbered texts by their wording, listing the items in `order(ids)`."""

    def handle(body: dict[str, Any]) -> FakeReply:
        texts = numbered_texts(prompt_of(body))
        ids = order(list(range(1, len(texts) + 1)))
        items = [{"id": i, "label": gold(texts[i - 1])} for i in ids]
        return FakeReply.text(json.dumps({"items": items}))

    return handle


@pytest.mark.parametrize(
    ("order", "rejected"),
    [
        (lambda ids: ids, {}),
        (lambda ids: ids[:1] + ids[2:], {batch.MISSING: 2}),  # id 2 skipped in both requests
        (lambda ids: ids[:2] + ids[1:], {batch.REPEATED: 2}),  # id 2 twice
        (lambda ids: [ids[0], ids[2], ids[1], *ids[3:]], {batch.OUT_OF_ORDER: 4}),  # 3 before 2
    ],
)
async def test_batched_labelling_rejects_bad_items_and_never_mislabels(
    order: Callable[[list[int]], list[int]], rejected: dict[str, int]
) -> None:
    with FakeOpenAIServer(handler=labeller(order)) as srv:
        async with generator_for(srv.base_url, budget=10**6) as generator:
            made = make_ctx(generator, m=4)
            made.ctx.state.candidates = [Candidate(t, "hard", 1, "p") for t in TEXTS]
            report, accepted = await label_candidates(made.ctx)
        assert srv.request_count == 2  # 8 texts, 4 per request
    assert report.produced == 8 and report.rejected == rejected
    assert report.accepted == len(accepted) == 8 - sum(rejected.values())
    assert all(s.label == gold(s.text) for s in accepted)  # type: ignore[union-attr]
    bad = [r for r in made.rows if not r["accepted"]]
    assert sorted(r["reason"] for r in bad) == sorted(
        k for k, n in rejected.items() for _ in range(n)
    )
    assert all(r["label_prompt_id"].startswith("classification/label_batch@") for r in made.rows)


async def test_one_text_per_request_stays_available() -> None:
    def handle(body: dict[str, Any]) -> FakeReply:
        text = prompt_of(body).split("Text:")[-1].strip()
        return FakeReply.text(json.dumps({"label": gold(text)}))

    with FakeOpenAIServer(handler=handle) as srv:
        async with generator_for(srv.base_url, budget=10**6) as generator:
            made = make_ctx(generator, m=1)
            made.ctx.state.candidates = [Candidate(t, "hard", 1, "p") for t in TEXTS[:3]]
            report, accepted = await label_candidates(made.ctx)
        assert srv.request_count == 3
    assert report.accepted == 3 and all(s.label == gold(s.text) for s in accepted)  # type: ignore[union-attr]


def logprob_labeller(sure: dict[str, float], order: Callable[[list[int]], list[int]]) -> Any:
    """Batched labels whose value token reports confidence `sure[text]` (default 0.9)."""

    def handle(body: dict[str, Any]) -> FakeReply:
        texts = numbered_texts(prompt_of(body))
        tokens = [FakeTokenLogprob('{"items": [', 0.0)]
        for n, i in enumerate(order(list(range(1, len(texts) + 1)))):
            label = gold(texts[i - 1])
            other = "negative" if label == "positive" else "positive"
            p = sure.get(texts[i - 1], 0.9)
            top = {label[:3]: math.log(p), other[:3]: math.log(1 - p)}
            tokens += [
                FakeTokenLogprob(", " * (n > 0) + f'{{"id": {i}, "label": "', 0.0),
                FakeTokenLogprob(label[:3], math.log(p), top),
                FakeTokenLogprob(label[3:] + '"}', 0.0),
            ]
        tokens.append(FakeTokenLogprob("]}", 0.0))
        return FakeReply.text("".join(t.token for t in tokens), logprobs=tuple(tokens))

    return handle


async def test_each_item_confidence_comes_from_its_own_label_token() -> None:
    sure = {t: 0.6 + 0.05 * i for i, t in enumerate(TEXTS)}
    swap = lambda ids: [ids[1], ids[0], *ids[2:]]  # noqa: E731 - items 1 and 2 swapped
    for order, lost in [(lambda ids: ids, set()), (swap, {0, 1, 4, 5})]:
        with FakeOpenAIServer(handler=logprob_labeller(sure, order)) as srv:
            async with generator_for(srv.base_url, budget=10**6) as generator:
                scores = await score_texts(make_ctx(generator, m=4).ctx, TEXTS)
            assert all(b.get("logprobs") for b in srv.requests) and srv.request_count == 2
        for i, (text, score) in enumerate(zip(TEXTS, scores, strict=True)):
            if i in lost:
                assert score is None  # out of order: no label, no confidence
                continue
            assert score is not None and score.method == "logprobs"
            assert score.label == gold(text)
            assert score.confidence == pytest.approx(sure[text])


async def test_batched_ner_confidence_per_sentence() -> None:
    sentences = ["Ann met Bob in Paris", "nothing to see here", "Rome is far"]
    entities = {
        0: [("Ann", "person", 0.9), ("Paris", "location", 0.7)],
        1: [],
        2: [("Rome", "location", 0.8)],
    }

    def handle(body: dict[str, Any]) -> FakeReply:
        texts = numbered_texts(prompt_of(body))
        tokens = [FakeTokenLogprob('{"items": [', 0.0)]
        for n, text in enumerate(texts):
            tokens.append(FakeTokenLogprob(", " * (n > 0) + f'{{"id": {n + 1}, "entities": [', 0.0))
            found = entities[sentences.index(text)]
            for j, (surface, kind, p) in enumerate(found):
                other = "location" if kind == "person" else "person"
                head = ", " * (j > 0) + f'{{"text": "{surface}", "type": "'
                top = {kind: math.log(p), other: math.log(1 - p)}
                tokens += [FakeTokenLogprob(head, 0.0), FakeTokenLogprob(kind, math.log(p), top)]
                tokens.append(FakeTokenLogprob('"}', 0.0))
            if not found:
                tokens.append(
                    FakeTokenLogprob(
                        "]", math.log(0.75), {"]": math.log(0.75), "{": math.log(0.25)}
                    )
                )
            tokens.append(FakeTokenLogprob("]}" if found else "}", 0.0))
        tokens.append(FakeTokenLogprob("]}", 0.0))
        content = "".join(t.token for t in tokens)
        assert len(json.loads(content)["items"]) == len(texts)
        return FakeReply.text(content, logprobs=tuple(tokens))

    with FakeOpenAIServer(handler=handle) as srv:
        async with generator_for(srv.base_url, budget=10**6) as generator:
            scores = await score_ner_texts(make_ctx(generator, m=3, task="ner").ctx, sentences)
        assert srv.request_count == 1
    assert [s.confidence if s else None for s in scores] == pytest.approx([0.7, 0.75, 0.8])
    assert scores[0] is not None and [e.type for e in scores[0].entities] == ["person", "location"]


async def test_generation_writes_k_inputs_per_request_following_the_plan() -> None:
    nouns = [
        "apple",
        "brook",
        "cedar",
        "dune",
        "ember",
        "fjord",
        "grove",
        "heath",
        "islet",
        "jade",
        "kelp",
        "larch",
        "moor",
    ]
    verbs = [
        "sings",
        "runs",
        "falls",
        "grows",
        "burns",
        "flows",
        "stands",
        "sleeps",
        "drifts",
        "shines",
        "waves",
        "leans",
        "hums",
    ]
    sentences = iter(f"the {n} {v} over {n}s" for n, v in zip(nouns, verbs, strict=True))

    def handle(body: dict[str, Any]) -> FakeReply:
        steps = plan(body) or [("positive", "")] * item_count(body)
        return items_reply([{"text": next(sentences)} for _ in steps])

    with FakeOpenAIServer(handler=handle) as srv:
        async with generator_for(srv.base_url, budget=10**6) as generator:
            made = make_ctx(generator, k=4)
            report = await generate_inputs(made.ctx, 6, 2)
            jobs = [
                {"task_description": "t", "label": "positive", "label_description": "p", "n": 5}
            ]
            zerogen = await write_variants(made.ctx, "zerogen", jobs, "zerogen")
        bodies = list(srv.requests)
    # 8 inputs in 2 requests of 4, the conversation sent once per request; 5 = 4 + 1.
    assert [item_count(b) for b in bodies] == [4, 4, 4, 1]
    assert report.produced == report.accepted == 8 and zerogen.accepted == 5
    kinds = [c.kind for c in made.ctx.state.candidates[:8]]
    assert kinds == ["hard"] * 6 + ["easy"] * 2
    hints = [c.label_hint for c in made.ctx.state.candidates[:8]]
    assert hints == ["negative", "positive"] * 4  # the plan's labels rotate
    assert plan(bodies[0]) == [("negative", "HARD"), ("positive", "HARD")] * 2


async def test_the_last_round_shrinks_to_the_budget_left() -> None:
    """A round the budget cannot pay for in full writes (and labels) fewer inputs, instead of
    being refused: that is what lets a method spend its whole budget."""
    sentences = iter(f"sentence number {w} is new" for w in "abcdefghijklmnopqrstuvwxyz")

    def handle(body: dict[str, Any]) -> FakeReply:
        texts = numbered_texts(prompt_of(body))
        if texts:
            return items_reply([{"label": gold(t)} for t in texts])
        return items_reply([{"text": next(sentences)} for _ in range(item_count(body))])

    with FakeOpenAIServer(handler=handle) as srv:
        # A full round of 8 reserves about 1,900 tokens (128 per input written, 24 per label).
        async with generator_for(srv.base_url, budget=1200) as generator:
            made = make_ctx(generator, k=8, m=8)
            report = await generate_inputs(made.ctx, 6, 2)
            labelled, accepted = await label_candidates(made.ctx)
            ledger = generator.ledger
    assert 0 < report.produced < 8 and not report.budget_exhausted
    assert not ledger.exhausted and labelled.accepted == len(accepted) == report.produced
    assert [item_count(b) for b in srv.requests[-2:-1]] == [report.produced]


async def test_generation_always_carries_the_latest_analysis() -> None:
    """However small `history_chars`, the newest exchange (analysis prompt, analysis, request)
    is sent, the analysis cut to `history_chars` (no reply may inflate later requests); and a
    later round's request is never answered from an earlier round's cache."""
    analysis = "It confuses sarcasm with praise. " * 40  # longer than the history limit
    sentences = iter(f"sentence {w} is a new one" for w in "abcdefghijklmnopqrstuvwxyz")

    def handle(body: dict[str, Any]) -> FakeReply:
        if not is_generation(body):
            return FakeReply.text(analysis)
        return items_reply([{"text": next(sentences)} for _ in range(item_count(body))])

    with FakeOpenAIServer(handler=handle) as srv:
        async with generator_for(srv.base_url, budget=10**6) as generator:
            made = make_ctx(generator, k=4)
            made.ctx.max_history_chars = 500
            for round_ in range(2):
                made.ctx.state.round = round_
                await analyze_weakness(made.ctx)
                await generate_inputs(made.ctx, 2, 0)
        bodies = [b for b in srv.requests if is_generation(b)]
    assert len(bodies) == 2  # both rounds asked the teacher: no cache hit
    for body in bodies:
        assert [m["role"] for m in body["messages"][-3:]] == ["user", "assistant", "user"]
        assert body["messages"][-2]["content"] == analysis[:500] + " [cut]"
    assert len(made.ctx.state.candidates) == 4


def test_per_request_defaults_and_overrides() -> None:
    from evokd_agent.config.run_config import GenerationSettings, LabellingSettings

    assert GenerationSettings().inputs_per_request(embedded=False) == 16
    assert GenerationSettings().inputs_per_request(embedded=True) == 4  # writes better at 4
    assert GenerationSettings(per_request=1).inputs_per_request(embedded=False) == 1
    assert LabellingSettings().texts_per_request() == 16
    assert LabellingSettings(per_request=1).texts_per_request() == 1
    with pytest.raises(ValueError):
        LabellingSettings(per_request=0)


async def test_a_huge_reply_is_rejected_and_never_inflates_later_requests() -> None:
    """A server ignoring max_tokens writes a 200k-character input and a 200k-character analysis:
    the input is rejected as too long, and the next request carries the analysis cut short."""
    huge = "word " * 40_000
    sentences = iter(f"sentence {w} is a new one" for w in "abcdefghijklmnopqrstuvwxyz")

    def handle(body: dict[str, Any]) -> FakeReply:
        if not is_generation(body):
            return FakeReply.text(huge, usage=(100, 50))  # a server that under-reports, too
        items = [{"text": next(sentences)} for _ in range(item_count(body) - 1)]
        return items_reply([{"text": huge}, *items])

    with FakeOpenAIServer(handler=handle) as srv:
        async with generator_for(srv.base_url, budget=10**6) as generator:
            made = make_ctx(generator, k=4)
            made.ctx.hygiene = Hygiene(LABELS, max_text_tokens=256)
            for round_ in range(2):
                made.ctx.state.round = round_
                await analyze_weakness(made.ctx)
                await generate_inputs(made.ctx, 4, 0)
        sizes = [len(json.dumps(b)) for b in srv.requests[1:]]
    too_long = [r for r in made.rows if r.get("reason") == "too_long"]
    assert len(too_long) == 2 and all(len(r["text"]) > 100_000 for r in too_long)
    assert all(len(c.text) < 100 for c in made.ctx.state.candidates)
    assert max(sizes) < 20_000  # every later request stays small
