"""Checkpoints in plain HF format, plus a small `evokd_student.json` with the task and labels.

A saved student loads with transformers and torch alone: NER students are ordinary
`AutoModelForTokenClassification` folders; classification students are an encoder folder plus
the head and pooling files of `student.classifier` (the README shows the few lines). The metadata
file names the task and labels. Directories written by other tools (no metadata file, e.g. an
`AutoModelForSequenceClassification` checkpoint) are read from their config.json.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evokd_agent.errors import EvokdError
from evokd_agent.student.data import TASKS, Task
from evokd_agent.student.model import quiet_transformers

META_FILE = "evokd_student.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class StudentMeta:
    """What the framework needs besides the HF files to rebuild a student."""

    task: Task
    """"classification" or "ner"."""
    labels: list[str]
    """Label names (classification) or BIO tags (NER), in head order."""
    max_length: int = 128
    """Longest input in subword tokens; longer inputs are truncated."""
    base_model: str = ""
    """The model the student was first built from, for the record."""
    format_version: int = FORMAT_VERSION
    """Version of this file's layout."""


def save_checkpoint(model: Any, tokenizer: Any, path: str | Path, meta: StudentMeta) -> Path:
    """Write model, tokenizer and metadata into `path` (created if needed)."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with quiet_transformers():
            model.save_pretrained(out)
            tokenizer.save_pretrained(out)
        (out / META_FILE).write_text(json.dumps(asdict(meta), indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise EvokdError(
            f"could not write the student checkpoint to {out}: {e}",
            "choose a writable directory with free space",
        ) from e
    return out


def read_meta(path: str | Path) -> StudentMeta:
    """The checkpoint's metadata, from evokd_student.json or else from its config.json."""
    root = Path(path)
    config_file = root / "config.json"
    if not config_file.is_file():
        raise EvokdError(
            f"{root} is not a student checkpoint (no config.json)",
            "point at a directory written by Student.save or save_pretrained",
        )
    meta_file = root / META_FILE
    if meta_file.is_file():
        raw = _read_json(meta_file)
        try:
            meta = StudentMeta(**raw)
        except TypeError as e:
            raise EvokdError(f"{meta_file} is malformed: {e}", "re-save the student") from e
        if meta.task not in TASKS or not meta.labels:
            raise EvokdError(f"{meta_file} has no valid task/labels", "re-save the student")
        return meta
    config = _read_json(config_file)
    architectures = " ".join(config.get("architectures") or [])
    id2label = config.get("id2label") or {}
    if "TokenClassification" in architectures:
        task: Task = "ner"
    elif "SequenceClassification" in architectures:
        task = "classification"
    else:
        raise EvokdError(
            f"{root} holds a {architectures or 'bare'} model, not a trained classifier or tagger",
            "train a student first (Student.train, then Student.save)",
        )
    labels = [str(id2label[k]) for k in sorted(id2label, key=int)]
    return StudentMeta(task=task, labels=labels, base_model=str(config.get("_name_or_path", "")))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise EvokdError(f"could not read {path}: {e}", "re-save the student") from e
    if not isinstance(data, dict):
        raise EvokdError(f"{path} is not a JSON object", "re-save the student")
    return data
