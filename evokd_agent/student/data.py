"""Labelled samples for both tasks, and loaders from JSONL/CSV/Parquet files or `datasets` objects.

Every bad row raises `EvokdError` naming the file and line (or row) and what is wrong with it, so a
user can fix the file instead of reading a stack trace.
"""

from __future__ import annotations

import csv
import importlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from evokd_agent.errors import EvokdError
from evokd_agent.student.ner import bio_problem, normalize_tag_set
from evokd_agent.textfiles import read_utf8, utf8_errors

Task = Literal["classification", "ner"]
TASKS: tuple[Task, ...] = ("classification", "ner")


@dataclass(frozen=True)
class TextSample:
    """One labelled sentence for classification."""

    text: str
    """The input text."""
    label: str
    """The label name (not an index)."""


@dataclass(frozen=True)
class NerSample:
    """One sentence for NER: words and their BIO tags, one tag per word."""

    tokens: tuple[str, ...]
    """The words of the sentence, already split."""
    tags: tuple[str, ...]
    """BIO (IOB2) tags such as "O", "B-person", "I-person"; same length as `tokens`."""


Sample = TextSample | NerSample

# A datasets.Dataset iterates as dicts, so any iterable of mappings is accepted as a source.
Source = str | Path | Iterable[Mapping[str, Any]]


def load_text_samples(
    source: Source,
    labels: Sequence[str] | None = None,
    *,
    text_field: str = "text",
    label_field: str = "label",
) -> list[TextSample]:
    """Load classification samples; integer labels are mapped to names through `labels`.

    Without `labels`, names come from a `datasets` ClassLabel feature or a sibling `meta.json`
    (`label_names`); string labels are then accepted as they are.
    """
    names = list(labels) if labels is not None else _known_names(source, label_field, "label_names")
    allowed = set(labels) if labels is not None else None
    samples: list[TextSample] = []
    for where, row in _rows(source):
        text = _field(row, text_field, where)
        if not isinstance(text, str) or not text.strip():
            raise _bad_row(where, f"field '{text_field}' must be a non-empty string, got {text!r}")
        label = _label_name(_field(row, label_field, where), names, where)
        if allowed is not None and label not in allowed:
            raise EvokdError(
                f"{where}: unknown label {label!r} (known: {', '.join(sorted(allowed))})",
                "fix the row, or add the label to the label list",
            )
        samples.append(TextSample(text=text, label=label))
    if not samples:
        raise EvokdError(
            f"{_describe(source)} has no samples", "point at a file with labelled rows"
        )
    return samples


def load_ner_samples(
    source: Source,
    tags: Sequence[str] | None = None,
    *,
    tokens_field: str = "tokens",
    tags_field: str | None = None,
) -> list[NerSample]:
    """Load NER samples with BIO tags; `tags_field` defaults to "tags", else "ner_tags".

    Integer tags are mapped through `tags` (or a ClassLabel feature, or `tag_set` in a sibling
    `meta.json`). When `tags` is given, a tag outside it is an error.
    """
    field = tags_field or _tags_field_of(source)
    names = list(tags) if tags is not None else _known_names(source, field, "tag_set")
    allowed = set(normalize_tag_set(tags)) if tags is not None else None
    samples: list[NerSample] = []
    for where, row in _rows(source):
        words = _string_list(_field(row, tokens_field, where), tokens_field, where)
        # Files may use either name; a datasets object's features already fixed `field`.
        row_field = field if tags_field or field in row or "ner_tags" not in row else "ner_tags"
        raw_tags = _field(row, row_field, where)
        row_tags = [
            _label_name(t, names, where)
            for t in _as_list(raw_tags, row_field, where, allow_ints=True)
        ]
        if len(words) != len(row_tags):
            raise _bad_row(
                where, f"{len(words)} tokens but {len(row_tags)} tags; there must be one per token"
            )
        problem = bio_problem(row_tags)
        if problem is not None:
            raise _bad_row(where, f"invalid BIO tags: {problem}")
        if allowed is not None:
            unknown = sorted({t for t in row_tags if t not in allowed})
            if unknown:
                raise EvokdError(
                    f"{where}: unknown tag(s) {', '.join(unknown)}",
                    "fix the row, or add the entity type to the tag list",
                )
        samples.append(NerSample(tokens=tuple(words), tags=tuple(row_tags)))
    if not samples:
        raise EvokdError(f"{_describe(source)} has no samples", "point at a file with tagged rows")
    return samples


def load_samples(
    source: Source, task: Task | None = None, labels: Sequence[str] | None = None
) -> list[TextSample] | list[NerSample]:
    """Load samples of either task; without `task` it is guessed from the first row's fields."""
    if task is None:
        task = detect_task(source)
    if task == "ner":
        return load_ner_samples(source, labels)
    return load_text_samples(source, labels)


def detect_task(source: Source) -> Task:
    """Guess the task from the first row: `tokens` means NER, `text` means classification."""
    for where, row in _rows(source):
        if "tokens" in row:
            return "ner"
        if "text" in row:
            return "classification"
        raise _bad_row(where, "neither a 'text' field (classification) nor 'tokens' (NER)")
    raise EvokdError(f"{_describe(source)} has no samples", "point at a file with labelled rows")


def infer_labels(samples: Sequence[TextSample]) -> list[str]:
    """The sorted set of labels seen in `samples`."""
    return sorted({s.label for s in samples})


def infer_tags(samples: Sequence[NerSample]) -> list[str]:
    """The BIO tag set ("O", then B-/I- per entity type, sorted) covering every tag seen."""
    return normalize_tag_set([t for s in samples for t in s.tags])


def _rows(source: Source) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Yield (location, row) pairs; location is what an error message names."""
    if isinstance(source, str | Path):
        yield from _file_rows(Path(source))
        return
    if hasattr(source, "keys") and not hasattr(source, "features"):
        raise EvokdError(
            "got a mapping (e.g. a DatasetDict) instead of rows",
            "pass one split, e.g. dataset['train']",
        )
    for i, row in enumerate(source):
        where = f"{_describe(source)} row {i}"
        if not isinstance(row, Mapping):
            raise _bad_row(where, f"expected a mapping of fields, got {type(row).__name__}")
        yield where, row


def _file_rows(path: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if not path.is_file():
        raise EvokdError(f"data file {path} does not exist", "check the path")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        with utf8_errors(path), path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{path}, line {n}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise _bad_row(where, f"not valid JSON ({e.msg})") from None
                if not isinstance(row, dict):
                    raise _bad_row(where, f"expected a JSON object, got {type(row).__name__}")
                yield where, row
    elif suffix in (".csv", ".tsv"):
        with utf8_errors(path), path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
            for row in reader:
                # line_num is the last physical line read, right even for quoted multi-line cells.
                yield f"{path}, line {reader.line_num}", {k: v for k, v in row.items() if k}
    elif suffix == ".parquet":
        pq: Any = importlib.import_module("pyarrow.parquet")
        for i, row in enumerate(pq.read_table(path).to_pylist()):
            yield f"{path}, row {i}", row
    else:
        raise EvokdError(
            f"data file {path} has an unsupported extension {suffix!r}",
            "use .jsonl, .csv, .tsv or .parquet",
        )


def _field(row: Mapping[str, Any], name: str, where: str) -> Any:
    # CSV has no null: an empty cell means the field is missing too.
    if name not in row or row[name] is None or row[name] == "":
        raise _bad_row(
            where, f"missing field '{name}' (fields present: {', '.join(row) or 'none'})"
        )
    return row[name]


def _label_name(value: Any, names: Sequence[str] | None, where: str) -> str:
    if isinstance(value, str):
        text = value.strip()
        # A digit string is an index only when names are known and it is not itself a name (CSV).
        if names is None or text in names or not text.lstrip("-").isdigit():
            return text
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad_row(where, f"label {value!r} is neither a name nor an integer index")
    index = value
    if names is None:
        raise EvokdError(
            f"{where}: integer label {index} but no label names are known",
            "pass the label names (e.g. --labels neg,pos) or put them in a sibling meta.json",
        )
    if not 0 <= index < len(names):
        raise EvokdError(
            f"{where}: unknown label index {index} (there are {len(names)} labels)",
            "fix the row, or pass the full label list",
        )
    return names[index]


def _as_list(value: Any, name: str, where: str, *, allow_ints: bool = False) -> list[Any]:
    if isinstance(value, str):
        text = value.strip()
        # CSV cells hold lists either as JSON arrays or whitespace-separated words.
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise _bad_row(where, f"field '{name}' is not a valid JSON list") from None
        else:
            value = text.split()
    if hasattr(value, "tolist"):  # numpy arrays from some datasets formats
        value = value.tolist()
    if not isinstance(value, list | tuple):
        raise _bad_row(where, f"field '{name}' must be a list, got {type(value).__name__}")
    for item in value:
        ok = isinstance(item, str) or (allow_ints and isinstance(item, int))
        if not ok:
            raise _bad_row(where, f"field '{name}' must hold strings, got {item!r}")
    return list(value)


def _string_list(value: Any, name: str, where: str) -> list[str]:
    items = _as_list(value, name, where)
    if not items:
        raise _bad_row(where, f"field '{name}' is empty")
    return [str(x) for x in items]


def _known_names(source: Source, field: str, meta_key: str) -> list[str] | None:
    """Label names from a ClassLabel feature or a sibling meta.json, for integer labels."""
    features = getattr(source, "features", None)
    if features is not None and field in features:
        feature = features[field]
        feature = getattr(feature, "feature", feature)  # Sequence(ClassLabel) for NER tags
        names = getattr(feature, "names", None)
        if isinstance(names, list):
            return [str(n) for n in names]
    if isinstance(source, str | Path):
        meta = Path(source).with_name("meta.json")
        if meta.is_file():
            try:
                found = json.loads(read_utf8(meta)).get(meta_key)
            except (json.JSONDecodeError, AttributeError):
                return None
            if isinstance(found, list) and all(isinstance(n, str) for n in found):
                return found
    return None


def _tags_field_of(source: Source) -> str:
    features = getattr(source, "features", None)
    if features is not None and "tags" not in features and "ner_tags" in features:
        return "ner_tags"
    return "tags"


def _describe(source: Source) -> str:
    if isinstance(source, str | Path):
        return str(source)
    name = getattr(getattr(source, "info", None), "dataset_name", None)
    return f"dataset {name}" if name else "dataset"


def _bad_row(where: str, problem: str) -> EvokdError:
    return EvokdError(f"{where}: {problem}", "fix or remove that row")
