"""`evokd export RUN_DIR`: the distilled data set, with each sample's provenance.

The training samples a run accepted (from its `samples.jsonl`; the seeds from its data files)
are written as JSON lines, Parquet, or a Hugging Face `DatasetDict` saved to disk with a dataset
card; `--rejected` adds the refused ones with their reasons. `--push-to-hub REPO` uploads the
`hf` export through `huggingface_hub` (it needs a write token in `HF_TOKEN`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from evokd_agent.errors import EvokdError
from evokd_agent.rundir.store import SAMPLES_FILE, RunStore
from evokd_agent.student.data import Sample
from evokd_agent.student.task_kind import sample_columns, task_kind

Format = Literal["jsonl", "parquet", "hf"]
FORMATS: tuple[Format, ...] = ("jsonl", "parquet", "hf")

# Provenance columns, in this order after the sample's own (text/label or tokens/tags).
_PROVENANCE = (
    "round",
    "phase",
    "kind",
    "stage",
    "teacher_confidence",
    "confidence_method",
    "prompt_id",
    "label_prompt_id",
    "cached",
    "time",
)


@dataclass(frozen=True)
class Export:
    """What `export_run` wrote."""

    path: Path
    """The folder written."""
    splits: Mapping[str, int]
    """Rows per split ("train", and "rejected" when asked)."""


def _rows(store: RunStore, task: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(accepted, rejected) rows of the samples log, in a fixed column order."""
    own = task_kind(task).fields
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    path = store.path / SAMPLES_FILE
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    for line in lines:
        with contextlib.suppress(ValueError):
            row = json.loads(line)
            if not isinstance(row, dict):
                continue
            if row.get("accepted"):
                accepted.append({k: row.get(k) for k in (*own, *_PROVENANCE)})
            else:
                keep = (*own, *_PROVENANCE, "reason", "detail")
                rejected.append({k: row.get(k) for k in keep})
    return accepted, rejected


def _seed_rows(store: RunStore) -> list[dict[str, Any]]:
    """The run's labelled seeds (round 0, phase "seed"), read again from its data files."""
    from evokd_agent.config.data import load_run_data

    data = load_run_data(store.config)
    trains_on_train = store.config.method_spec.trains_on == "train"
    seeds: Sequence[Sample] = (data.train or []) if trains_on_train else data.seeds
    return [
        {**sample_columns(seed), **{k: None for k in _PROVENANCE}, "round": 0, "phase": "seed"}
        for seed in seeds
    ]


def export_run(
    run_dir: str | os.PathLike[str],
    fmt: Format,
    out: str | os.PathLike[str] | None = None,
    *,
    rejected: bool = False,
) -> Export:
    """Write the run's distilled data set in `fmt` to `out` (default RUN_DIR/export/FMT)."""
    if fmt not in FORMATS:
        raise EvokdError(f"unknown export format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    store = RunStore.open(run_dir, resume=False)
    task = store.config.task
    accepted, refused = _rows(store, task)
    try:
        seeds = _seed_rows(store)
    except EvokdError as err:  # data files moved: export what the run dir holds, and say so
        print(f"evokd: warning: seeds not exported ({err.cause})", file=sys.stderr)
        seeds = []
    splits: dict[str, list[dict[str, Any]]] = {"train": seeds + accepted}
    if rejected:
        splits["rejected"] = refused
    target = Path(out) if out is not None else store.path / "export" / fmt
    target.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        for name, rows in splits.items():
            with open(target / f"{name}.jsonl", "w", encoding="utf-8") as f:
                f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    else:
        import datasets

        dataset = datasets.DatasetDict(
            {name: datasets.Dataset.from_list(rows) for name, rows in splits.items() if rows}
        )
        if fmt == "parquet":
            for name, split in dataset.items():
                split.to_parquet(str(target / f"{name}.parquet"))
        else:
            dataset.save_to_disk(str(target))
            (target / "README.md").write_text(dataset_card(store, splits), encoding="utf-8")
    return Export(target, {name: len(rows) for name, rows in splits.items()})


def dataset_card(store: RunStore, splits: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """A Hugging Face dataset card for the export of `store`'s run."""
    from evokd_agent.report.model_card import teacher_kind, teacher_name

    config = store.config
    teacher = store.config_record.get("teacher") or {}
    phases = Counter(str(r.get("phase")) for r in splits["train"])
    task = task_kind(config.task).pipeline_tag
    lines = [
        "---",
        f"task_categories: [{task}]",
        "tags: [evokd-agent, knowledge-distillation, synthetic]",
        "configs:",
        "- config_name: default",
        "  data_files:",
        *(f"  - split: {name}\n    path: {name}/*" for name in splits if splits[name]),
        "---",
        "",
        f"# {config.name}: data distilled by evokd-agent",
        "",
        f"Training data of an evokd-agent run ({config.method}): the labelled seeds and the "
        f"samples the teacher ({teacher_name(teacher)}, {teacher_kind(teacher)}) wrote or "
        "labelled that passed the run's hygiene. Labels: " + ", ".join(config.labels) + ".",
        "",
        "| split | rows |",
        "| --- | --- |",
        *(f"| {name} | {len(rows)} |" for name, rows in splits.items()),
        "",
        "Training rows by how they were made: "
        + ", ".join(f"{phase} {n}" for phase, n in phases.most_common())
        + ".",
        "",
        "Columns: the sample (`text` and `label`, or `tokens` and BIO `tags`), then its "
        "provenance: `round`, `phase` (seed, hard, easy, pool, zerogen, ...), `kind`, `stage`, "
        "`teacher_confidence` (with `confidence_method`), `prompt_id` and `label_prompt_id` "
        "(template name @ version hash), `cached` (answered from the run's cache on a resume), "
        "`time`; rejected rows add `reason` and `detail`. LLKD's per-step selection is made "
        "anew at every training step, so it is not a column.",
        "",
    ]
    return "\n".join(lines)


def push_to_hub(folder: Path, repo: str, *, private: bool = True) -> str:
    """Upload an `hf` export folder as the data set repo `repo`; returns its URL."""
    from huggingface_hub import HfApi

    token = os.environ.get("HF_TOKEN")
    if not token:
        raise EvokdError(
            "pushing to the Hugging Face Hub needs a token",
            "export HF_TOKEN=<a write token from https://huggingface.co/settings/tokens>",
        )
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type="dataset")
    except Exception as err:  # HTTP errors, no network, bad names: one line, not a traceback
        raise EvokdError(
            f"the Hugging Face Hub refused the upload to {repo}: {err}",
            "check the repo name (user/name) and that HF_TOKEN can write to it",
        ) from err
    return str(url)
