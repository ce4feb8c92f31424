"""A SIMULATED teacher: an OpenAI-compatible endpoint that answers from a labelled corpus.

It is not an LLM and its results must never be reported as LLM results; it lets the methods be
compared offline on real text. The model is called "simulated-teacher", start-up is logged as a
simulation, and every free-text answer says so. It serves one labelled TRAIN file (never the
evaluation split: set `exclude` to the run's dev/test files; the run's leak guard refuses
dev/test texts as well) on 127.0.0.1 through `FakeOpenAIServer`.

What each request gets (the step is read from the JSON schema, else the prompt's JSON hint):
- generation (`{"text"}`), replying `{"text": "<a real corpus sentence>"}`. A sentence is never
  served twice in one server lifetime, nor is one quoted in any request (seeds, few-shot
  examples, tested inputs); it must fit the schema's min/maxLength and `max_tokens`.
  Classification prefers sentences whose gold label is the label the prompt names as "x" or
  (x) (NER: that contain an entity of that type), falling back to any.
  * rewrite (a "Text:"/"Sentence:" line): the sentence nearest, by embedding cosine, to that
    seed, with the seed's label (classification: its corpus label, else the label the prompt
    names as "x" or (x), else its nearest neighbour's);
  * hard EvoKD input ("HARD" in the prompt): nearest to any input quoted (`- "..."`) in the
    latest weakness analysis of the conversation (the whole analysis when it quotes none);
  * easy EvoKD input and ZeroGen: a seeded random sentence.
- classification labelling (`{"label"}`): `{"label": ...}`, see "Labels and confidence".
- NER labelling (`{"entities": [{"text", "type"}]}`): the gold entities when the sentence is in
  the corpus, else the corpus entities (most frequent type) found in its words; each draws a
  type confidence c as below (K = the types) and with probability 1 - c is dropped or retyped
  (half each), so about `noise` of them are wrong. Logprobs: each "type" value is one token
  reporting its distribution; an empty list's "]" reports "]" against "{" with a K = 2 draw
  (not lower when the list is wrong).
- weakness analysis (no JSON asked): a plain text headed "[SIMULATED teacher, not an LLM]" that
  quotes the mis-predicted inputs listed in the prompt (as many as fit `max_tokens`).
- batched requests (`{"items": [{"id": 1, ...}]}`, see `distill.batch`), by the item schema
  (else the prompt's JSON hint): items with a "text" are generation, k = the schema's maxItems
  (else the plan's lines, else "write k"); each numbered plan line (`1. label "x", HARD`) gets
  a sentence of that label, HARD ones nearest to the latest analysis, each picked as above and
  never twice; a plan-less batch picks k times as its one-input prompt would. Items with
  "label" / "entities" label the numbered texts under "Texts:" / "Sentences:", each item
  exactly as the one-text request would (same label, same logprobs on its own value token).
  When the corpus runs out, a generation batch returns the items it could fill.
- agent turns (`tools`, or a JSON policy's `{"tool": ...}`) and anything unrecognised: HTTP 400
  "the simulated teacher does not drive agents"; model policies then fall back to scripted.

Labels and confidence (classification), with K labels (the schema's enum, else the corpus's),
noise e and concentration k, deterministically per text (seeded by `seed` and the text):
    c = 1/K + (1 - 1/K) * B,  B ~ Beta(m k, (1 - m) k),  m = (1 - e - 1/K) / (1 - 1/K)
so E[c] = 1 - e; the reply is the gold label with probability c, else one of the other labels
(uniform), so P(correct | c) = c: calibrated, wrong labels get lower confidence on average, the
two overlap, and the flip rate averages e (e = 0: c = 1, always gold). The gold label is the
corpus label, or for a text the corpus does not hold, that of its nearest served neighbour.
Logprobs (when asked for): the label value is one token with logprob ln c, its `top_logprobs`
the request's `top_logprobs` most probable labels, the other labels sharing 1 - c equally;
`confidence.from_logprobs` recovers that distribution. Other tokens get logprob 0. Generation
and analysis replies carry no logprobs.

Usage: prompt and completion tokens are counted with the run's tiktoken encoding exactly as
`TokenCounter.count_request` / `count_text` count them. `n` > 1 and sampling are ignored.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evokd_agent.servers import simulated_request as req
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply, FakeTokenLogprob
from evokd_agent.servers.simulated_corpus import (
    Embedder,
    Entry,
    MiniLMEmbedder,
    SimulatedCorpus,
    text_key,
)
from evokd_agent.servers.simulated_request import (
    FOCUS,
    PLAN,
    QUOTED,
    WRONG,
    Part,
    Reply,
)
from evokd_agent.teacher.simulated_config import SIMULATED_MODEL, SimulatedTeacherConfig
from evokd_agent.teacher.tokens import TokenCounter

__all__ = ["SIMULATED_MODEL", "SimulatedTeacher", "default_embedder"]

MARKER = "[SIMULATED teacher, not an LLM]"
"""Opening of every free-text reply."""
_log = logging.getLogger(__name__)


def default_embedder() -> Embedder:
    """The packaged all-MiniLM-L6-v2, mean-pooled (tests patch this for a cheap embedder)."""
    return MiniLMEmbedder()


class SimulatedTeacher:
    """Serves the simulation on 127.0.0.1; use as a context manager, like `EmbeddedTeacher`."""

    model = SIMULATED_MODEL

    def __init__(
        self,
        config: SimulatedTeacherConfig,
        *,
        embedder: Embedder | None = None,
        encoding: str = "cl100k_base",
        port: int = 0,
    ) -> None:
        self.config = config
        self.port = port
        self.corpus = SimulatedCorpus(config, embedder or default_embedder())
        self.counter = TokenCounter(encoding)
        self.used: set[str] = set()
        """Keys of sentences served or quoted in a request: never served (again)."""
        self._rng = random.Random(config.seed)
        self._reply_tokens = [
            self.counter.count_text(self._text_reply(e.text)) for e in self.corpus.served
        ]
        self.server = FakeOpenAIServer(handler=self.handle, models=[self.model])

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> SimulatedTeacher:
        self.server.start(self.port)
        _log.warning("SIMULATED teacher (not an LLM) serving at %s", self.base_url)
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> SimulatedTeacher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    # --- dispatch --------------------------------------------------------------------------
    def handle(self, body: dict[str, Any]) -> FakeReply:
        """The reply to one chat request (also callable directly, without HTTP)."""
        messages = [m for m in body.get("messages") or [] if isinstance(m, Mapping)]
        texts = [req.content(m) for m in messages]
        prompt = next(
            (
                t
                for m, t in zip(messages[::-1], texts[::-1], strict=True)
                if m.get("role") == "user"
            ),
            "",
        )
        props = req.schema(body).get("properties") or {}
        for text in texts:  # whatever the pipeline already holds is never served
            held = QUOTED.findall(text) + FOCUS.findall(text) + req.numbered(text)
            self.used.update(text_key(q) for q in held)
        if body.get("tools") or "tool" in props or '{"tool"' in (texts[0] if texts else ""):
            return FakeReply.error(400, "the simulated teacher does not drive agents")
        batch = req.batch_kind(props, prompt)
        if batch is not None:
            content, logprobs = self._batch(batch, body, prompt, messages, texts, props)
        elif "label" in props or (not props and '{"label"' in prompt):
            content, logprobs = self._label(body, prompt, props)
        elif "entities" in props or (not props and '{"entities"' in prompt):
            content, logprobs = self._entities(body, prompt, props)
        elif "text" in props or (not props and '{"text"' in prompt):
            picked = self._generate(body, prompt, messages, texts, props)
            if picked is None:
                return FakeReply.error(
                    400, "the simulated teacher's corpus has no fitting text left"
                )
            content, logprobs = picked, None
        elif body.get("response_format") is None:
            content, logprobs = self._analysis(prompt, int(body.get("max_tokens") or 256)), None
        else:
            return FakeReply.error(400, "the simulated teacher does not know this request")
        if isinstance(content, FakeReply):
            return content  # an error
        usage = (self._prompt_tokens(body), self.counter.count_text(content))
        return FakeReply.text(content, usage=usage, logprobs=logprobs)

    def _prompt_tokens(self, body: Mapping[str, Any]) -> int:
        total = self.counter.count_messages(body.get("messages") or [], body.get("tools"))
        if body.get("response_format") is not None:
            total += self.counter.count_text(
                json.dumps(body["response_format"], ensure_ascii=False)
            )
        return total

    # --- generation ------------------------------------------------------------------------
    @staticmethod
    def _text_reply(text: str) -> str:
        return json.dumps({"text": text}, ensure_ascii=False)

    def _generate(
        self,
        body: Mapping[str, Any],
        prompt: str,
        messages: Sequence[Mapping[str, Any]],
        texts: Sequence[str],
        props: Mapping[str, Any],
    ) -> str | None:
        lo, hi = req.length_limits(props.get("text"))
        wanted, focus = self._target(prompt, messages, texts)
        index = self._pick(wanted, focus, lo, hi, req.max_tokens(body))
        if index is None:
            return None
        return self._text_reply(self.corpus.served[index].text)

    def _target(
        self, prompt: str, messages: Sequence[Mapping[str, Any]], texts: Sequence[str]
    ) -> tuple[str | None, list[str]]:
        """(wanted label or type, texts to be near) of a generation prompt without a plan."""
        corpus = self.corpus
        wanted = self._quoted_name(prompt, corpus.labels or corpus.types)
        focus = FOCUS.findall(prompt)[-1:]
        if focus and corpus.task == "classification":  # a rewrite keeps the seed's label
            known = corpus.lookup(focus[0])
            wanted = known.label if known else wanted or self._gold(focus[0]).label
        elif not focus and "HARD" in prompt:
            focus = self._weakness(messages, texts)
        return wanted, focus

    # --- batched requests: {"items": [{"id": 1, ...}, ...]} ---------------------------------
    def _batch(
        self,
        kind: str,
        body: Mapping[str, Any],
        prompt: str,
        messages: Sequence[Mapping[str, Any]],
        texts: Sequence[str],
        props: Mapping[str, Any],
    ) -> Reply:
        item_props = req.item_props(props)
        if kind == "generate":
            return self._generate_items(body, prompt, messages, texts, props, item_props)
        numbered = req.numbered(prompt)
        if not numbered:
            return FakeReply.error(400, "no numbered texts to label"), None
        if kind == "entities":
            if self.corpus.task != "ner":
                return FakeReply.error(
                    400, "this simulated teacher serves a classification corpus"
                ), None
            types = req.entity_types(item_props) or list(self.corpus.types)
            parts: list[Part] = ['{"items": [']
            for i, text in enumerate(numbered, 1):
                parts.append(", " * (i > 1) + f'{{"id": {i}, ')
                parts += self._entity_parts(text, types)
                parts.append("}")
            return self._reply(body, [*parts, "]}"])
        if self.corpus.task != "classification":
            return FakeReply.error(400, "this simulated teacher serves an NER corpus"), None
        labels = req.enum(item_props, "label") or list(self.corpus.labels)
        parts = ['{"items": [']
        for i, text in enumerate(numbered, 1):
            label, dist = self.confidence(text, labels)
            parts += [", " * (i > 1) + f'{{"id": {i}, "label": "', (req.escape(label), dist), '"}']
        return self._reply(body, [*parts, "]}"])

    def _generate_items(
        self,
        body: Mapping[str, Any],
        prompt: str,
        messages: Sequence[Mapping[str, Any]],
        texts: Sequence[str],
        props: Mapping[str, Any],
        item_props: Mapping[str, Any],
    ) -> Reply:
        """k sentences: per plan line (`1. label "x", HARD`) its label, hard ones nearest to
        the latest analysis; without a plan, as a one-input prompt would pick, k times."""
        items_spec = req.mapping(props.get("items"))
        plan = {int(i): (name, level) for i, name, level in PLAN.findall(prompt)}
        n = int(items_spec.get("maxItems") or max(plan, default=0) or req.count(prompt) or 1)
        lo, hi = req.length_limits(item_props.get("text"))
        limit = max(req.max_tokens(body) // n, 1)
        key = "label" if self.corpus.task == "classification" else "type"
        wanted, focus = self._target(prompt, messages, texts)
        weakness = self._weakness(messages, texts) if plan else []
        items: list[dict[str, Any]] = []
        for i in range(1, n + 1):
            item: dict[str, Any] = {"id": i}
            if i in plan:
                name, level = plan[i]
                item |= {key: name, "difficulty": level.lower()}
                wanted, focus = name, weakness if level == "HARD" else []
            index = self._pick(wanted, focus, lo, hi, limit)
            if index is None:
                break
            items.append(item | {"text": self.corpus.served[index].text})
        if not items:
            return FakeReply.error(
                400, "the simulated teacher's corpus has no fitting text left"
            ), None
        return json.dumps({"items": items}, ensure_ascii=False), None

    def _pick(
        self, wanted: str | None, focus: Sequence[str], lo: int, hi: int, limit: int
    ) -> int | None:
        """An unused corpus sentence of `wanted` (any when none is left) fitting the length and
        token limits: nearest to `focus` when given, else at random; marked used."""
        corpus = self.corpus
        fits = [
            i
            for i, (key, entry) in enumerate(zip(corpus.keys, corpus.served, strict=True))
            if key not in self.used
            and lo <= len(entry.text) <= hi
            and self._reply_tokens[i] <= limit
        ]
        preferred = [i for i in fits if self._has(corpus.served[i], wanted)] or fits
        if not preferred:
            return None
        if focus:
            scores = corpus.similarity(list(focus))[preferred]
            index = preferred[int(np.argmax(scores))]
        else:
            index = self._rng.choice(preferred)
        self.used.add(corpus.keys[index])
        return index

    @staticmethod
    def _has(entry: Entry, wanted: str | None) -> bool:
        if wanted is None:
            return True
        if entry.label is not None:
            return entry.label.casefold() == wanted.casefold()
        return any(k.casefold() == wanted.casefold() for _, k in entry.entities)

    @staticmethod
    def _quoted_name(prompt: str, names: Sequence[str]) -> str | None:
        """The first label or type the prompt names in quotes or brackets: "x" or (x)."""
        hits = [
            (m.start(), n)
            for n in names
            if (m := re.search(rf'["(]{re.escape(n)}[")]', prompt, re.I)) is not None
        ]
        return min(hits)[1] if hits else None

    @staticmethod
    def _weakness(messages: Sequence[Mapping[str, Any]], texts: Sequence[str]) -> list[str]:
        """Inputs quoted in the latest analysis turn (or the whole turn when it quotes none)."""
        for message, text in zip(messages[::-1], texts[::-1], strict=True):
            if message.get("role") != "assistant" or not text.strip():
                continue
            try:
                json.loads(text)
                continue  # a record of written inputs, not an analysis
            except ValueError:
                pass
            quoted = QUOTED.findall(text)
            if quoted:
                return quoted
            return [] if text.startswith(MARKER) else [text]
        return []

    # --- labelling -------------------------------------------------------------------------
    def _gold(self, text: str) -> Entry:
        return self.corpus.lookup(text) or self.corpus.nearest(text)

    def _draw(self, rng: random.Random, k: int) -> float:
        """A confidence in [1/k, 1] with mean 1 - noise (see the module docstring)."""
        e, kappa = self.config.noise, self.config.concentration
        if e == 0 or k < 2:
            return 1.0
        m = min(max((1 - e - 1 / k) / (1 - 1 / k), 1e-3), 1 - 1e-3)
        return 1 / k + (1 - 1 / k) * rng.betavariate(m * kappa, (1 - m) * kappa)

    def confidence(self, text: str, labels: Sequence[str]) -> tuple[str, dict[str, float]]:
        """The simulated label of `text` among `labels` and the probability of each label."""
        gold = self._gold(text).label or ""
        gold = next((x for x in labels if x.casefold() == gold.casefold()), gold)
        if gold not in labels:  # the corpus and the run disagree on label names
            return gold, dict.fromkeys(labels, 0.0)
        rng = random.Random(f"{self.config.seed}|label|{text_key(text)}")
        c = self._draw(rng, len(labels))
        label = gold
        if c < 1 and rng.random() >= c:
            label = rng.choice([x for x in labels if x != gold])
        return label, req.spread(label, c, labels)

    def _label(self, body: Mapping[str, Any], prompt: str, props: Mapping[str, Any]) -> Reply:
        if self.corpus.task != "classification":
            return FakeReply.error(400, "this simulated teacher serves an NER corpus"), None
        focus = FOCUS.findall(prompt)
        if not focus:
            return FakeReply.error(400, 'no "Text: ..." line to label'), None
        labels = [str(x) for x in req.mapping(props.get("label")).get("enum") or self.corpus.labels]
        label, dist = self.confidence(focus[-1], labels)
        return self._reply(body, ['{"label": "', (req.escape(label), dist), '"}'])

    def entities(self, text: str, types: Sequence[str]) -> list[tuple[str, str, dict[str, float]]]:
        """The simulated (surface, type, type distribution) entities of a sentence."""
        entry = self.corpus.lookup(text)
        found = entry.entities if entry is not None else self.corpus.find_entities(text)
        rng = random.Random(f"{self.config.seed}|entities|{text_key(text)}")
        out: list[tuple[str, str, dict[str, float]]] = []
        for surface, kind in found:
            kind = next((t for t in types if t.casefold() == kind.casefold()), kind)
            c = self._draw(rng, len(types)) if kind in types else 1.0
            if c < 1 and rng.random() >= c:
                others = [t for t in types if t != kind]
                if rng.random() < 0.5 or not others:
                    continue  # dropped
                kind = rng.choice(others)
            out.append((surface, kind, req.spread(kind, c, types)))
        return out

    def _entities(self, body: Mapping[str, Any], prompt: str, props: Mapping[str, Any]) -> Reply:
        if self.corpus.task != "ner":
            return FakeReply.error(
                400, "this simulated teacher serves a classification corpus"
            ), None
        focus = FOCUS.findall(prompt)
        if not focus:
            return FakeReply.error(400, 'no "Sentence: ..." line to label'), None
        types = req.entity_types(props) or list(self.corpus.types)
        return self._reply(body, ["{", *self._entity_parts(focus[-1], types), "}"])

    def _entity_parts(self, text: str, types: Sequence[str]) -> list[Part]:
        """`"entities": [...]` of one sentence, each type a token carrying its distribution."""
        found = self.entities(text, types)
        parts: list[Part] = ['"entities": [']
        for i, (surface, kind, dist) in enumerate(found):
            quoted = json.dumps(surface, ensure_ascii=False)
            parts += [
                ", " * (i > 0) + '{"text": ' + quoted + ', "type": "',
                (req.escape(kind), dist),
            ]
            parts.append('"}')
        if not found:  # how sure the list is empty: "]" against "{"
            rng = random.Random(f"{self.config.seed}|empty|{text_key(text)}")
            c = self._draw(rng, 2)
            parts.append(("]", {"]": c, "{": 1 - c}))
        else:
            parts.append("]")
        return parts

    def _reply(self, body: Mapping[str, Any], parts: Sequence[Part]) -> Reply:
        """The content of `parts`, and its logprobs when asked: a (value, distribution) part
        is one token whose alternatives are the distribution; other text has logprob 0."""
        content = "".join(p if isinstance(p, str) else p[0] for p in parts)
        if not body.get("logprobs"):
            return content, None
        top_n = int(body.get("top_logprobs") or 0)
        encoding = self.counter.encoding
        tokens: list[FakeTokenLogprob] = []
        for part in parts:
            if isinstance(part, str):
                for t in encoding.encode_ordinary(part):
                    piece = encoding.decode([t])
                    tokens.append(FakeTokenLogprob(piece, 0.0, {piece: 0.0} if top_n else {}))
                continue
            value, dist = part
            ranked = sorted(dist.items(), key=lambda kv: -kv[1])[:top_n]
            top = {x: math.log(max(p, 1e-12)) for x, p in ranked}
            tokens.append(FakeTokenLogprob(value, math.log(max(dist.get(value, 0.0), 1e-12)), top))
        return content, tuple(tokens)

    # --- analysis --------------------------------------------------------------------------
    def _analysis(self, prompt: str, max_tokens: int) -> str:
        wrong = WRONG.findall(prompt)
        if not wrong:
            return f"{MARKER} The prompt lists no mis-predicted inputs; no weakness to report."
        text = (
            f"{MARKER} The student got {len(wrong)} tested input(s) wrong; "
            "more inputs like these should help:"
        )
        for sample, truth, guess in wrong:
            line = f'\n- "{sample}" (true: {truth}; student: {guess})'
            if self.counter.count_text(text + line) > max_tokens:
                break
            text += line
        return text
