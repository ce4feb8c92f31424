"""The distilled student's model card: `final/README.md` in the Hugging Face format (YAML metadata,
then text), written when a run finishes.

It says what the student does (task, labels), where it comes from (base model, method, teacher
and its kind, SIMULATED when simulated), what it cost (teacher tokens), how good it is (dev and
test metrics, per class or entity type), what it was trained on (size and provenance) and how to
reproduce it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from evokd_agent.config.secrets import redact_text
from evokd_agent.methods.registry import BUILTIN_REGISTRY
from evokd_agent.student.task_kind import task_kind

CARD_NAME = "README.md"

# Hugging Face ids of the packaged students (the config names them by their short name).
_HUB_IDS = {"all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2"}


def teacher_kind(teacher: Mapping[str, Any]) -> str:
    """ "embedded", "SIMULATED (not an LLM)", or "remote (host)" for the teacher settings."""
    url = str(teacher.get("base_url", ""))
    if url == "embedded":
        return "embedded (llama.cpp, offline)"
    if url == "simulated":
        return "SIMULATED (corpus sentences with gold labels and noise; not an LLM)"
    host = urlsplit(url).hostname or "?"
    return f"remote OpenAI-compatible endpoint ({host})"


def teacher_name(teacher: Mapping[str, Any]) -> str:
    """The teacher's model name as the run used it (the simulated teacher serves its own)."""
    if teacher.get("base_url") == "simulated":
        return "simulated-teacher"
    return str(teacher.get("model", "?"))


def _metric_rows(split: str, metrics: Mapping[str, Any] | None) -> list[list[str]]:
    if not metrics:
        return []
    kind = task_kind(str(metrics.get("task")))
    head = [[split, name, _f(metrics.get(key))] for key, name in kind.headline]
    key, inner = kind.per_label
    per = metrics.get(key) or {}
    return head + [
        [split, f"F1 {label}", _f(v.get(inner) if inner is not None else v)]
        for label, v in per.items()
    ]


def _f(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "–"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _model_index(name: str, task: str, final: Mapping[str, Any]) -> list[dict[str, Any]]:
    kind = task_kind(task)
    results = []
    for split in ("dev", "test"):
        metrics = final.get(split)
        if not isinstance(metrics, Mapping):
            continue
        values = [(hub, label, metrics.get(key)) for hub, label, key in kind.hub_metrics]
        results.append(
            {
                "task": {"type": kind.pipeline_tag},
                "dataset": {"name": f"{name} {split} split", "type": "custom", "split": split},
                "metrics": [
                    {"type": hub, "name": f"{split} {label}", "value": round(float(v), 4)}
                    for hub, label, v in values
                    if isinstance(v, int | float)
                ],
            }
        )
    return [{"name": name, "results": results}]


def model_card(
    config: Mapping[str, Any],
    final: Mapping[str, Any],
    samples: Sequence[Mapping[str, Any]],
    *,
    tokens_spent: int,
    n_train: int | None,
    stop_reason: str,
    cost_usd: float | None = None,
) -> str:
    """The card's text, from the run's resolved config, `final.json`, its samples log, spend."""
    name = str(config.get("name", "student"))
    task = str(config.get("task", "classification"))
    labels = [str(x) for x in config.get("labels", [])]
    teacher = config.get("teacher") or {}
    student = config.get("student") or {}
    base = str(student.get("model", "?"))
    method = str(config.get("method", "?"))
    budget = config.get("budget_tokens")
    kind = teacher_kind(teacher)
    builtin = method in BUILTIN_REGISTRY.names()
    if tokens_spent == 0 and builtin and not BUILTIN_REGISTRY[method].uses_teacher:
        kind = "none: this method asks no teacher"
    accepted = Counter(
        str(s.get("phase") or "?")
        for s in samples
        if s.get("accepted") and s.get("stage") != "generated"
    )
    metadata: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": task_kind(task).pipeline_tag,
        "base_model": _HUB_IDS.get(base, base if "/" in base and not Path(base).exists() else None),
        "tags": ["evokd-agent", "knowledge-distillation", method],
        "model-index": _model_index(name, task, final),
    }
    if metadata["base_model"] is None:
        del metadata["base_model"]
    provenance = [
        [phase, str(count)] for phase, count in sorted(accepted.items(), key=lambda kv: -kv[1])
    ]
    metrics = _metric_rows("dev", final.get("dev")) + _metric_rows("test", final.get("test"))
    simulated = "simulated" in kind.lower()
    parts = [
        "---",
        yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True).strip(),
        "---",
        "",
        f"# {name}: a {task} student distilled by evokd-agent",
        "",
        *(
            [
                "**The teacher was SIMULATED** (real corpus sentences with their gold labels and "
                "added noise, not an LLM): these scores say how the pipeline behaves, not what an "
                "LLM teacher would give.",
                "",
            ]
            if simulated
            else []
        ),
        _table(
            ["", "this student"],
            [
                ["task", f"{task}: {config.get('task_description', '')}".strip()],
                [task_kind(task).label_noun, ", ".join(labels)],
                ["base model", base],
                ["method / policy", f"{method} / {config.get('policy', 'scripted')}"],
                [
                    "teacher",
                    kind if kind.startswith("none") else f"{teacher_name(teacher)}, {kind}",
                ],
                [
                    "teacher tokens spent",
                    f"{tokens_spent:,}"
                    + (f" of a {budget:,} budget" if isinstance(budget, int) else ""),
                ],
                [
                    "teacher cost",
                    "not priced (no price for this teacher model)"
                    if cost_usd is None
                    else f"${cost_usd:.4f}",
                ],
                ["training samples", "–" if n_train is None else f"{n_train:,}"],
                ["why the run stopped", stop_reason],
            ],
        ),
        "",
        "## Scores",
        "",
        _table(["split", "metric", "value"], metrics) if metrics else "No scores were recorded.",
        "",
        "## Training data",
        "",
        f"{n_train if n_train is not None else 'The'} training samples: the labelled seeds given "
        "to the run, and the samples the teacher wrote or labelled that passed the run's hygiene "
        "(label in the label set, entities found in their sentence, no copy of a dev or test "
        "text, no duplicate). Accepted samples by how they were made (from the run's "
        "`samples.jsonl`):",
        "",
        _table(["phase", "accepted samples"], provenance) if provenance else "(none: seeds only)",
        "",
        "## Use",
        "",
        "```python",
        f"from transformers import AutoModelFor{task_kind(task).head}, AutoTokenizer",
        "",
        f'model = AutoModelFor{task_kind(task).head}.from_pretrained("PATH/TO/final")',
        'tokenizer = AutoTokenizer.from_pretrained("PATH/TO/final")',
        "```",
        "",
        "## Reproduce",
        "",
        "The run directory holds the resolved config (`config.yaml`, no API key) and every teacher "
        "answer (`cache/`): `evokd run config.yaml` starts the same run again (with the same "
        "teacher, data files and seed); `evokd run --resume RUN_DIR` replays this one.",
        "",
    ]
    return redact_text("\n".join(p for p in parts if p is not None))
