"""Classification labels read from a completions endpoint's logprobs, with contextual calibration.

Small models label badly through chat but well when asked to *continue* a few-shot text
(`Text: ...\\nLabel: positive`) and read by the probability they give each label word. The
prompt is built from the run's labelled seeds; a label's probability is the first-token mass of
its words, summed over surface forms (` positive`, `Positive`, `pos`...). Labels that share
leading words (`very good` / `very bad`) are told apart word by word: one more request per
shared prefix, conditioned on it, so a label's probability is the product along its words.

Calibration removes a model's prior towards one label (distill.calibration):
- "mixture" (default): the batch prior below, then the scale refitted by a Gaussian mixture
  over every text scored so far (`calibration.mixture_posteriors`); below 8 scored texts per
  label, or where the mixture does not stand, "batch".
- "batch" (Batch Calibration, Zhou et al. 2024): divide by the mean distribution over the real
  inputs scored so far in the run (the current call's included). Both assume no label
  dominates the inputs by far, as in a pool or in generation balanced over labels, and a first
  call of several texts (one text alone is its own prior: a uniform distribution).
- "content_free" (contextual calibration, Zhao et al. 2021, "Calibrate Before Use"): divide by
  the mean distribution of content-free inputs ("N/A", "", "[MASK]").
Measured on SmolLM2-135M, SST-2 dev: the content-free prior leaned the other way from the
model's bias on real sentences and made labels worse; the batch prior corrected them but left
confidences too low, which the mixture corrects (README, "The offline teacher").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from evokd_agent.distill.calibration import (
    batch_prior,
    calibrated,
    combined,
    mixture_posteriors,
)
from evokd_agent.distill.confidence import ConfidenceMethod, LabelConfidence
from evokd_agent.distill.context import DistillContext, ToolState
from evokd_agent.student.data import TextSample
from evokd_agent.teacher.request import ChatRequest, ChatResult

CONTENT_FREE = ("N/A", "", "[MASK]")
TEMPLATE_VERSION = "label-scoring-v1"


@dataclass(frozen=True)
class ScoringSetup:
    """How one run scores labels on a completions endpoint."""

    calibration: Literal["mixture", "batch", "content_free", "off"] = "mixture"
    """How the label distributions are calibrated (see the module docstring)."""
    top_logprobs: int = 10
    """Alternatives asked per token; label forms outside them count as 0."""
    shots: int = 8
    """Most labelled seeds in the few-shot prompt."""
    input_name: str = "Text"
    """Field name before each input in the prompt."""
    label_name: str = "Label"
    """Field name before each label in the prompt."""
    orders: int = 1
    """Example orders each text is scored under: 2 adds the examples in reverse order (another
    label's example comes last), at twice the requests; the label is read from both."""


Views = tuple[dict[str, float], ...]
"""A text's label distributions, one per example order."""
Raw = tuple[Views | None, float, ChatResult]
"""A text's scoring before calibration: its views (None if unreadable), the mass on label
words at the first word (first order), and its first request's result."""


@dataclass(frozen=True)
class Scored:
    """One text's scoring: the label distribution (calibrated if asked), or why there is none."""

    confidence: LabelConfidence | None
    """Label, confidence and distribution; None when no label word was among the alternatives
    or a request failed."""
    result: ChatResult
    """The (first) request's result, for the ledger's and the records' sake."""
    mass: float = 0.0
    """Raw probability the model put on label words at the first word (before normalising)."""


def one_line(text: str) -> str:
    return " ".join(text.split())


def prompt_head(ctx: DistillContext, setup: ScoringSetup, order: int = 0) -> str:
    """The static part of every scoring prompt: the task, then labelled seeds, labels
    interleaved so that the last example does not always carry the same label (order 1: the
    same examples reversed)."""
    by_label: dict[str, list[TextSample]] = {}
    for seed in ctx.seeds:
        if isinstance(seed, TextSample):
            by_label.setdefault(seed.label, []).append(seed)
    shots: list[TextSample] = []
    while len(shots) < setup.shots and any(by_label.values()):
        for label in ctx.spec.labels:
            if by_label.get(label) and len(shots) < setup.shots:
                shots.append(by_label[label].pop(0))
    if order % 2:
        shots.reverse()
    lines = [f"{one_line(ctx.spec.description)}\n"]
    lines += [
        f"{setup.input_name}: {one_line(s.text)}\n{setup.label_name}: {s.label}\n" for s in shots
    ]
    return "\n".join(lines) + "\n"


def scoring_prompt(head: str, setup: ScoringSetup, text: str, prefix: Sequence[str] = ()) -> str:
    """`head`, then the text to label and its label field, followed by `prefix` words."""
    tail = "".join(f" {w}" for w in prefix)
    return f"{head}{setup.input_name}: {one_line(text)}\n{setup.label_name}:{tail}"


def _branches(labels: Sequence[str]) -> dict[tuple[str, ...], list[str]]:
    """Word prefixes where labels part ways -> the distinct next words there."""
    out: dict[tuple[str, ...], list[str]] = {}
    for label in labels:
        words = label.split()
        for i, word in enumerate(words):
            prefix = tuple(w.lower() for w in words[:i])
            nexts = out.setdefault(prefix, [])
            if word.lower() not in [n.lower() for n in nexts]:
                nexts.append(word)
    return {p: n for p, n in out.items() if len(n) > 1 or p == ()}


def word_mass(alternatives: Mapping[str, float], words: Sequence[str]) -> dict[str, float]:
    """Probability of each word as the next one: the summed probability of the alternatives
    (token -> logprob) that begin it, case and leading space ignored; a token that begins
    several of the words counts for none."""
    mass = dict.fromkeys(words, 0.0)
    for token, logprob in alternatives.items():
        piece = token.strip().lower()
        if not piece:
            continue
        owners = [w for w in words if w.lower().startswith(piece)]
        if len(owners) == 1:
            mass[owners[0]] += math.exp(logprob)
    return mass


def _alternatives(result: ChatResult) -> dict[str, float] | None:
    """First generated token's alternatives (token -> logprob), or None."""
    if result.response is None or not result.response.choices:
        return None
    logprobs = result.response.choices[0].logprobs
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    if not content:
        return None
    first = content[0]
    alternatives = {a.token: a.logprob for a in first.top_logprobs or []}
    alternatives.setdefault(first.token, first.logprob)
    return alternatives


def _request(prompt: str, setup: ScoringSetup, index: int) -> ChatRequest:
    return ChatRequest(
        messages=(),
        prompt=prompt,
        max_tokens=1,
        temperature=0.0,
        logprobs=True,
        top_logprobs=setup.top_logprobs,
        phase="labelling",
        template_version=TEMPLATE_VERSION,
        sample_index=index,
    )


def _plan(
    labels: Sequence[str], n_texts: int, orders: int
) -> list[tuple[int, int, tuple[str, ...]]]:
    """(order, text index, word prefix) of every scoring request, in the order they are sent
    (one order after the other, so that the server's prefix cache keeps its examples)."""
    branches = _branches(labels)
    return [(o, i, prefix) for o in range(orders) for i in range(n_texts) for prefix in branches]


def scoring_requests(
    ctx: DistillContext, setup: ScoringSetup, texts: Sequence[str]
) -> list[ChatRequest]:
    """The requests that score `texts`: per text and example order, one per point where
    labels part ways."""
    heads = [prompt_head(ctx, setup, order) for order in range(setup.orders)]
    return [
        _request(scoring_prompt(heads[o], setup, texts[i], prefix), setup, 0)
        for o, i, prefix in _plan(ctx.spec.labels, len(texts), setup.orders)
    ]


async def raw_distributions(
    ctx: DistillContext, setup: ScoringSetup, texts: Sequence[str], desc: str = "label scoring"
) -> list[Raw]:
    """Per text: its label distribution under each example order before calibration (None if
    one is unreadable), the mass on label words at the first word, the first request's result."""
    labels = list(ctx.spec.labels)
    branches = _branches(labels)
    keys = _plan(labels, len(texts), setup.orders)
    requests = scoring_requests(ctx, setup, texts)
    results = await ctx.generator.run(requests, desc=desc) if requests else []
    by_key = dict(zip(keys, results, strict=True))
    out: list[Raw] = []
    for i in range(len(texts)):
        views: list[dict[str, float]] = []
        mass_at_root = 0.0
        for o in range(setup.orders):
            dist, mass = _distribution(labels, branches, {p: by_key[(o, i, p)] for p in branches})
            if o == 0:
                mass_at_root = mass
            if dist is None:
                break
            views.append(dist)
        readable = len(views) == setup.orders
        out.append((tuple(views) if readable else None, mass_at_root, by_key[(0, i, ())]))
    return out


def _distribution(
    labels: Sequence[str],
    branches: Mapping[tuple[str, ...], Sequence[str]],
    results: Mapping[tuple[str, ...], ChatResult],
) -> tuple[dict[str, float] | None, float]:
    """One text's label distribution from its requests (None if unreadable), and the mass on
    label words at the first word."""
    step: dict[tuple[str, ...], dict[str, float]] = {}
    mass_at_root = 0.0
    for prefix, words in branches.items():
        alternatives = _alternatives(results[prefix])
        if alternatives is None:
            return None, mass_at_root
        mass = word_mass(alternatives, words)
        total = sum(mass.values())
        if prefix == ():
            mass_at_root = total
        if total <= 0:
            return None, mass_at_root
        step[prefix] = {w.lower(): m / total for w, m in mass.items()}
    return _label_probs(labels, step), mass_at_root


def _label_probs(
    labels: Sequence[str], step: Mapping[tuple[str, ...], Mapping[str, float]]
) -> dict[str, float]:
    """Each label's probability: the product of its words' probabilities where labels part."""
    probs = {}
    for label in labels:
        words = [w.lower() for w in label.split()]
        p = 1.0
        for i, word in enumerate(words):
            at = step.get(tuple(words[:i]))
            if at is not None:
                p *= at.get(word, 0.0)
        probs[label] = p
    total = sum(probs.values())
    return {k: v / total for k, v in probs.items()} if total > 0 else probs


async def content_free_prior(ctx: DistillContext, setup: ScoringSetup) -> dict[str, float] | None:
    """The mean label distribution of the content-free inputs (None if none was readable)."""
    labels = ctx.spec.labels
    rows = await raw_distributions(ctx, setup, CONTENT_FREE, desc="calibration")
    return batch_prior([combined(views, labels) for views, _, _ in rows if views], labels)


async def score_by_completion(
    ctx: DistillContext, setup: ScoringSetup, texts: Sequence[str]
) -> list[Scored]:
    """Label and confidence of each text by completion scoring, calibrated as `setup` says
    (the priors live in the run state: a resume replays them alike)."""
    rows = await raw_distributions(ctx, setup, texts)
    if setup.calibration == "content_free" and ctx.state.label_prior is None:
        ctx.state.label_prior = await content_free_prior(ctx, setup)
    return calibrate_scores(ctx.state, setup, ctx.spec.labels, rows)


def calibrate_scores(
    state: ToolState, setup: ScoringSetup, labels: Sequence[str], rows: Sequence[Raw]
) -> list[Scored]:
    """`raw_distributions` rows calibrated as `setup` says; "batch" and "mixture" add the
    rows to the texts scored so far (`state.scored`), "content_free" reads
    `state.label_prior` (uncalibrated while it is None). A text's views are combined by their
    geometric mean, except by the mixture, which fits them side by side."""
    readable = [views for views, _, _ in rows if views is not None]
    prior: dict[str, float] | None = None
    posteriors: list[dict[str, float]] | None = None
    if setup.calibration == "content_free":
        prior = state.label_prior
    elif setup.calibration in ("batch", "mixture"):
        state.scored += readable
        prior = batch_prior([combined(views, labels) for views in state.scored], labels)
        if setup.calibration == "mixture":
            by_order = [list(view) for view in zip(*state.scored, strict=True)]
            fitted = mixture_posteriors(by_order, labels)
            # This call's texts are the last ones scored.
            posteriors = fitted[len(fitted) - len(readable) :] if fitted else None
    refitted = iter(posteriors or ())
    method: ConfidenceMethod = "scoring" if prior is None else "calibrated_scoring"
    out = []
    for views, mass, result in rows:
        if views is None:
            out.append(Scored(None, result, mass))
            continue
        dist = combined(views, labels)
        if posteriors is not None:
            dist = next(refitted)
        elif prior is not None:
            dist = calibrated(dist, prior)
        label = max(dist, key=lambda k: dist[k])
        out.append(Scored(LabelConfidence(label, dist[label], dist, method), result, mass))
    return out
