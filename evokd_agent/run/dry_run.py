"""A run's cost before it starts: the method's plan rehearsed against a stand-in teacher.

`evokd run CONFIG --dry-run` prints the estimate; every run writes it to `estimate.json`, and
the report sets it against the spend. The rehearsal runs the run's own scripted policy, tools
and teacher steps (prompts, batching, conversation trimming, hygiene, the budget's shrinking of
the last round), so the requests it counts are the ones the run builds. What it cannot know, it
assumes, and says so in the estimate's notes:
- the teacher answers at once with replies of typical size: generation items are sentences as
  long as the data's own texts (seeds, dev, pool), built from their words; a labelling answer
  names one label (NER: one entity); an analysis fills its `max_tokens`; a completion-scoring
  request (the embedded teacher) completes one token;
- the student is not trained: it gets half of every batch wrong, so the analyses have errors
  to show; a plateau stop (`stop:`) cannot be foreseen, so the plan runs to its round limit
  or the budget;
- tokens are counted with the teacher's tiktoken encoding (a server with another tokenizer,
  the embedded SmolLM2 for one, reports other counts), priced with the run's price table.
Nothing is sent and no model is loaded.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from typing import Any, cast

from openai.types.chat import ChatCompletion

from evokd_agent.agent import StopRun, ToolError, ToolRegistry, run_agent
from evokd_agent.config.data import RunData, load_run_data
from evokd_agent.config.run_config import RunConfig
from evokd_agent.distill.context import DistillContext, Sample, TaskSpec, sample_text
from evokd_agent.distill.tasks import task_of
from evokd_agent.logs import silent_logger
from evokd_agent.run.context import build_context, build_hygiene, run_prices, run_seeds
from evokd_agent.run.policy import scripted_policy, step_limit
from evokd_agent.run.toolset import build_registry
from evokd_agent.student.config import TrainResult
from evokd_agent.student.metrics import ClassificationMetrics, NerMetrics
from evokd_agent.student.student import Prediction
from evokd_agent.teacher.client import TeacherClient
from evokd_agent.teacher.config import TeacherConfig
from evokd_agent.teacher.cost_estimate import CostEstimate, PhaseEstimate
from evokd_agent.teacher.generator import ChatGenerator
from evokd_agent.teacher.ledger import TokenLedger
from evokd_agent.teacher.ratelimit import RateLimiter
from evokd_agent.teacher.request import ChatRequest
from evokd_agent.teacher.tokens import TokenCounter

_NUMBERED = re.compile(r"^\d+\. ", re.MULTILINE)


async def estimate_run(
    config: RunConfig,
    data: RunData | None = None,
    registry: ToolRegistry[DistillContext] | None = None,
) -> CostEstimate:
    """The requests, tokens and dollars `config`'s run plans, without sending anything
    (`data`, `registry`: the run's, when it has loaded them already)."""
    data = data if data is not None else load_run_data(config)
    spec = config.method_spec
    seeds = run_seeds(config, data)
    ledger = TokenLedger(
        config.budget_tokens, prices=run_prices(config), budget_usd=config.budget_usd
    )
    notes: list[str] = []
    if not spec.uses_teacher:
        return _estimate(config, ledger, 0, "the method asks no teacher", (), assumed=False)
    counter = TokenCounter(config.teacher.encoding)
    replies = _Replies(config, [*seeds, *data.dev], data.pool)
    generator = ChatGenerator(
        _StandInTeacher(config.teacher, replies, counter),
        ledger=ledger,
        limiter=RateLimiter(),
        counter=counter,
        logger=silent_logger(),
        progress=False,
    )
    rehearsal = _Rehearsal(config, ledger)
    ctx = build_context(
        config,
        data,
        seeds,
        student=cast(Any, None),  # never read: the context's student methods are stand-ins
        generator=generator,
        hygiene=build_hygiene(config, data, seeds),
        teacher=config.teacher,
        record_sample=lambda row: None,
        end_round=rehearsal.end_round,
        save_final=lambda: "",
        kind=_RehearsalContext,
    )
    ctx.state.batch = list(seeds)  # round 0 (training on the seeds) asks no teacher
    registry = registry if registry is not None else build_registry(config.extra_tools)
    policy = scripted_policy(config, len(seeds), registry)
    try:
        await run_agent(policy, registry, ctx, max_steps=step_limit(config))
    except (StopRun, ToolError) as exc:  # a user tool that needs the real student, say
        notes.append(f"the rehearsal stopped early: {exc}")
    if config.policy != "scripted" and spec.llm_policy_allowed:
        notes.append(
            f"policy {config.policy}: the agent's own requests (one per tool call) are not "
            "included; the tools' requests are, for the scripted plan"
        )
    if config.teacher.is_embedded:
        notes.append(
            "the embedded teacher counts tokens with its own tokenizer (SmolLM2), "
            "these with tiktoken's"
        )
    stop = rehearsal.reason or ctx.state.final.get("reason") or "plan done"
    return _estimate(config, ledger, ctx.state.round, str(stop), tuple(notes))


def estimate_line(estimate: CostEstimate) -> str:
    """The estimate in one line, for the run's start."""
    total = estimate.total
    # As the progress line: no dollars for a teacher that costs nothing (embedded, simulated).
    free = total.cost_usd == 0 and estimate.budget_usd is None
    money = f" (${total.cost_usd:.4f})" if estimate.priced and not free else ""
    return (
        f"{total.requests:,} teacher requests, {total.tokens:,} tokens{money} over "
        f"{estimate.rounds} round(s), then {estimate.stop}"
    )


def _estimate(
    config: RunConfig,
    ledger: TokenLedger,
    rounds: int,
    stop: str,
    notes: Sequence[str],
    *,
    assumed: bool = True,
) -> CostEstimate:
    status = ledger.status()
    phases = tuple(
        PhaseEstimate(
            phase,
            spend.requests,
            spend.prompt_tokens,
            spend.completion_tokens,
            round(spend.cost_usd, 6),
        )
        for phase, spend in status.by_phase.items()
    )
    return CostEstimate(
        method=config.method,
        rounds=rounds,
        stop=stop,
        budget_tokens=config.budget_tokens,
        budget_usd=config.budget_usd,
        priced=status.priced,
        phases=phases,
        notes=(*(_ASSUMPTIONS if assumed else ()), *notes),
    )


_ASSUMPTIONS = (
    "replies of typical size (data-length inputs, one label per text, analyses at max_tokens)",
    "a teacher that sends logprobs (without them, each confidence score samples the label 5 times)",
    "no plateau stop: the plan runs to its round limit or the budget",
)


class _Rehearsal:
    """The run's round bookkeeping, for the rehearsal: stop at the budget or the round limit
    (never at a plateau: the stand-in student does not learn)."""

    def __init__(self, config: RunConfig, ledger: TokenLedger) -> None:
        self.config = config
        self.ledger = ledger
        self.reason: str | None = None

    def end_round(self, row: dict[str, Any]) -> str | None:
        if self.ledger.exhausted:
            self.reason = self.ledger.exhaustion()
        elif int(row["round"]) >= self.config.max_rounds:
            self.reason = f"round limit reached: {row['round']} of max_rounds"
        return self.reason


class _RehearsalContext(DistillContext):
    """The run's context with a stand-in student: it trains in no time and gets every other
    sample wrong, so the analyses have errors to describe."""

    def evaluate(self, samples: Sequence[Sample]) -> ClassificationMetrics | NerMetrics:
        strategy = task_of(self.spec)
        predictions = self._predictions(samples)
        gold = [strategy.gold(s) for s in samples]
        metrics: ClassificationMetrics | NerMetrics = strategy.score(
            gold, [p.predicted for p in predictions], self.spec.labels
        )
        return metrics

    def split_errors(self, samples: Sequence[Sample]) -> tuple[list[Any], list[Any]]:
        predictions = self._predictions(samples)
        return [p for p in predictions if not p.correct], [p for p in predictions if p.correct]

    def train_and_score(self) -> tuple[ClassificationMetrics | NerMetrics, float | None]:
        return self.evaluate(self.dev), None

    def train(self, samples: Sequence[Sample]) -> TrainResult:
        return TrainResult(epochs=0, steps=0, train_loss=[])

    def _predictions(self, samples: Sequence[Sample]) -> list[Prediction[Any, Any]]:
        strategy = task_of(self.spec)
        out: list[Prediction[Any, Any]] = []
        for i, sample in enumerate(samples):
            gold = strategy.gold(sample)
            guess = gold if i % 2 else strategy.miss(sample, self.spec.labels)
            out.append(Prediction(sample, guess, 0.6, guess == gold))
        return out


class _Replies:
    """Replies of typical size for each kind of request the steps send."""

    def __init__(
        self,
        config: RunConfig,
        samples: Sequence[Sample],
        pool: Sequence[str],
    ) -> None:
        texts = [sample_text(s) for s in samples] + list(pool[:500])
        self.words = [w for t in texts for w in t.split()] or ["word"]
        self.lengths = [len(t.split()) for t in texts if t.split()] or [12]
        self.labels = list(config.labels)
        self.strategy = task_of(TaskSpec(config.task, "", tuple(config.labels)))
        # The key a generation item names its target with ("label", NER "type").
        self.noun = self.strategy.noun
        self.per_input = config.generation.max_tokens
        self.rng = random.Random(config.seed)
        self.turn = 0

    def sentence(self) -> str:
        """A new sentence as long as the data's, of its words (so no filter takes it for a
        copy of one)."""
        return " ".join(self.rng.choices(self.words, k=self.rng.choice(self.lengths)))

    def label(self) -> str:
        self.turn += 1
        return self.labels[self.turn % len(self.labels)]

    def answer(self) -> dict[str, Any]:
        return self.strategy.example_answer(self.label(), self.rng.choice(self.words))

    def reply(self, request: ChatRequest) -> str:
        if request.prompt is not None:  # completion scoring: the label word
            return f" {self.labels[0]}"
        step = request.template_version.split("/")[-1].split("@")[0]
        if request.phase == "analysis":
            return " ".join(["word"] * request.max_tokens)
        if request.phase == "generation":
            n = _items(request) or max(1, request.max_tokens // max(1, self.per_input))
            planned = step == "generate"
            items = [
                {
                    "id": i,
                    **({self.noun: self.label(), "difficulty": "hard"} if planned else {}),
                    "text": self.sentence(),
                }
                for i in range(1, n + 1)
            ]
            return json.dumps({"items": items}, ensure_ascii=False)
        if step == "label_batch":
            last = str(request.messages[-1].get("content", ""))
            n = _items(request) or len(_NUMBERED.findall(last)) or 1
            items = [{"id": i, **self.answer()} for i in range(1, n + 1)]
            return json.dumps({"items": items}, ensure_ascii=False)
        return json.dumps(self.answer(), ensure_ascii=False)


def _items(request: ChatRequest) -> int:
    """The items the request's JSON schema asks for (0 when it has none)."""
    schema = (request.response_format or {}).get("schema") or {}
    items = schema.get("properties", {}).get("items", {})
    return int(items.get("minItems", 0))


class _StandInTeacher(TeacherClient):
    """A teacher that answers at once, without a connection, with `_Replies`' replies."""

    def __init__(self, config: TeacherConfig, replies: _Replies, counter: TokenCounter) -> None:
        # Not the HTTP client's constructor: nothing here may open a connection.
        self.config = config
        self.model = config.model
        self.base_url = "rehearsal"
        self.reached = True
        self._pool = None  # answers at once: the generator's time limit never fires
        self.replies = replies
        self.counter = counter

    async def send(self, request: ChatRequest) -> tuple[ChatCompletion, bytes]:
        text = self.replies.reply(request)
        completion = min(self.counter.count_text(text), request.max_tokens)
        body = {
            "id": "rehearsal",
            "object": "chat.completion",
            "created": 0,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                    "logprobs": self._logprobs(text) if request.logprobs else None,
                }
            ],
            "usage": {
                "prompt_tokens": self.counter.count_request(request),
                "completion_tokens": completion,
                "total_tokens": 0,
            },
        }
        raw = json.dumps(body).encode()
        return ChatCompletion.model_validate(body), raw

    def _logprobs(self, text: str) -> dict[str, Any]:
        """Every token certain: labels read from logprobs, as from a teacher that sends them
        (without, the run would sample each label several times instead)."""
        encoding = self.counter.encoding
        pieces = [encoding.decode([t]) for t in encoding.encode_ordinary(text)]
        entry = [{"token": p, "logprob": 0.0, "bytes": None} for p in pieces]
        return {"content": [{**e, "top_logprobs": [e]} for e in entry]}

    async def aclose(self) -> None:
        return None
