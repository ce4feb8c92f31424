"""Prompt templates: text files per task and step, rendered with `string.Template`.

The shipped set lives in `prompts/` (installed as `evokd_agent.prompts`); a user may point
`prompts_dir` at an edited copy, and any file missing there falls back to the shipped one.
Each template's hash is its version, so editing a prompt invalidates the teacher cache for it.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Literal

from evokd_agent.errors import EvokdError
from evokd_agent.textfiles import read_utf8

Step = Literal["system", "analyze", "generate", "label", "label_batch", "rewrite", "zerogen"]
STEPS: tuple[Step, ...] = (
    "system",
    "analyze",
    "generate",
    "label",
    "label_batch",
    "rewrite",
    "zerogen",
)


@dataclass(frozen=True)
class PromptSet:
    """The templates of one task type, with where each came from."""

    task: str
    """"classification" or "ner"."""
    templates: Mapping[str, str]
    """Step name -> template text."""
    sources: Mapping[str, str]
    """Step name -> file it was read from (for error messages)."""

    @classmethod
    def load(cls, task: str, directory: Path | None = None) -> PromptSet:
        shipped = importlib.resources.files("evokd_agent.prompts") / task
        templates: dict[str, str] = {}
        sources: dict[str, str] = {}
        for step in STEPS:
            user_file = directory / task / f"{step}.txt" if directory is not None else None
            if user_file is not None and user_file.is_file():
                templates[step] = read_utf8(user_file)
                sources[step] = str(user_file)
                continue
            resource = shipped / f"{step}.txt"
            if not resource.is_file():
                raise EvokdError(
                    f"no prompt template for step {step!r} of task {task!r}",
                    "reinstall evokd-agent, or put the file in your prompts_dir",
                )
            templates[step] = resource.read_text(encoding="utf-8")
            sources[step] = f"shipped {task}/{step}.txt"
        return cls(task, templates, sources)

    def render(self, step: Step, **values: object) -> str:
        try:
            return (
                Template(self.templates[step])
                .substitute({k: str(v) for k, v in values.items()})
                .strip()
            )
        except (KeyError, ValueError) as err:
            raise EvokdError(
                f"prompt template {self.sources[step]} uses an unknown placeholder: {err}",
                f"use only these placeholders there: {', '.join(sorted(values))}",
            ) from None

    def version(self, step: Step) -> str:
        return hashlib.sha256(self.templates[step].encode()).hexdigest()[:12]
