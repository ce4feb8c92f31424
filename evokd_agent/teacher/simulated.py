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

from evokd_agent.teacher.simulated_config import SIMULATED_MODEL, SimulatedTeacherConfig
from evokd_agent.teacher.simulated_corpus import (
    Embedder,
    Entry,
    MiniLMEmbedder,
    SimulatedCorpus,
    text_key,
)
from evokd_agent.teacher.tokens import TokenCounter
from evokd_agent.testing.fake_server import FakeOpenAIServer, FakeReply, FakeTokenLogprob

__all__ = ["SIMULATED_MODEL", "SimulatedTeacher", "default_embedder"]

MARKER = "[SIMULATED teacher, not an LLM]"
"""Opening of every free-text reply."""
_QUOTED = re.compile(r'^\s*- "(.*)"(?= ->| \(|\s*$)', re.M)
_FOCUS = re.compile(r"^\s*(?:Text|Sentence):\s*(.+?)\s*$", re.M)
_WRONG = re.compile(r'^\s*- "(.*)" -> (.*) \(guessed: (.*)\)\s*$', re.M)
_log = logging.getLogger(__name__)


def default_embedder() -> Embedder:
    """The packaged all-MiniLM-L6-v2, mean-pooled (tests patch this for a cheap embedder)."""
    return MiniLMEmbedder()


def _content(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


Part = str | tuple[str, dict[str, float]]
"""Reply text, or one token's text with the distribution its logprobs report."""
Reply = tuple[str | FakeReply, tuple[FakeTokenLogprob, ...] | None]
"""Content (or an error reply) and its logprobs."""


def _spread(chosen: str, c: float, names: Sequence[str]) -> dict[str, float]:
    """Probability c on `chosen`, 1 - c shared equally by the other names."""
    rest = (1 - c) / max(len(names) - 1, 1)
    return {x: c if x == chosen else rest for x in names}


def _escape(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _schema(body: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON schema of `response_format` (llama.cpp or OpenAI style), or {}."""
    fmt = body.get("response_format")
    if not isinstance(fmt, Mapping):
        return {}
    schema = fmt.get("schema") or (fmt.get("json_schema") or {}).get("schema")
    return dict(schema) if isinstance(schema, Mapping) else {}


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
        texts = [_content(m) for m in messages]
        prompt = next(
            (
                t
                for m, t in zip(messages[::-1], texts[::-1], strict=True)
                if m.get("role") == "user"
            ),
            "",
        )
        props = _schema(body).get("properties") or {}
        for text in texts:  # whatever the pipeline already holds is never served
            self.used.update(text_key(q) for q in _QUOTED.findall(text) + _FOCUS.findall(text))
        if body.get("tools") or "tool" in props or '{"tool"' in (texts[0] if texts else ""):
            return FakeReply.error(400, "the simulated teacher does not drive agents")
        if "label" in props or (not props and '{"label"' in prompt):
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
        corpus = self.corpus
        spec = _mapping(props.get("text"))
        lo, hi = int(spec.get("minLength", 0)), int(spec.get("maxLength", 10**9))
        limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 10**9)
        wanted = self._quoted_name(prompt, corpus.labels or corpus.types)
        focus = _FOCUS.findall(prompt)[-1:]
        if focus and corpus.task == "classification":  # a rewrite keeps the seed's label
            known = corpus.lookup(focus[0])
            wanted = known.label if known else wanted or self._gold(focus[0]).label
        elif not focus and "HARD" in prompt:
            focus = self._weakness(messages, texts)
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
            scores = corpus.similarity(focus)[preferred]
            index = preferred[int(np.argmax(scores))]
        else:
            index = self._rng.choice(preferred)
        self.used.add(corpus.keys[index])
        return self._text_reply(corpus.served[index].text)

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
            quoted = _QUOTED.findall(text)
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
        return label, _spread(label, c, labels)

    def _label(self, body: Mapping[str, Any], prompt: str, props: Mapping[str, Any]) -> Reply:
        if self.corpus.task != "classification":
            return FakeReply.error(400, "this simulated teacher serves an NER corpus"), None
        focus = _FOCUS.findall(prompt)
        if not focus:
            return FakeReply.error(400, 'no "Text: ..." line to label'), None
        labels = [str(x) for x in _mapping(props.get("label")).get("enum") or self.corpus.labels]
        label, dist = self.confidence(focus[-1], labels)
        return self._reply(body, ['{"label": "', (_escape(label), dist), '"}'])

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
            out.append((surface, kind, _spread(kind, c, types)))
        return out

    def _entities(self, body: Mapping[str, Any], prompt: str, props: Mapping[str, Any]) -> Reply:
        if self.corpus.task != "ner":
            return FakeReply.error(
                400, "this simulated teacher serves a classification corpus"
            ), None
        focus = _FOCUS.findall(prompt)
        if not focus:
            return FakeReply.error(400, 'no "Sentence: ..." line to label'), None
        items = _mapping(_mapping(_mapping(props.get("entities")).get("items")).get("properties"))
        types = [str(x) for x in _mapping(items.get("type")).get("enum") or self.corpus.types]
        found = self.entities(focus[-1], types)
        parts: list[Part] = ['{"entities": [']
        for i, (surface, kind, dist) in enumerate(found):
            text = json.dumps(surface, ensure_ascii=False)
            parts += [", " * (i > 0) + '{"text": ' + text + ', "type": "', (_escape(kind), dist)]
            parts.append('"}')
        if not found:  # how sure the list is empty: "]" against "{"
            rng = random.Random(f"{self.config.seed}|empty|{text_key(focus[-1])}")
            c = self._draw(rng, 2)
            parts.append(("]", {"]": c, "{": 1 - c}))
        parts.append("]}" if found else "}")
        return self._reply(body, parts)

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
        wrong = _WRONG.findall(prompt)
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
