"""The simulated teacher's corpus: gold labels by text, sentence embeddings, nearest neighbours.

Gold labels are kept for every text of the corpus file (minus the excluded files); at most
`max_corpus` of them (a seeded random subset) are embedded with all-MiniLM-L6-v2 (mean-pooled
last hidden state, L2-normalised, CPU, once at start-up, nothing downloaded) and only those are
served as generated text or used as neighbours. The corpus embeddings are kept on disk
(`embedding_cache`), keyed by the embedder and the exact texts, so a benchmark that starts the
simulated teacher for every run embeds each corpus once.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from evokd_agent.config.data import read_texts
from evokd_agent.errors import EvokdError
from evokd_agent.student.data import detect_task, load_ner_samples, load_text_samples
from evokd_agent.student.ner import bio_entities
from evokd_agent.teacher.simulated_config import SimulatedTeacherConfig

Matrix = NDArray[np.float32]
Embedder = Callable[[Sequence[str]], Matrix]
"""Texts -> one L2-normalised row per text."""

_log = logging.getLogger(__name__)


def cached_embeddings(texts: Sequence[str], embedder: Embedder, folder: Path | None) -> Matrix:
    """`embedder(texts)`, read from / written to `folder` when the embedder has a `cache_id`."""
    cache_id = getattr(embedder, "cache_id", None)
    if folder is None or cache_id is None:
        return embedder(texts)
    digest = hashlib.sha256("\n".join([cache_id, *texts]).encode()).hexdigest()[:32]
    path = folder.expanduser() / f"{digest}.npy"
    if path.exists():
        try:
            vectors: Matrix = np.load(path)
            if vectors.shape[0] == len(texts):
                return vectors
        except (OSError, ValueError):
            pass  # a damaged cache file is recomputed
    _log.warning("embedding %d corpus sentences (cached in %s for later runs)", len(texts), folder)
    vectors = embedder(texts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(path)
    except OSError as exc:  # a read-only home only costs the next start-up time
        _log.warning("could not cache corpus embeddings in %s: %s", folder, exc)
    return vectors


def text_key(text: str) -> str:
    """How texts are matched: entities unescaped, whitespace collapsed, case folded."""
    return " ".join(html.unescape(text).split()).casefold()


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (the packaged offline copy) as a mean-pooled sentence embedder."""

    def __init__(self, batch_size: int = 64, max_length: int = 128) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.cache_id = f"all-MiniLM-L6-v2/mean-pool/max_length={max_length}"
        """Names these embeddings in the on-disk cache."""
        from evokd_agent.student.model import packaged_minilm_dir

        path = packaged_minilm_dir()
        self.tokenizer: Any = AutoTokenizer.from_pretrained(path)
        self.model: Any = AutoModel.from_pretrained(path).eval()
        self.batch_size = batch_size
        self.max_length = max_length

    def __call__(self, texts: Sequence[str]) -> Matrix:
        import torch

        rows: list[Matrix] = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(
                    list(texts[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                rows.append(pooled.numpy().astype(np.float32))
        return np.concatenate(rows) if rows else np.zeros((0, 384), dtype=np.float32)


@dataclass(frozen=True)
class Entry:
    """One corpus sentence with its gold annotation."""

    text: str
    """The sentence (NER: its tokens joined by spaces)."""
    label: str | None = None
    """Gold class (classification)."""
    entities: tuple[tuple[str, str], ...] = ()
    """Gold (surface, type) pairs (NER)."""


class SimulatedCorpus:
    """Gold lookup for the whole corpus; embeddings and neighbours for the served subset."""

    def __init__(self, config: SimulatedTeacherConfig, embedder: Embedder) -> None:
        self.task = detect_task(config.corpus)
        banned = {text_key(t) for path in config.exclude for t in read_texts(path)}
        entries: list[Entry] = []
        if self.task == "classification":
            for s in load_text_samples(config.corpus, config.labels):
                entries.append(Entry(s.text, label=s.label))
        else:
            for n in load_ner_samples(config.corpus):
                entities = tuple(bio_entities(n.tokens, n.tags))
                entries.append(Entry(" ".join(n.tokens), entities=entities))
        self.gold: dict[str, Entry] = {}
        for entry in entries:  # the first row of a repeated text wins
            key = text_key(entry.text)
            if key and key not in banned:
                self.gold.setdefault(key, entry)
        self.excluded = len(entries) - len(self.gold)
        if not self.gold:
            raise EvokdError(
                f"the simulated teacher's corpus {config.corpus} has no usable text",
                "point teacher.simulated.corpus at a labelled train file",
            )
        self.labels = sorted({e.label for e in self.gold.values() if e.label is not None})
        self.types = sorted({k for e in self.gold.values() for _, k in e.entities})
        pool = list(self.gold.values())
        if len(pool) > config.max_corpus:
            picked = sorted(random.Random(config.seed).sample(range(len(pool)), config.max_corpus))
            pool = [pool[i] for i in picked]
        self.served: list[Entry] = pool
        """The embedded subset: what generation replies and neighbours come from."""
        self.keys = [text_key(e.text) for e in pool]
        self._embed = embedder
        _log.warning(
            "SIMULATED teacher: %d corpus sentences of %s (no LLM involved)",
            len(pool),
            config.corpus,
        )
        self.vectors = cached_embeddings([e.text for e in pool], embedder, config.embedding_cache)
        self._queries: dict[str, Matrix] = {}
        self.gazetteer = _gazetteer(self.gold.values())

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Embeddings of query texts (remembered in memory for this server's lifetime)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._queries]
        if missing:
            for text, row in zip(missing, self._embed(missing), strict=True):
                self._queries[text] = row
        return np.stack([self._queries[t] for t in texts])

    def similarity(self, queries: Sequence[str]) -> NDArray[np.float32]:
        """Per served sentence, its highest cosine similarity to any of `queries`."""
        scores: NDArray[np.float32] = (self.vectors @ self.embed(queries).T).max(axis=1)
        return scores

    def nearest(self, text: str) -> Entry:
        """The served sentence nearest to `text` (for texts the corpus does not hold)."""
        return self.served[int(np.argmax(self.similarity([text])))]

    def lookup(self, text: str) -> Entry | None:
        return self.gold.get(text_key(text))

    def find_entities(self, text: str) -> tuple[tuple[str, str], ...]:
        """Corpus entities (most frequent type) occurring in `text`, longest match first."""
        words = text.split()
        folded = [w.casefold() for w in words]
        out: list[tuple[str, str]] = []
        i = 0
        while i < len(words):
            for size in range(min(_MAX_ENTITY_WORDS, len(words) - i), 0, -1):
                kind = self.gazetteer.get(tuple(folded[i : i + size]))
                if kind is not None:
                    out.append((" ".join(words[i : i + size]), kind))
                    i += size
                    break
            else:
                i += 1
        return tuple(out)


_MAX_ENTITY_WORDS = 6
_WORD = re.compile(r"\w")


def _gazetteer(entries: Iterable[Entry]) -> dict[tuple[str, ...], str]:
    counts: dict[tuple[str, ...], Counter[str]] = {}
    for entry in entries:
        for surface, kind in entry.entities:
            words = tuple(w.casefold() for w in surface.split())
            if 0 < len(words) <= _MAX_ENTITY_WORDS and _WORD.search(surface):
                counts.setdefault(words, Counter())[kind] += 1
    return {words: c.most_common(1)[0][0] for words, c in counts.items()}
