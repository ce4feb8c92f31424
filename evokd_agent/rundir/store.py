"""The run directory: config, event log, samples, metrics, loop state and student checkpoints.

Layout of `<run_root>/<name>-<UTC yyyymmdd-hhmmss>/`:

    run.json           marker: format version, name, creation time, evokd version, host, path
    config.yaml        the resolved config (absolute paths, no API key)
    config.source.*    the config file as the user wrote it (secrets masked), when known
    events.jsonl       structlog JSON lines (no secrets; prompt text only with log_content)
    samples.jsonl      every seed/generated/labelled sample, accepted or rejected and why
    metrics.jsonl      one line per round: tokens spent, dev/test F1 and full metrics
    state.json         loop progress for --resume, replaced atomically
    ledger.json        the token ledger's settled spend, replaced atomically
    cache/             the teacher's on-disk answer cache (resume without paying twice)
    checkpoints/round-N/   student checkpoints (best and last kept by default)
    report.md, report.html, f1_vs_tokens.png   written by `evokd report`
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from structlog.typing import FilteringBoundLogger

from evokd_agent import __version__
from evokd_agent.config.run_config import RunConfig, load_run_config
from evokd_agent.config.secrets import MIN_KEY_LEN, known_secrets, redact_data, redacted_source
from evokd_agent.errors import EvokdError
from evokd_agent.logs import EVENTS_FILE, configure_logging, get_logger, register_secret
from evokd_agent.rundir.durable import (
    append_lines,
    fsync_dir,
    read_json,
    read_jsonl,
    remove_temp_files,
    repair_tail,
    write_json_atomic,
    write_text_atomic,
)
from evokd_agent.rundir.records import RoundMetrics, RunState, SampleRecord

FORMAT_VERSION = 1
MARKER_FILE = "run.json"
CONFIG_FILE = "config.yaml"
SAMPLES_FILE = "samples.jsonl"
METRICS_FILE = "metrics.jsonl"
STATE_FILE = "state.json"
LEDGER_FILE = "ledger.json"
ESTIMATE_FILE = "estimate.json"
CACHE_DIR = "cache"
CHECKPOINTS_DIR = "checkpoints"
DISCARDED_SUFFIX = ".discarded.jsonl"

Clock = Callable[[], datetime]
R = TypeVar("R", bound=BaseModel)


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


class RunStore:
    """One run directory. Use `RunStore.create` for a new run and `RunStore.open` to resume."""

    def __init__(self, path: Path, config_record: dict[str, Any], *, clock: Clock = utc_now):
        self.path = path
        self.config_record = config_record
        """config.yaml as plain data (readable even when the data files have moved)."""
        self._clock = clock
        self._config: RunConfig | None = None
        self._lock = threading.Lock()

    # --- creating and opening ---------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: str | os.PathLike[str] | None,
        config: RunConfig,
        *,
        source: Path | None = None,
        clock: Clock = utc_now,
    ) -> RunStore:
        """A new run directory under `root` (None: `config.run_root`) named `<name>-<UTC time>`."""
        base = Path(root) if root is not None else config.run_root
        now = clock()
        stem = f"{config.name}-{now.astimezone(UTC):%Y%m%d-%H%M%S}"
        try:
            base.mkdir(parents=True, exist_ok=True)
            path = _fresh_dir(base, stem)
        except OSError as err:
            raise EvokdError(
                f"cannot create a run directory in {base}: {err}",
                "set run_root to a writable folder",
            ) from None
        # No file of the run holds a key: config.yaml leaves teacher.api_key out, and both
        # copies lose whatever else looks like a credential (see run/secrets.py).
        secrets = known_secrets(config.teacher)
        record = redact_data(config.to_record(), secrets, MIN_KEY_LEN)
        write_text_atomic(
            path / CONFIG_FILE, yaml.safe_dump(record, sort_keys=False, allow_unicode=True)
        )
        if source is not None and source.is_file():
            copy = path / f"config.source{source.suffix}"
            write_text_atomic(copy, redacted_source(source, secrets))
        (path / CHECKPOINTS_DIR).mkdir()
        (path / CACHE_DIR).mkdir()
        store = cls(path, record, clock=clock)
        store._config = config
        store.write_state(RunState())
        # The marker goes last: a folder without it was never a complete run directory.
        marker = {
            "format": FORMAT_VERSION,
            "name": config.name,
            "created": _iso(now),
            "evokd_version": __version__,
            **_origin(path),
        }
        write_json_atomic(path / MARKER_FILE, marker)
        return store

    @classmethod
    def open(
        cls, run_dir: str | os.PathLike[str], *, resume: bool = True, clock: Clock = utc_now
    ) -> RunStore:
        """An existing run directory.

        With `resume`, its config is validated again (data files must still exist) and torn last
        lines of the JSON-lines files (a crash mid-write) are moved aside so appends can go on.
        Without it nothing is written: readers for reports, safe while the run is still going.
        """
        path = Path(run_dir)
        if not path.is_dir():
            raise EvokdError(f"run directory {path} does not exist", "check the path")
        marker = read_json(path / MARKER_FILE)
        if not isinstance(marker, dict) or not (path / CONFIG_FILE).is_file():
            raise EvokdError(
                f"{path} is not a run directory (no {MARKER_FILE} or {CONFIG_FILE})",
                "pass a folder written by `evokd run`, e.g. runs/NAME-YYYYMMDD-HHMMSS",
            )
        if int(marker.get("format", 0)) > FORMAT_VERSION:
            raise EvokdError(
                f"{path} was written by a newer evokd-agent (format {marker.get('format')})",
                "upgrade evokd-agent",
            )
        try:
            record = yaml.safe_load((path / CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise EvokdError(f"cannot read {path / CONFIG_FILE}: {err}", "restore it") from None
        if not isinstance(record, dict):
            raise EvokdError(f"{path / CONFIG_FILE} is not a mapping", "restore it")
        store = cls(path, record, clock=clock)
        if resume:
            warning = foreign_modules_warning(path, marker, record)
            if warning is not None:
                print(warning, file=sys.stderr, flush=True)  # before extra_methods import
            _ = store.config
            store.remove_temp_files()
            for name in (SAMPLES_FILE, METRICS_FILE, EVENTS_FILE):
                repair_tail(path / name)
        return store

    def remove_temp_files(self) -> int:
        """Delete what writers killed mid-write left behind: `.state.json.*.tmp` and the like,
        half-saved checkpoints, half-written cache entries. Returns how many."""
        return (
            remove_temp_files(self.path)
            + remove_temp_files(self.path / CHECKPOINTS_DIR)
            + sum(remove_temp_files(shard, ".tmp-*") for shard in self.cache_dir.glob("v*/??"))
        )

    @property
    def config(self) -> RunConfig:
        """The run's validated config (validated on first use)."""
        if self._config is None:
            self._config = load_run_config(self.path / CONFIG_FILE)
        return self._config

    # --- events -------------------------------------------------------------------------------
    def events_logger(self, component: str = "run") -> FilteringBoundLogger:
        """Send every structlog event of the process to events.jsonl; a logger for `component`.

        The teacher's API key (inline and in its environment variable) is registered for
        redaction. Callers log prompt or completion text only when `log_content` is true.
        """
        for secret in known_secrets(self.config.teacher):
            register_secret(secret)
        configure_logging(self.path)
        return get_logger(component).bind(run=self.path.name)

    @property
    def log_content(self) -> bool:
        """Whether prompts, completions and sample texts may go into the event log."""
        return self.config.log_content or self.config.teacher.log_content

    # --- samples and metrics ------------------------------------------------------------------
    def append_samples(self, records: Iterable[SampleRecord]) -> int:
        """Append sample records (one fsync for the batch); returns how many."""
        return self._append(SAMPLES_FILE, records)

    def append_sample(self, record: SampleRecord) -> None:
        """Append one sample record."""
        self._append(SAMPLES_FILE, [record])

    def append_metrics(self, record: RoundMetrics) -> None:
        """Append the metrics of one round."""
        self._append(METRICS_FILE, [record])

    def record_sample(self, row: dict[str, Any]) -> None:
        """Validate a plain sample row (see `SampleRecord`; extra fields kept) and append it."""
        self.append_sample(_validated(SampleRecord, row, SAMPLES_FILE))

    def record_metrics(self, row: dict[str, Any]) -> None:
        """Validate a plain metrics row (see `RoundMetrics`; extra fields kept) and append it."""
        self.append_metrics(_validated(RoundMetrics, row, METRICS_FILE))

    def read_samples(self) -> list[SampleRecord]:
        """Every sample record, in the order written."""
        return self._read(SAMPLES_FILE, SampleRecord)

    def read_metrics(self) -> list[RoundMetrics]:
        """Metrics per round, by round; a round recorded twice (re-run on resume) keeps its last."""
        by_round = {m.round: m for m in self._read(METRICS_FILE, RoundMetrics)}
        return [by_round[r] for r in sorted(by_round)]

    def discard_after(self, round_completed: int) -> int:
        """Move records of rounds after `round_completed` to *.discarded.jsonl; returns how many.

        For a resume that re-runs an interrupted round from its start: its replayed records
        (cached answers, paid once) must not appear twice. Nothing is deleted.
        """
        moved = 0
        with self._lock:
            for name in (SAMPLES_FILE, METRICS_FILE):
                file = self.path / name
                rows = read_jsonl(file)
                keep = [r for r in rows if int(r.get("round", 0)) <= round_completed]
                drop = [r for r in rows if int(r.get("round", 0)) > round_completed]
                if not drop:
                    continue
                append_lines(file.with_name(file.stem + DISCARDED_SUFFIX), drop)
                tmp = file.with_name(f".{file.name}.tmp")
                tmp.unlink(missing_ok=True)
                append_lines(tmp, keep)
                tmp.touch()
                os.replace(tmp, file)
                fsync_dir(self.path)
                moved += len(drop)
        return moved

    # --- state and other JSON -----------------------------------------------------------------
    def write_state(self, state: RunState) -> None:
        """Replace state.json atomically, stamping the time."""
        stamped = state.model_copy(update={"updated": _iso(self._clock())})
        write_json_atomic(self.path / STATE_FILE, stamped.model_dump(mode="json"))

    def read_state(self) -> RunState:
        """The loop state (a fresh one if none was written)."""
        data = read_json(self.path / STATE_FILE)
        if data is None:
            return RunState()
        try:
            return RunState.model_validate(data)
        except ValidationError as err:
            raise EvokdError(
                f"{self.path / STATE_FILE} is not a valid run state: {err.errors()[0]['msg']}",
                "restore it, or delete it to restart the loop from the beginning",
            ) from None

    def mark_resumed(self) -> RunState:
        """Count one more resume in state.json and return the state to continue from."""
        state = self.read_state()
        state = state.model_copy(update={"resumes": state.resumes + 1})
        self.write_state(state)
        return state

    def write_json(self, name: str, data: Any) -> Path:
        """Replace `name` (e.g. ledger.json) in the run directory atomically."""
        path = self.path / name
        write_json_atomic(path, data)
        return path

    def read_marker(self) -> dict[str, Any]:
        """run.json: format version, name, creation time, evokd version, host and path."""
        marker = read_json(self.path / MARKER_FILE)
        return marker if isinstance(marker, dict) else {}

    def read_json(self, name: str) -> Any:
        """The JSON in `name`, or None when it does not exist."""
        return read_json(self.path / name)

    @property
    def cache_dir(self) -> Path:
        """Folder for the teacher's answer cache."""
        return self.path / CACHE_DIR

    # --- checkpoints --------------------------------------------------------------------------
    def checkpoint_dir(self, round: int) -> Path:
        """Where the student checkpoint of `round` lives."""
        return self.path / CHECKPOINTS_DIR / f"round-{round}"

    def save_checkpoint(self, round: int, save: Callable[[Path], object]) -> Path:
        """Run `save(folder)` into a temporary folder, then move it to round-N in one rename."""
        final = self.checkpoint_dir(round)
        tmp = final.with_name(f".{final.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        save(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        fsync_dir(final.parent)
        return final

    def checkpoint_rounds(self) -> list[int]:
        """Rounds that have a complete checkpoint, ascending."""
        folder = self.path / CHECKPOINTS_DIR
        rounds = []
        for child in folder.glob("round-*") if folder.is_dir() else []:
            suffix = child.name.removeprefix("round-")
            if child.is_dir() and suffix.isdigit():
                rounds.append(int(suffix))
        return sorted(rounds)

    def prune_checkpoints(self, best_round: int | None, last_round: int | None) -> list[int]:
        """Delete the checkpoints the `checkpoints` policy does not keep; returns their rounds."""
        policy = self.config.checkpoints
        if policy == "all":
            return []
        keep = {last_round} if policy == "last" else set()
        if policy == "best_and_last":
            keep = {best_round, last_round}
        removed = [r for r in self.checkpoint_rounds() if r not in keep]
        for r in removed:
            shutil.rmtree(self.checkpoint_dir(r))
        return removed

    # --- internals ----------------------------------------------------------------------------
    def _append(self, name: str, records: Iterable[BaseModel]) -> int:
        stamp = _iso(self._clock())
        rows = []
        for record in records:
            row = record.model_dump(mode="json")
            if row.get("time") is None:
                row["time"] = stamp
            rows.append(row)
        with self._lock:
            return append_lines(self.path / name, rows)

    def _read(self, name: str, model: type[R]) -> list[R]:
        out = []
        for n, row in enumerate(read_jsonl(self.path / name), start=1):
            try:
                out.append(model.model_validate(row))
            except ValidationError as err:
                raise EvokdError(
                    f"{self.path / name}: record {n} is invalid: {err.errors()[0]['msg']}",
                    "fix or delete that line",
                ) from None
        return out


def _validated(model: type[R], row: dict[str, Any], file: str) -> R:
    try:
        return model.model_validate(row)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "row"
        raise EvokdError(
            f"cannot record a row in {file}: {where}: {first['msg']}",
            f"pass the fields of {model.__name__} (this is a bug in the caller)",
        ) from None


def _origin(path: Path) -> dict[str, str]:
    """Where a run directory is: recorded at creation, compared on resume."""
    return {"host": socket.gethostname(), "path": str(path.resolve())}


def foreign_modules_warning(
    path: Path, marker: dict[str, Any], record: dict[str, Any]
) -> str | None:
    """A warning when resuming a run directory created on another host or in another folder
    (or before either was recorded) would import the user modules its config names."""
    modules: list[str] = []
    for field in ("extra_tools", "extra_methods"):
        value = record.get(field)
        if isinstance(value, list):
            modules += [str(m) for m in value]
    origin = _origin(path)
    if not modules or all(marker.get(k) == v for k, v in origin.items()):
        return None
    where = f"host {marker.get('host', '?')}, folder {marker.get('path', '?')}"
    return (
        f"evokd: warning: {path} was created elsewhere ({where}); resuming it imports and runs "
        f"the Python modules its config names: {', '.join(modules)}"
    )


def _fresh_dir(base: Path, stem: str) -> Path:
    for n in range(1, 1000):
        path = base / (stem if n == 1 else f"{stem}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise EvokdError(f"too many runs named {stem} in {base}", "clean up the run root")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
