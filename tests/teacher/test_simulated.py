"""The simulated teacher (a corpus, not an LLM) driven by the real step functions over HTTP.

A bag-of-words embedder stands in for MiniLM (word overlap = similarity) so these tests stay
fast; the one test with the real packaged MiniLM is marked slow.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import statistics
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import openai
import pytest
import yaml
from pydantic import ValidationError

from evokd_agent.cli import main as cli
from evokd_agent.config.run_config import BASE_DIR_KEY, load_run_config
from evokd_agent.distill import confidence
from evokd_agent.distill.context import Candidate, DistillContext, TaskSpec
from evokd_agent.distill.hygiene import Hygiene
from evokd_agent.distill.labelling import label_candidates, label_request
from evokd_agent.distill.scoring import score_ner_texts, score_texts
from evokd_agent.distill.steps import analyze_weakness, generate_inputs, write_variants
from evokd_agent.prompting import PromptSet
from evokd_agent.servers import simulated as simulated_module
from evokd_agent.servers.simulated import MARKER, SimulatedTeacher
from evokd_agent.student.config import TrainConfig
from evokd_agent.student.data import NerSample, TextSample
from evokd_agent.student.student import Prediction
from evokd_agent.teacher.config import TeacherConfig
from evokd_agent.teacher.simulated_config import SIMULATED_MODEL, SimulatedTeacherConfig
from evokd_agent.teacher.tokens import TokenCounter
from tests.teacher.conftest import generator_for

LABELS = ("negative", "positive")
POSITIVE = [
    "the pasta at this restaurant was delicious and fresh",
    "the pizza at this restaurant was tasty and fresh",
    "the team played a brilliant match last night",
    "the sunny weather made our picnic wonderful",
    "this concert was a joyful evening of great music",
    "the hotel staff were friendly and the room was spotless",
]
NEGATIVE = [
    "the soup at this restaurant was cold and bland",
    "the team played a dreadful match and lost badly",
    "the rain ruined our picnic completely",  # also in dev: never served
    "this concert was a noisy evening of awful music",
    "the hotel room was dirty and the staff were rude",
    "the train was late and the seats were broken",
]
IN_DEV = NEGATIVE[2]


def bow_embed(texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Hashed bag of words, L2-normalised: cosine similarity = word overlap."""
    out = np.zeros((len(texts), 512), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 512] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    normalised: np.ndarray[Any, np.dtype[np.float32]] = out / np.maximum(norms, 1e-9)
    return normalised


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path]:
    rows = [{"text": t, "label": 1} for t in POSITIVE] + [{"text": t, "label": 0} for t in NEGATIVE]
    (tmp_path / "meta.json").write_text(json.dumps({"label_names": list(LABELS)}))
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    dev = write_jsonl(tmp_path / "dev.jsonl", [{"text": IN_DEV, "label": 0}])
    return train, dev


def settings(train: Path, dev: Path | None = None, **kw: Any) -> SimulatedTeacherConfig:
    return SimulatedTeacherConfig(corpus=train, exclude=[dev] if dev else [], **kw)


@pytest.fixture
def teacher(corpus: tuple[Path, Path]) -> Iterator[SimulatedTeacher]:
    with SimulatedTeacher(settings(*corpus, noise=0.0), embedder=bow_embed) as sim:
        yield sim


def make_ctx(
    generator: Any,
    task: str = "classification",
    labels: Sequence[str] = LABELS,
    k: int = 1,
    m: int = 1,
) -> Any:
    spec = TaskSpec(task, "Is the review positive or negative?", tuple(labels))  # type: ignore[arg-type]
    rows: list[dict[str, Any]] = []
    ctx = DistillContext(
        spec=spec,
        student=None,  # type: ignore[arg-type]
        train_config=TrainConfig(),
        seeds=[],
        dev=[],
        test=[],
        generator=generator,
        prompts=PromptSet.load(task),
        hygiene=Hygiene(labels, [IN_DEV]),
        record_sample=rows.append,
        end_round=lambda row: None,
        save_final=lambda: "",
        inputs_per_request=k,
        texts_per_request=m,
    )
    return SimpleNamespace(ctx=ctx, rows=rows)


@asynccontextmanager
async def context_for(sim: SimulatedTeacher, **kw: Any) -> AsyncIterator[DistillContext]:
    async with generator_for(sim.base_url, model=sim.model) as generator:
        made = make_ctx(generator, **kw)
        yield made.ctx


def gold(text: str) -> str:
    return "positive" if text in POSITIVE else "negative"


async def test_zerogen_serves_real_sentences_once_with_the_asked_label(
    teacher: SimulatedTeacher,
) -> None:
    async with context_for(teacher) as ctx:
        jobs = [
            {"task_description": "t", "label": y, "label_description": y, "n": 5} for y in LABELS
        ]
        report = await write_variants(ctx, "zerogen", jobs, "zerogen")
        first = list(ctx.state.candidates)
        assert report.produced == 10 and report.accepted == 10
        assert all(c.label_hint == gold(c.text) for c in first)  # label-conditioned
        more = await write_variants(ctx, "zerogen", [{**j, "n": 2} for j in jobs], "zerogen")
    texts = [c.text for c in ctx.state.candidates]
    assert more.produced == 1 and more.rejected == {"teacher_error": 3}  # corpus exhausted
    assert len(texts) == len(set(texts)) == 11  # 12 sentences, minus the dev one, each once
    assert set(texts) == set(POSITIVE + NEGATIVE) - {IN_DEV}


async def test_batched_zerogen_serves_k_distinct_sentences_of_the_label(
    teacher: SimulatedTeacher,
) -> None:
    async with context_for(teacher, k=4) as ctx:
        jobs = [{"task_description": "t", "label": "positive", "label_description": "p", "n": 5}]
        report = await write_variants(ctx, "zerogen", jobs, "zerogen")
        again = await write_variants(ctx, "zerogen", jobs, "zerogen")  # 1 positive left
    texts = [c.text for c in ctx.state.candidates]
    assert report.produced == report.accepted == 5  # requests of 4 and 1
    assert texts[:5] and all(t in POSITIVE for t in texts[:5]) and len(set(texts)) == len(texts)
    # Only one positive sentence is left: then any label, until the corpus runs dry.
    assert again.produced == 5 and texts[5] in POSITIVE


async def test_rewrite_picks_the_nearest_sentence_with_the_seeds_label(
    teacher: SimulatedTeacher,
) -> None:
    seed = POSITIVE[0]
    async with context_for(teacher) as ctx:
        job = {"task_description": "t", "text": seed, "label": "positive", "n": 2}
        await write_variants(ctx, "rewrite", [job], "rewrite")
    texts = [c.text for c in ctx.state.candidates]
    # The soup sentence shares as many words but is negative; the seed itself is never served.
    assert POSITIVE[1] in texts and len(texts) == 2
    assert seed not in texts and all(gold(t) == "positive" for t in texts)


@pytest.mark.parametrize("k", [1, 4])
async def test_hard_inputs_are_nearest_to_the_weakness_analysis(
    teacher: SimulatedTeacher, k: int
) -> None:
    async with context_for(teacher, k=k) as ctx:
        missed = TextSample("our team lost the match badly", "negative")
        ctx.state.wrong = [Prediction(missed, "positive", 0.9, False)]
        ctx.state.correct = [Prediction(TextSample(POSITIVE[4], "positive"), "positive", 0.8, True)]
        analysis = await analyze_weakness(ctx)
        report = await generate_inputs(ctx, n_hard=1, n_easy=0)  # round 0: label "negative"
    assert analysis.ok and analysis.text.startswith(MARKER)
    assert '- "our team lost the match badly" (true: negative; student: positive)' in analysis.text
    assert report.accepted == 1 and ctx.state.candidates[0].text == NEGATIVE[1]
    assert ctx.state.candidates[0].kind == "hard"


@pytest.mark.parametrize("m", [1, 4])
async def test_noise_zero_labels_are_gold_with_full_confidence(
    teacher: SimulatedTeacher, m: int
) -> None:
    texts = POSITIVE + [t for t in NEGATIVE if t != IN_DEV] + ["a restaurant with cold bland soup"]
    async with context_for(teacher, m=m) as ctx:
        ctx.state.candidates = [Candidate(t, "zerogen", 1, "p") for t in texts]
        report, samples = await label_candidates(ctx)
        scores = await score_texts(ctx, texts)
    assert report.accepted == len(texts)
    expected = [gold(t) for t in texts[:-1]] + ["negative"]  # unknown text: nearest neighbour's
    assert [s.label for s in samples if isinstance(s, TextSample)] == expected
    assert [s.label if s else None for s in scores] == expected
    assert all(s is not None and s.confidence == pytest.approx(1.0) for s in scores)


def test_noise_rate_and_calibrated_confidence(tmp_path: Path) -> None:
    rows = [{"text": f"review number {i} of the film", "label": LABELS[i % 2]} for i in range(2000)]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    sim = SimulatedTeacher(settings(train, noise=0.2, seed=3), embedder=bow_embed)
    drawn = [sim.confidence(r["text"], LABELS) for r in rows]
    flipped = [label != r["label"] for (label, _), r in zip(drawn, rows, strict=True)]
    conf = [dist[label] for label, dist in drawn]
    assert statistics.mean(flipped) == pytest.approx(0.2, abs=0.03)
    assert statistics.mean(conf) == pytest.approx(0.8, abs=0.02)  # calibrated on average
    right = statistics.mean(c for c, f in zip(conf, flipped, strict=True) if not f)
    wrong = statistics.mean(c for c, f in zip(conf, flipped, strict=True) if f)
    assert right > wrong + 0.05  # informative ...
    assert max(c for c, f in zip(conf, flipped, strict=True) if f) > right  # ... not an oracle
    assert min(conf) >= 0.5 and all(abs(sum(d.values()) - 1) < 1e-9 for _, d in drawn)
    assert sim.confidence(rows[7]["text"], LABELS) == drawn[7]  # deterministic per text
    other = SimulatedTeacher(settings(train, noise=0.2, seed=4), embedder=bow_embed)
    assert [other.confidence(r["text"], LABELS)[0] for r in rows[:200]] != [
        label for label, _ in drawn[:200]
    ]


@pytest.mark.parametrize("m", [1, 3])
async def test_logprobs_give_back_the_simulated_distribution(
    corpus: tuple[Path, Path], m: int
) -> None:
    texts = POSITIVE + NEGATIVE[:2]
    with SimulatedTeacher(settings(*corpus, noise=0.3), embedder=bow_embed) as sim:
        async with context_for(sim, m=m) as ctx:
            scores = await score_texts(ctx, texts)
            result = await ctx.generator.complete(label_request(ctx, texts[0], logprobs=True))
    for text, score in zip(texts, scores, strict=True):
        label, dist = sim.confidence(text, LABELS)
        assert score is not None and score.method == "logprobs" and score.label == label
        assert score.distribution == pytest.approx(dist)
    assert result.response is not None
    choice = result.response.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content
    tops = {alt.token for t in choice.logprobs.content for alt in t.top_logprobs}
    assert set(LABELS) <= tops


async def test_usage_is_counted_like_a_real_endpoint(teacher: SimulatedTeacher) -> None:
    async with context_for(teacher) as ctx:
        request = label_request(ctx, POSITIVE[2])
        result = await ctx.generator.complete(request)
    counter = TokenCounter()
    assert result.usage.source == "server" and result.text == '{"label": "positive"}'
    assert result.usage.prompt_tokens == counter.count_request(request)
    assert result.usage.completion_tokens == counter.count_text(result.text)
    assert result.response is not None and "simulated" in result.response.model


async def test_agent_turns_and_other_models_are_refused(teacher: SimulatedTeacher) -> None:
    client = openai.AsyncOpenAI(base_url=teacher.base_url, api_key="x", max_retries=0)
    try:
        assert [m.id async for m in client.models.list()] == [SIMULATED_MODEL]
        tool = {"type": "function", "function": {"name": "finish", "parameters": {}}}
        with pytest.raises(openai.BadRequestError, match="does not drive agents"):
            await client.chat.completions.create(
                model=SIMULATED_MODEL,
                messages=[{"role": "user", "content": "go"}],
                tools=[tool],  # type: ignore[list-item]
            )
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        await client.close()


@pytest.mark.parametrize("json_mode", ["object", "off"])
@pytest.mark.parametrize("batched", [False, True])
async def test_requests_without_a_schema_are_told_apart_by_the_prompt(
    teacher: SimulatedTeacher, json_mode: str, batched: bool
) -> None:
    async with context_for(teacher, k=1 + 3 * batched, m=1 + 3 * batched) as ctx:
        ctx.json_mode = json_mode  # type: ignore[assignment]
        jobs = [
            {"task_description": "t", "label": y, "label_description": y, "n": 1} for y in LABELS
        ]
        await write_variants(ctx, "zerogen", jobs, "zerogen")
        report, samples = await label_candidates(ctx)
        ctx.state.wrong = [
            Prediction(TextSample("a cold cafe", "negative"), "positive", 0.6, False)
        ]
        analysis = await analyze_weakness(ctx)
    assert report.accepted == 2
    assert sorted(s.label for s in samples if isinstance(s, TextSample)) == sorted(LABELS)
    assert analysis.text.startswith(MARKER) and '"a cold cafe"' in analysis.text
    policy = {"role": "system", "content": 'Answer with {"tool": "<name>", "arguments": {}}'}
    reply = teacher.handle({"messages": [policy], "response_format": {"type": "json_object"}})
    assert reply.status == 400 and "agents" in reply.error_message


NER_ROWS = [
    (["Alice", "flew", "to", "Paris", "today"], ["B-person", "O", "O", "B-location", "O"]),
    (["Bob", "Smith", "likes", "Rome"], ["B-person", "I-person", "O", "B-location"]),
    (["nothing", "to", "see", "here"], ["O", "O", "O", "O"]),
]


@pytest.mark.parametrize("m", [1, 4])
async def test_ner_labels_are_gold_entities_the_pipeline_accepts(tmp_path: Path, m: int) -> None:
    rows = [{"tokens": t, "tags": g} for t, g in NER_ROWS]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    texts = [" ".join(t) for t, _ in NER_ROWS] + ["Carol met Alice in Rome"]
    with SimulatedTeacher(settings(train, noise=0.0), embedder=bow_embed) as sim:
        async with context_for(sim, task="ner", labels=("person", "location"), m=m) as ctx:
            ctx.state.candidates = [Candidate(t, "zerogen", 1, "p") for t in texts]
            report, samples = await label_candidates(ctx)
            result = await ctx.generator.complete(label_request(ctx, texts[1], logprobs=True))
            scores = await score_ner_texts(ctx, texts)
    assert [s.confidence if s else None for s in scores] == pytest.approx([1.0] * 4)
    assert [len(s.entities) if s else None for s in scores] == [2, 2, 0, 2]
    assert report.accepted == 4
    tags = [s.tags for s in samples if isinstance(s, NerSample)]
    assert tags[:3] == [tuple(g) for _, g in NER_ROWS]
    assert tags[3] == ("O", "O", "B-person", "O", "B-location")  # corpus names found in new text
    ner_from_logprobs = getattr(confidence, "ner_from_logprobs", None)
    if ner_from_logprobs is not None and result.response is not None:
        score = ner_from_logprobs(
            result.response.choices[0].logprobs,
            ("person", "location"),
            [("Bob Smith", "person"), ("Rome", "location")],
        )
        assert score is not None and score.confidence == pytest.approx(1.0)


def test_ner_noise_drops_or_retypes_entities(tmp_path: Path) -> None:
    tags = ["B-person", "O", "O", "B-location"]
    rows = [{"tokens": ["Ann", "x", str(i), "Oslo"], "tags": tags} for i in range(300)]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    sim = SimulatedTeacher(settings(train, noise=0.3), embedder=bow_embed)
    types = ("person", "location")
    kept = [sim.entities(f"Ann x {i} Oslo", types) for i in range(300)]
    total = 2 * len(kept)
    right = sum((s, k) in {("Ann", "person"), ("Oslo", "location")} for e in kept for s, k, _ in e)
    assert 1 - right / total == pytest.approx(0.3, abs=0.05)
    assert any(len(e) < 2 for e in kept) and any(
        k == "location" for e in kept for s, k, _ in e if s == "Ann"
    )


def test_config_syntax_and_guards(tmp_path: Path, corpus: tuple[Path, Path]) -> None:
    train, dev = corpus
    context = {BASE_DIR_KEY: tmp_path}
    cfg = TeacherConfig.model_validate(
        {"base_url": "simulated", "simulated": {"corpus": "train.jsonl", "exclude": ["dev.jsonl"]}},
        context=context,
    )
    assert cfg.is_simulated and cfg.simulated is not None and cfg.simulated.corpus == train
    assert cfg.simulated.noise == 0.1 and cfg.simulated.exclude == [dev]
    with pytest.raises(ValidationError, match="go together"):
        TeacherConfig(base_url="simulated")
    with pytest.raises(ValidationError, match="go together"):
        TeacherConfig.model_validate(
            {"base_url": "http://x:1/v1", "simulated": {"corpus": str(train)}}
        )
    with pytest.raises(ValidationError, match="evaluation split"):
        SimulatedTeacherConfig(corpus=dev)
    with pytest.raises(ValidationError, match="less than or equal"):
        SimulatedTeacherConfig(corpus=train, noise=0.7)


def test_run_yaml_and_teacher_endpoint_announce_the_simulation(
    tmp_path: Path,
    corpus: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from evokd_agent.run.runner import teacher_endpoint

    dev = corpus[1]
    seeds = write_jsonl(tmp_path / "seeds.jsonl", [{"text": POSITIVE[0], "label": 1}])
    run = {
        "name": "sim",
        "task": "classification",
        "task_description": "sentiment",
        "labels": list(LABELS),
        "data": {"seeds": seeds.name, "dev": dev.name},
        "teacher": {
            "base_url": "simulated",
            "simulated": {"corpus": "train.jsonl", "exclude": ["dev.jsonl"], "noise": 0.1},
        },
        "budget_tokens": 1000,
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(run))
    config = load_run_config(path).teacher
    monkeypatch.setattr(simulated_module, "default_embedder", lambda: bow_embed)
    with teacher_endpoint(config, tmp_path / "teacher.log") as live:
        assert live.model == SIMULATED_MODEL and live.base_url.startswith("http://127.0.0.1:")
        assert live.simulated is None
    assert "SIMULATION" in capsys.readouterr().err


def test_cli_simulate_prints_the_url_and_a_banner(
    corpus: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def stop(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(simulated_module, "default_embedder", lambda: bow_embed)
    monkeypatch.setattr(cli, "time", SimpleNamespace(sleep=stop))
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # keep pytest's SIGTERM
    train, dev = corpus
    code = cli.main(["teacher", "simulate", "--corpus", str(train), "--exclude", str(dev)])
    out, err = capsys.readouterr()
    assert code == 0 and re.fullmatch(r"http://127\.0\.0\.1:\d+/v1\n", out)
    assert "SIMULATED teacher (not an LLM)" in err


@pytest.mark.slow
async def test_real_minilm_targets_the_semantically_closest(tmp_path: Path) -> None:
    rows = [
        {"text": "The meal tasted wonderful and the chef was kind.", "label": "positive"},
        {"text": "The car broke down on the highway again.", "label": "positive"},
        {"text": "Stock prices fell sharply on Monday morning.", "label": "positive"},
        {"text": "I adore this little bakery near my house.", "label": "positive"},
    ]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    with SimulatedTeacher(settings(train, noise=0.0)) as sim:
        async with context_for(sim) as ctx:
            job = {"task_description": "t", "text": "The food was delicious.", "label": "x", "n": 1}
            await write_variants(ctx, "rewrite", [job], "rewrite")
    assert ctx.state.candidates[0].text == rows[0]["text"]


async def test_evokd_run_end_to_end_on_the_simulation(
    tmp_path: Path,
    corpus: tuple[Path, Path],
    tiny_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from evokd_agent.run.runner import run_distillation

    monkeypatch.setattr(simulated_module, "default_embedder", lambda: bow_embed)
    seeds = [{"text": "a lovely warm cafe", "label": 1}, {"text": "a grim cold cafe", "label": 0}]
    write_jsonl(tmp_path / "seeds.jsonl", seeds)
    run = {
        "name": "sim",
        "task": "classification",
        "task_description": "Is the review positive or negative?",
        "labels": list(LABELS),
        "data": {"seeds": "seeds.jsonl", "dev": "dev.jsonl"},
        "teacher": {
            "base_url": "simulated",
            "simulated": {"corpus": "train.jsonl", "exclude": ["dev.jsonl"], "noise": 0.0},
        },
        "student": {"model": str(tiny_model_dir), "train": {"min_steps": 2, "progress": False}},
        "method": "evokd",
        "budget_tokens": 100_000,
        "max_rounds": 2,
        "samples_per_round": {"hard": 2, "easy": 1},
        "stop": {"patience_rounds": 10},
        "run_root": str(tmp_path / "runs"),
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(run))
    outcome = await run_distillation(path, progress=False)
    rows = [
        json.loads(line) for line in (outcome.run_dir / "samples.jsonl").read_text().splitlines()
    ]
    accepted = [r for r in rows if r["accepted"] and r["stage"] == "labelled"]
    assert len(accepted) == 6  # 2 rounds x 3 real corpus sentences, each labelled with gold
    assert all(r["text"] in POSITIVE + NEGATIVE and r["label"] == gold(r["text"]) for r in accepted)


def test_corpus_embeddings_are_cached_on_disk_by_embedder_and_texts(tmp_path: Path) -> None:
    import numpy as np

    from evokd_agent.servers.simulated_corpus import cached_embeddings

    calls: list[int] = []

    class Counting:
        cache_id = "counting/v1"

        def __call__(self, texts: Sequence[str]) -> Any:
            calls.append(len(texts))
            return np.ones((len(texts), 3), dtype=np.float32)

    embedder = Counting()
    first = cached_embeddings(["a", "b"], embedder, tmp_path)
    again = cached_embeddings(["a", "b"], embedder, tmp_path)
    other = cached_embeddings(["a", "c"], embedder, tmp_path)
    assert calls == [2, 2]  # the repeat was read from disk; other texts are embedded
    assert first.shape == again.shape == other.shape == (2, 3)
    assert len(list(tmp_path.glob("*.npy"))) == 2
    plain = cached_embeddings(["a"], lambda texts: np.zeros((1, 3), np.float32), tmp_path / "x")
    assert plain.shape == (1, 3) and not (tmp_path / "x").exists()  # no cache_id: no cache


def test_batched_ner_labelling_reads_the_requested_types(tmp_path: Path) -> None:
    rows = [{"tokens": t, "tags": g} for t, g in NER_ROWS]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    sim = SimulatedTeacher(settings(train, noise=0.0), embedder=bow_embed)
    entity = {"properties": {"text": {"type": "string"}, "type": {"enum": ["person", "group"]}}}
    item = {"properties": {"id": {"type": "integer"}, "entities": {"items": entity}}}
    body = {
        "messages": [{"role": "user", "content": "Sentences:\n1. Bob Smith likes Rome"}],
        "response_format": {
            "type": "json_object",
            "schema": {"properties": {"items": {"items": item}}},
        },
        "logprobs": True,
        "top_logprobs": 5,
    }
    reply = sim.handle(body)
    assert json.loads(reply.content or "")["items"][0]["entities"][0]["type"] == "person"
    typed = [t for t in reply.logprobs or () if t.token == "person"]
    assert typed and set(typed[0].top) == {"person", "group"}  # the request's types
