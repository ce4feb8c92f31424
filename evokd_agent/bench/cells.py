"""`evokd bench`: methods x data sets x seeds x budgets on one teacher, then a table and plots.

Each cell is an ordinary `evokd run` of a base config (one per data set) with `method`,
`budget_tokens`, `seed` and `data.seeds_seed` overridden (so each seed also draws its own seed
examples), run in OUT/runs/<dataset>/<method>/b<budget>/s<seed>/ (the run directory sits
inside, named as `evokd run` names it). Cells run one after another. Re-invoking the same
command continues a benchmark: a cell whose run finished (final.json) is reused and an
interrupted one is resumed. Methods that spend no teacher tokens (seeds_only, full_shot, eda)
do not depend on the budget nor the teacher: they run once per seed, under b0, with a
placeholder teacher URL (`NO_TEACHER`) so that no embedded or simulated teacher is started for
them. A method the config cannot run
(llkd without data.pool, full_shot without data.train) is skipped with the reason.

Equal spend: without `--max-rounds`, every method that calls the teacher runs until its budget
is spent. Its round cap is raised to `SAFETY_MAX_ROUNDS` (or the config's `max_rounds`, if
higher), a safety stop only, and its early-stop rule is switched off (`stop.min_delta` 0,
`stop.min_gain_per_1k_tokens` unset), so methods are compared at equal spend, not merely at
equal budget. The run ends cleanly once the ledger refuses a request for lack of budget (the
samples already paid for are trained on first). Methods without a teacher keep the config's
`max_rounds` (seeds_only and full_shot train once; eda runs that many rounds). `--max-rounds N`
instead caps every run at N rounds and keeps the config's early-stop rule.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import ValidationError

from evokd_agent.config.run_config import BASE_DIR_KEY, RunConfig, load_run_config
from evokd_agent.config.secrets import redact_data
from evokd_agent.errors import EvokdError
from evokd_agent.methods.registry import BUILTIN_REGISTRY
from evokd_agent.rundir.durable import (
    read_json,
    remove_temp_files,
    write_json_atomic,
    write_text_atomic,
)
from evokd_agent.teacher.config import EMBEDDED, TeacherConfig
from evokd_agent.teacher.simulated_config import SIMULATED, SIMULATED_MODEL

DEFAULT_METHODS = tuple(n for n, s in BUILTIN_REGISTRY.items() if s.trains_on == "seeds")
"""Methods a bench runs when `--methods` is not given: the built-in ones that start from the
seeds (full_shot, the gold-data ceiling, is asked for by name)."""
NO_TEACHER = {"base_url": "http://127.0.0.1:9/v1", "model": "no-teacher"}
"""Teacher of the zero-token methods' runs: a discard-port URL, since no request is ever sent."""
SAFETY_MAX_ROUNDS = 100
"""Round cap of teacher methods in an equal-spend bench: far above what a budget buys (at 8
samples a round, 100 rounds is 800 samples), it only stops a method that stopped spending."""
EQUAL_SPEND_STOP = {"min_delta": 0.0, "min_gain_per_1k_tokens": None}
"""Early-stop settings that never stop a run (see `StopRule`): the budget ends it."""
CELL_CONFIG = "cell.yaml"
CELL_RECORD = "bench.json"

Status = Literal["done", "reused", "skipped", "failed"]


@dataclass(frozen=True)
class BenchSpec:
    """What to benchmark and where."""

    configs: tuple[Path, ...]
    """Base run configs, one per data set (their `name` names the data set)."""
    methods: tuple[str, ...]
    """Methods to compare."""
    seeds: tuple[int, ...]
    """Seeds: each sets the run's `seed` and `data.seeds_seed`."""
    budgets: tuple[int, ...] | None
    """Token budgets; None: each config's own `budget_tokens`."""
    out: Path
    """Output folder: runs/, table.md, table.csv, runs.csv, f1_vs_tokens_<dataset>.png."""
    teacher: str | None = None
    """Teacher override: "embedded", "simulated" or an http(s) URL; None keeps each config's."""
    teacher_model: str | None = None
    """Model name sent to an overriding URL teacher; None keeps the config's."""
    max_rounds: int | None = None
    """Round cap of every run, early stop as configured; None: equal spend (teacher methods
    run until their budget is spent, see the module docstring)."""
    progress: bool | None = None
    """Progress bars of the runs (False: none; None: when stderr is a terminal)."""


@dataclass(frozen=True)
class Cell:
    """One run of the benchmark."""

    dataset: str
    """Data set name (the base config's `name`)."""
    method: str
    """Method run."""
    budget: int
    """Token budget; 0 for methods that spend no tokens."""
    seed: int
    """Run seed (also the seed draw's)."""
    directory: Path
    """OUT/runs/<dataset>/<method>/b<budget>/s<seed>."""
    record: dict[str, Any] | None
    """The cell's resolved config as plain data; None when skipped."""
    skip: str | None = None
    """Why the cell cannot run with this config, or None."""


@dataclass(frozen=True)
class CellResult:
    """What became of one cell."""

    cell: Cell
    status: Status
    """done (ran now), reused (finished before), skipped, failed."""
    run_dir: Path | None = None
    """The finished run directory."""
    message: str = ""
    """Skip or failure reason."""


def parse_ints(text: str, what: str, *, minimum: int | None = None) -> tuple[int, ...]:
    """Comma-separated integers ("1,2,3"); an `EvokdError` naming `what` otherwise."""
    values: list[int] = []
    for part in (p.strip().replace("_", "") for p in text.split(",")):
        try:
            value = int(part)
        except ValueError:
            raise EvokdError(
                f"--{what} {text!r}: {part!r} is not an integer", f"pass e.g. --{what} 1,2,3"
            ) from None
        if minimum is not None and value < minimum:
            raise EvokdError(f"--{what}: {value} is below {minimum}", f"pass values >= {minimum}")
        if value not in values:
            values.append(value)
    return tuple(values)


def parse_methods(text: str, known: Sequence[str] = BUILTIN_REGISTRY.names()) -> tuple[str, ...]:
    """Comma-separated method names, each one of `known` (see `known_methods`)."""
    methods: list[str] = []
    for name in (p.strip() for p in text.split(",") if p.strip()):
        if name not in known:
            raise EvokdError(
                f"--methods: unknown or unsupported method {name!r}",
                f"use some of: {', '.join(known)}",
            )
        if name not in methods:
            methods.append(name)
    if not methods:
        raise EvokdError("--methods is empty", f"use some of: {', '.join(known)}")
    return tuple(methods)


def known_methods(configs: Sequence[Path]) -> list[str]:
    """The methods the bench configs can name: built-in ones and their `extra_methods`."""
    names = dict.fromkeys(BUILTIN_REGISTRY.names())
    for path in configs:
        names |= dict.fromkeys(load_run_config(path).methods.names())
    return list(names)


def teacher_override(record: dict[str, Any], spec: str, model: str | None = None) -> dict[str, Any]:
    """The teacher section of a run `record` (plain data) pointed at `spec`.

    `spec` is "embedded", "simulated" or an http(s) URL. "simulated" keeps the config's own
    `teacher.simulated` block when it has one; otherwise it serves the config's `data.train`
    (never its dev or test texts) with the simulated teacher's default noise.
    """
    out = {k: v for k, v in record["teacher"].items() if k != "simulated"}
    if spec == EMBEDDED:
        out |= {"base_url": EMBEDDED, "model": TeacherConfig.model_fields["model"].default}
    elif spec == SIMULATED:
        block = record["teacher"].get("simulated")
        if block is None:
            data = record["data"]
            if not data.get("train"):
                raise EvokdError(
                    "--teacher simulated serves a labelled train file, and this config has "
                    "no data.train",
                    "set data.train, or give the config its own teacher.simulated block",
                )
            exclude = [data[k] for k in ("dev", "test") if data.get(k)]
            block = {"corpus": data["train"], "exclude": exclude}
        out |= {"base_url": SIMULATED, "model": SIMULATED_MODEL, "simulated": block}
    else:
        parsed = urlparse(spec)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise EvokdError(
                f"--teacher {spec!r} is not embedded, simulated nor an http(s) URL",
                "pass --teacher embedded, --teacher simulated or --teacher http://HOST:PORT/v1",
            )
        out["base_url"] = spec
    if model is not None:
        out["model"] = model
    try:
        TeacherConfig.model_validate(out)
    except ValidationError as err:
        raise EvokdError(f"--teacher {spec!r}: {_first_error(err)}", "fix --teacher") from None
    return out


def _first_error(err: ValidationError) -> str:
    return str(err.errors()[0]["msg"]).removeprefix("Value error, ")


def plan_cells(spec: BenchSpec) -> list[Cell]:
    """Every cell of the benchmark, in run order: data set, seed, method, budget."""
    bases: dict[str, RunConfig] = {}
    for path in spec.configs:
        config = load_run_config(path)
        if config.name in bases:
            raise EvokdError(
                f"two bench configs are named {config.name!r}",
                "give each data set's config its own `name`",
            )
        record = config.to_record()
        if config.teacher.api_key is not None or redact_data(record) != record:
            raise EvokdError(
                f"{path}: teacher.api_key is set, or a value looks like a key or password; "
                "bench writes each run's config to disk",
                "put the key in an environment variable named by teacher.api_key_env",
            )
        bases[config.name] = config
    cells: list[Cell] = []
    for dataset, base in bases.items():
        for seed in spec.seeds:
            for method in spec.methods:
                budgets = spec.budgets or (base.budget_tokens,)
                for budget in (0,) if _teacherless(base, method) else budgets:
                    cells.append(_cell(spec, base, dataset, method, budget, seed))
    return cells


def _cell(
    spec: BenchSpec, base: RunConfig, dataset: str, method: str, budget: int, seed: int
) -> Cell:
    directory = (spec.out / "runs" / dataset / method / f"b{budget}" / f"s{seed}").resolve()
    teacherless = _teacherless(base, method)
    record = base.to_record()
    record |= {
        "name": f"{method}-b{budget}-s{seed}",
        "method": method,
        # A zero-token method still needs a valid budget; it never spends it.
        "budget_tokens": budget or base.budget_tokens,
        "seed": seed,
        "run_root": str(directory),
        "data": {**record["data"], "seeds_seed": seed},
    }
    if spec.max_rounds is not None:
        record["max_rounds"] = spec.max_rounds
    elif not teacherless:
        # Equal spend: the budget ends the run; the round cap is only a safety stop.
        record["max_rounds"] = max(base.max_rounds, SAFETY_MAX_ROUNDS)
        record["stop"] = {**record["stop"], **EQUAL_SPEND_STOP}
    if teacherless:
        # Never contacted: starting an embedded or simulated teacher would only cost time.
        record["teacher"] = {**record["teacher"], **NO_TEACHER, "simulated": None}
    elif spec.teacher is not None or spec.teacher_model is not None:
        where = spec.teacher or str(record["teacher"]["base_url"])
        record["teacher"] = teacher_override(record, where, spec.teacher_model)
    try:
        RunConfig.model_validate(record, context={BASE_DIR_KEY: directory})
    except ValidationError as err:
        return Cell(dataset, method, budget, seed, directory, None, _first_error(err))
    return Cell(dataset, method, budget, seed, directory, record)


def _teacherless(base: RunConfig, method: str) -> bool:
    # A method the config does not know counts as a teacher method: its cell is skipped with
    # the config's "unknown method" error.
    spec = base.methods.get(method)
    return spec is not None and not spec.uses_teacher


def run_dirs(directory: Path) -> list[Path]:
    """Run directories inside a cell folder, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if (p / "run.json").is_file())


def finished_run(directory: Path) -> Path | None:
    """The newest finished run (with final.json) of a cell, or None."""
    done = [p for p in run_dirs(directory) if (p / "final.json").is_file()]
    return done[-1] if done else None


async def run_cell(cell: Cell, progress: bool | None = None) -> CellResult:
    """Run (or reuse, or resume) one cell; an `EvokdError` fails only this cell."""
    from evokd_agent.run.runner import run_distillation

    if cell.skip is not None or cell.record is None:
        return CellResult(cell, "skipped", message=cell.skip or "")
    changed = changed_rounds(cell)
    if changed is not None:
        return CellResult(cell, "failed", message=changed)
    done = finished_run(cell.directory)
    if done is not None:
        return CellResult(cell, "reused", done)
    cell.directory.mkdir(parents=True, exist_ok=True)
    remove_temp_files(cell.directory)  # a bench killed mid-write; the run cleans its own
    config_path = cell.directory / CELL_CONFIG
    write_text_atomic(config_path, yaml.safe_dump(cell.record, sort_keys=False))
    unfinished = run_dirs(cell.directory)
    started = time.perf_counter()
    try:
        if unfinished:
            outcome = await run_distillation(resume=unfinished[-1], progress=progress)
        else:
            outcome = await run_distillation(config_path, progress=progress)
    except EvokdError as err:
        return CellResult(cell, "failed", message=str(err))
    wall = round(time.perf_counter() - started, 2)
    write_json_atomic(
        cell.directory / CELL_RECORD, {"run_dir": outcome.run_dir.name, "wall_seconds": wall}
    )
    return CellResult(cell, "done", outcome.run_dir)


# What decides when a run ends: a cell run under other values is not this bench's cell.
_ROUND_KEYS = ("max_rounds", "stop")


def changed_rounds(cell: Cell) -> str | None:
    """Why the cell's earlier run (if any) cannot be reused or resumed: it was planned with
    another round cap or early-stop rule (e.g. before equal spend), or None."""
    path = cell.directory / CELL_CONFIG
    if cell.record is None or not path.is_file():
        return None
    try:
        before = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None  # unreadable: rewritten by this run
    if not isinstance(before, dict):
        return None
    diff = [k for k in _ROUND_KEYS if before.get(k) != cell.record.get(k)]
    if not diff:
        return None
    changes = "; ".join(f"{k} {before.get(k)} (now {cell.record.get(k)})" for k in diff)
    return (
        f"{cell.directory} was run with {changes}; use another --out, delete that folder, or "
        "pass the --max-rounds it was run with"
    )


def cell_wall_seconds(directory: Path, run_dir: Path) -> float | None:
    """Wall time the bench measured for the cell's run, when it ran it."""
    record = read_json(directory / CELL_RECORD)
    if isinstance(record, dict) and record.get("run_dir") == run_dir.name:
        return float(record["wall_seconds"])
    return None


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
