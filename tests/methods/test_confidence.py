"""Teacher confidence from logprobs: surface forms summed per label, normalised."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

from evokd_agent.distill.confidence import from_logprobs, from_votes
from evokd_agent.distill.hygiene import Hygiene

LABELS = ("negative", "positive")


def logprobs(tokens: list[str], top_at: dict[int, dict[str, float]]) -> Any:
    content = []
    for i, tok in enumerate(tokens):
        alts = top_at.get(i, {tok: 0.0})
        content.append(
            SimpleNamespace(
                token=tok,
                logprob=alts.get(tok, -5.0),
                top_logprobs=[SimpleNamespace(token=t, logprob=lp) for t, lp in alts.items()],
            )
        )
    return SimpleNamespace(content=content)


def test_json_reply_reads_the_label_value_token_and_sums_forms() -> None:
    tokens = ['{"', "label", '":', ' "', "pos", "itive", '"}']
    top = {4: {"pos": math.log(0.6), "Pos": math.log(0.1), "neg": math.log(0.2), "x": -1.0}}
    score = from_logprobs(logprobs(tokens, top), LABELS)
    assert score is not None and score.method == "logprobs"
    assert score.label == "positive"
    assert score.confidence == pytest.approx(0.7 / 0.9)
    assert score.distribution["negative"] == pytest.approx(0.2 / 0.9)


def test_value_token_that_carries_the_quote() -> None:
    tokens = ['{"label":', ' "neg', 'ative"}']
    top = {1: {' "neg': math.log(0.5), ' "pos': math.log(0.5)}}
    score = from_logprobs(logprobs(tokens, top), LABELS)
    assert score is not None and score.confidence == pytest.approx(0.5)


def test_plain_text_reply_and_no_usable_tokens() -> None:
    score = from_logprobs(logprobs(["The", " Negative"], {1: {" Negative": -0.1}}), LABELS)
    assert score is not None and score.label == "negative" and score.confidence == 1.0
    assert from_logprobs(logprobs(["hmm"], {}), LABELS) is None
    assert from_logprobs(None, LABELS) is None


def test_self_consistency_votes() -> None:
    score = from_votes(["positive", "positive", "negative", None, "positive"], LABELS)
    assert score.label == "positive" and score.confidence == pytest.approx(0.6)
    assert score.method == "self_consistency"
    assert from_votes([None, "neutral"], LABELS).label is None


async def test_score_confidence_tool_keeps_confident_pool_labels_and_falls_back(
    tmp_path: Any,
) -> None:
    import json

    from evokd_agent.distill.context import DistillContext, TaskSpec
    from evokd_agent.prompting import PromptSet
    from evokd_agent.run.toolset import build_registry
    from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply, FakeTokenLogprob
    from evokd_agent.student.data import TextSample
    from tests.teacher.conftest import generator_for

    def teacher(body: dict[str, Any]) -> FakeReply:
        text = body["messages"][-1]["content"].split("Text:")[-1].split("\n")[0]
        label = "positive" if "great" in text else "negative"
        reply = json.dumps({"label": label})
        if "no logprobs" in text:  # an endpoint without logprobs for this one
            return FakeReply.text(reply)
        sure = 0.95 if "very" in text else 0.55
        other = "neg" if label == "positive" else "pos"
        top = {label[:3]: math.log(sure), other: math.log(1 - sure)}
        tokens = ('{"label": "', FakeTokenLogprob(label[:3], math.log(sure), top), 'itive"}')
        lp = tuple(
            t if isinstance(t, FakeTokenLogprob) else FakeTokenLogprob(t, 0.0) for t in tokens
        )
        return FakeReply.text(reply, logprobs=lp)

    pool = ["a very great film", "a great film", "a very dull film", "no logprobs: great"]
    rows: list[dict[str, Any]] = []
    with FakeOpenAIServer(handler=teacher) as server:
        async with generator_for(server.base_url) as generator:
            ctx: Any = DistillContext(
                spec=TaskSpec("classification", "sentiment", LABELS),
                student=None,  # type: ignore[arg-type]
                train_config=None,  # type: ignore[arg-type]
                seeds=[TextSample("good", "positive"), TextSample("bad", "negative")],
                dev=[],
                test=[],
                generator=generator,
                prompts=PromptSet.load("classification"),
                hygiene=Hygiene(LABELS),
                record_sample=rows.append,
                end_round=lambda row: None,
                save_final=lambda: "",
                pool=pool,
            )
            registry = build_registry()
            out = await registry.call(
                "score_confidence", {"source": "pool", "limit": 10, "min_confidence": 0.9}, ctx
            )
    assert out.ok, out.content
    value = out.value
    assert value.scored == 4 and value.kept == 3 and value.dropped == 1
    assert value.method == "logprobs, self_consistency"
    kept = {s.text: s.label for s in ctx.state.synthetic}
    assert kept == {
        "a very great film": "positive",
        "a very dull film": "negative",
        "no logprobs: great": "positive",  # 5 of 5 sampled replies agree
    }
    low = [r for r in rows if not r["accepted"]]
    assert low[0]["text"] == "a great film" and low[0]["reason"] == "low_confidence"
    assert low[0]["teacher_confidence"] == pytest.approx(0.55)


NER_TYPES = ("person", "location", "product")


def test_ner_confidence_per_entity_and_sentence_from_logprobs() -> None:
    from evokd_agent.distill.confidence import ner_from_logprobs

    tokens = ['{"entities": [{"text": "Paris", "type": "', "loc", 'ation"}, ']
    tokens += ['{"text": "Bob", "type": "', "person", '"}]}']
    lp = logprobs(
        tokens,
        {
            1: {"loc": math.log(0.6), "per": math.log(0.2), "product": math.log(0.1)},
            4: {"person": math.log(0.9), " Person": math.log(0.05), "x": math.log(0.05)},
        },
    )
    score = ner_from_logprobs(lp, NER_TYPES, [("Paris", "location"), ("Bob", "person")])
    assert score is not None and score.method == "logprobs"
    paris, bob = score.entities
    assert paris.confidence == pytest.approx(0.6 / 0.9)
    assert bob.confidence == pytest.approx(1.0)  # "person" and " Person" are the same label
    assert score.confidence == pytest.approx(0.6 / 0.9)  # the least sure entity


def test_ner_confidence_of_an_empty_reply_and_a_mismatch() -> None:
    from evokd_agent.distill.confidence import ner_from_logprobs

    lp = logprobs(['{"entities": [', "]}"], {1: {"]}": math.log(0.7), "{": math.log(0.3)}})
    score = ner_from_logprobs(lp, NER_TYPES, [])
    assert score is not None and score.confidence == pytest.approx(0.7)
    assert ner_from_logprobs(lp, NER_TYPES, [("Bob", "person")]) is None  # no type token


def test_ner_confidence_from_votes() -> None:
    from evokd_agent.distill.confidence import ner_from_votes

    a, b = ("Paris", "location"), ("Bob", "person")
    score = ner_from_votes([[a, b], [a, b], [a], None, [b, a]])
    assert score.method == "self_consistency"
    assert score.confidence == pytest.approx(3 / 5)
    assert {e.text: e.confidence for e in score.entities} == {"Paris": 4 / 5, "Bob": 3 / 5}
    assert ner_from_votes([None, None]).confidence == 0.0


async def test_score_confidence_tool_labels_an_ner_pool_with_entity_confidences() -> None:
    import json

    from evokd_agent.distill.context import DistillContext, TaskSpec
    from evokd_agent.prompting import PromptSet
    from evokd_agent.run.toolset import build_registry
    from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply, FakeTokenLogprob
    from evokd_agent.student.data import NerSample
    from tests.teacher.conftest import generator_for

    def teacher(body: dict[str, Any]) -> FakeReply:
        text = body["messages"][-1]["content"].split("Sentence:")[-1].split("\n")[0]
        if "Bob" not in text:
            return FakeReply.text(json.dumps({"entities": []}))  # no logprobs: votes
        reply = json.dumps({"entities": [{"text": "Bob", "type": "person"}]})
        head, tail = reply.split('"type": "')
        top = {"person": math.log(0.8), "location": math.log(0.2)}
        tokens = (
            FakeTokenLogprob(head + '"type": "', 0.0),
            FakeTokenLogprob("person", math.log(0.8), top),
            FakeTokenLogprob(tail[len("person") :], 0.0),
        )
        return FakeReply.text(reply, logprobs=tokens)

    pool = ["Bob lives here", "nothing to see"]
    rows: list[dict[str, Any]] = []
    with FakeOpenAIServer(handler=teacher) as server:
        async with generator_for(server.base_url) as generator:
            ctx: Any = DistillContext(
                spec=TaskSpec("ner", "people and places", ("person", "location")),
                student=None,  # type: ignore[arg-type]
                train_config=None,  # type: ignore[arg-type]
                seeds=[NerSample(("Ann", "sings"), ("B-person", "O"))],
                dev=[],
                test=[],
                generator=generator,
                prompts=PromptSet.load("ner"),
                hygiene=Hygiene(["person", "location"]),
                record_sample=rows.append,
                end_round=lambda row: None,
                save_final=lambda: "",
                pool=pool,
            )
            out = await build_registry().call("score_confidence", {"source": "pool"}, ctx)
    assert out.ok, out.content
    assert out.value.kept == 2
    assert out.value.method == "logprobs, self_consistency"
    bob, empty = ctx.state.synthetic
    assert bob.tags == ("B-person", "O", "O") and set(empty.tags) == {"O"}
    assert ctx.state.pseudo["Bob lives here"].confidence == pytest.approx(0.8)
    assert ctx.state.pseudo["nothing to see"].confidence == pytest.approx(1.0)  # 5 of 5 agree
    scored = {r["text"]: r for r in rows}
    assert scored["Bob lives here"]["entities"] == [
        {"text": "Bob", "type": "person", "confidence": 0.8}
    ]
