"""`evokd run`: build a run from its config, let the agent drive it, keep everything on disk.

Resuming replays the run from its start against the on-disk teacher cache: every answer already
received is read back instead of paid for again, the student retrains deterministically from the
same seeds, and the ledger carries the tokens spent before the interruption.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evokd_agent.agent import ToolRegistry, run_agent
from evokd_agent.config.data import RunData, load_run_data
from evokd_agent.config.run_config import RunConfig, load_run_config
from evokd_agent.config.stopping import Point, stop_reason
from evokd_agent.distill.context import DistillContext
from evokd_agent.errors import EvokdError
from evokd_agent.logs import configure_logging
from evokd_agent.report.writer import write_report
from evokd_agent.run.context import build_context, build_hygiene, run_prices, run_seeds
from evokd_agent.run.dry_run import estimate_line, estimate_run
from evokd_agent.run.policy import make_policy, step_limit
from evokd_agent.run.toolset import build_registry
from evokd_agent.rundir.records import RunState
from evokd_agent.rundir.store import ESTIMATE_FILE, RunStore
from evokd_agent.servers.embedded import EmbeddedTeacher
from evokd_agent.servers.simulated import SimulatedTeacher
from evokd_agent.student.student import NerStudent, Student, TextStudent
from evokd_agent.teacher.cache import ResponseCache
from evokd_agent.teacher.client import TeacherClient
from evokd_agent.teacher.config import TeacherConfig
from evokd_agent.teacher.generator import ChatGenerator
from evokd_agent.teacher.journal import RequestJournal
from evokd_agent.teacher.ledger import TokenLedger


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended."""

    run_dir: Path
    """The run directory."""
    stop_reason: str
    """Why it ended."""
    final: dict[str, Any]
    """What `finish` reported (final dev/test scores, tokens, checkpoint)."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def teacher_endpoint(
    config: TeacherConfig, log_path: Path, *, needed: bool = True
) -> Iterator[TeacherConfig]:
    """The teacher settings to use, starting the embedded or simulated server first when asked
    (`needed` False: a method that asks no teacher; nothing is started)."""
    if not needed:
        say("this method asks no teacher: none is started")
        yield config.model_copy(
            update={"base_url": "http://127.0.0.1:9/v1", "model": "no-teacher", "simulated": None}
        )
        return
    if config.is_simulated and config.simulated is not None:
        say("starting the SIMULATED teacher: it serves real corpus sentences, it is NOT an LLM…")
        with SimulatedTeacher(config.simulated, encoding=config.encoding) as simulated:
            say(
                f"teacher is a SIMULATION ({simulated.model}, corpus {config.simulated.corpus}, "
                f"noise {config.simulated.noise:g}): its results are not LLM results"
            )
            yield config.model_copy(
                update={"base_url": simulated.base_url, "model": simulated.model, "simulated": None}
            )
        return
    if not config.is_embedded:
        yield config
        return
    say("starting the embedded teacher (llama.cpp, SmolLM2-135M)…")
    with EmbeddedTeacher(log_path=log_path) as teacher:
        yield config.model_copy(update={"base_url": teacher.base_url, "model": teacher.model})


def open_store(config_path: Path | None, resume: Path | None) -> tuple[RunStore, RunState]:
    if resume is not None:
        store = RunStore.open(resume)
        state = store.read_state()
        if state.finished and state.reported:
            raise EvokdError(
                f"the run in {resume} already finished ({state.stop_reason})",
                f"start a new run with `evokd run CONFIG`, or read `evokd report {resume}`",
            )
        if state.finished:
            return store, state  # killed before its report: only that is left to do
        state = store.mark_resumed()
        # The replay records every round again; rows of the interrupted attempt move aside.
        store.discard_after(-1)
        return store, state
    if config_path is None:
        raise EvokdError("no config given", "pass a config file, or --resume RUN_DIR")
    config = load_run_config(config_path)
    store = RunStore.create(None, config, source=config_path)
    return store, store.read_state()


class Bookkeeper:
    """Everything recorded at the end of a round: metrics, checkpoint, state, progress line."""

    def __init__(self, store: RunStore, config: RunConfig) -> None:
        self.store = store
        self.config = config
        self.history: list[Point] = []
        self.started = time.perf_counter()
        self.ctx: DistillContext | None = None

    def end_round(self, row: dict[str, Any]) -> str | None:
        ctx = self.ctx
        assert ctx is not None
        ledger = ctx.generator.ledger
        rnd = int(row["round"])
        test = None
        if self.config.evaluate_test == "every_round" and ctx.test:
            # For the report's curve only: the agent never sees the test split.
            test = ctx.evaluate(ctx.test)
        keep = self.config.checkpoints != "none"
        checkpoint = self.store.save_checkpoint(rnd, ctx.student.save) if keep else None
        status = ledger.status()
        self.store.record_metrics(
            {
                **row,
                "tokens_spent": ledger.spent,
                "test_f1": test.main_score if test is not None else None,
                "test": test.to_dict() if test is not None else None,
                "tokens_by_phase": {k: v.total for k, v in status.by_phase.items()},
                "checkpoint": str(checkpoint.relative_to(self.store.path)) if checkpoint else None,
            }
        )
        self.history.append(Point(rnd, ledger.spent, float(row["dev_f1"])))
        best = max(self.history, key=lambda p: p.dev_f1)
        if self.config.checkpoints == "best_and_last":
            self.store.prune_checkpoints(best.round, rnd)
        reason = stop_reason(self.config, self.history)
        if ledger.exhausted and reason is None:
            reason = ledger.exhaustion()
        state = self.store.read_state()
        self.store.write_state(
            state.model_copy(
                update={
                    "round_completed": rnd,
                    "tokens_spent": ledger.spent,
                    "best_round": best.round,
                    "best_dev_f1": best.dev_f1,
                    "stop_reason": reason,
                }
            )
        )
        self.store.write_json("ledger.json", ledger.to_dict())
        test_part = f" | test F1 {test.main_score:.3f}" if test is not None else ""
        say(
            f"round {rnd}/{self.config.max_rounds} | dev F1 {row['dev_f1']:.3f} "
            f"(best {best.dev_f1:.3f}){test_part} | tokens {ledger.spent:,}/"
            f"{self.config.budget_tokens:,}{_dollars(ledger)} | train {row['n_train']} | "
            f"{time.perf_counter() - self.started:.0f}s"
            + (f" | stopping: {reason}" if reason else "")
        )
        return reason


def _dollars(ledger: TokenLedger) -> str:
    """The spend in dollars for the progress line (nothing for a teacher that costs nothing)."""
    status = ledger.status()
    if not status.priced or (status.total.cost_usd == 0 and status.budget_usd is None):
        return ""
    of = f" of ${status.budget_usd:g}" if status.budget_usd is not None else ""
    return f" (${status.total.cost_usd:.4f}{of})"


def build_student(config: RunConfig) -> TextStudent | NerStudent:
    task = config.task
    labels = list(config.labels)
    if task == "ner":
        labels = ["O", *(f"{p}-{t}" for t in config.labels for p in ("B", "I"))]
    student: Any = Student.create(
        labels,
        config.student.model,
        task=task,
        max_length=config.student.max_length,
        seed=config.seed,
        device=config.student.train.device,
    )
    return student  # type: ignore[no-any-return]


async def run_distillation(
    config_path: Path | None = None, *, resume: Path | None = None, progress: bool | None = None
) -> RunOutcome:
    """Run (or resume) a distillation and write its report; returns the run directory."""
    try:
        return await _distil(config_path, resume, progress)
    finally:
        # The run's events.jsonl stays open while it runs; the process may go on (bench, tests).
        configure_logging(None)


async def _distil(
    config_path: Path | None, resume: Path | None, progress: bool | None
) -> RunOutcome:
    store, previous = open_store(config_path, resume)
    if previous.finished:
        return _write_missing_report(store, previous)
    config = store.config
    spec = config.method_spec
    log = store.events_logger("run")
    say(f"run directory {store.path}")
    log.info("run.start", resumed=resume is not None, method=config.method, policy=config.policy)
    data = load_run_data(config)
    # full_shot: the whole gold train file (at most data.train_limit) stands in for the seeds.
    seeds = run_seeds(config, data)
    if not seeds:
        raise EvokdError("no seed examples were loaded", "check data.seeds / data.train")
    hygiene = build_hygiene(config, data, seeds)
    registry = build_registry(config.extra_tools)
    if resume is None:
        await _write_estimate(store, config, data, registry)
    # The cache is this run's own: a hit is an answer this run paid for before an interruption,
    # charged again so the replay retraces the original spend exactly (nothing is re-sent).
    ledger = TokenLedger(
        config.budget_tokens,
        charge_cache_hits=True,
        prices=run_prices(config),
        budget_usd=config.budget_usd,
    )
    if resume is not None:
        say("resuming: replaying the run; answers already received come from its cache")
    student = build_student(config)
    book = Bookkeeper(store, config)
    needed = spec.uses_teacher
    with teacher_endpoint(
        config.effective_teacher, store.path / "teacher.log", needed=needed
    ) as teacher:
        journal = RequestJournal.open(store.cache_dir)
        async with TeacherClient(teacher) as client:
            generator = ChatGenerator(
                client,
                ledger=ledger,
                cache=ResponseCache(store.cache_dir),
                journal=journal,
                logger=log.bind(component="teacher"),
                progress=progress,
            )
            if ledger.held:
                say(
                    f"the interrupted run's requests hold {ledger.held:,} tokens of the budget "
                    "until the replay reaches them"
                )
            ctx = build_context(
                config,
                data,
                seeds,
                student=student,
                generator=generator,
                hygiene=hygiene,
                teacher=teacher,
                record_sample=store.record_sample,
                end_round=book.end_round,
                save_final=lambda: str(_save_final(store, ctx)),
            )
            book.ctx = ctx
            await _round_zero(ctx)
            if not spec.llm_policy_allowed and config.policy != "scripted":
                say(
                    f"method {config.method} is a fixed procedure: "
                    f"policy {config.policy!r} is not used"
                )
            policy = make_policy(config, registry, ctx)

            def on_event(event: dict[str, Any]) -> None:
                fields = dict(event)
                log.info(f"agent.{fields.pop('event', 'event')}", **fields)
                store.write_json("ledger.json", ledger.to_dict())

            try:
                result = await run_agent(
                    policy, registry, ctx, max_steps=step_limit(config), on_event=on_event
                )
                if not ctx.state.finished:
                    # Whatever the policy did (step limit, StopRun, a model that never
                    # finishes), the run ends with a final evaluation and a saved student.
                    await registry.call("finish", {"reason": result.stop_reason}, ctx)
            finally:
                # Ctrl-C or a crash: the spend so far must survive for --resume.
                ledger.settle_holds()
                store.write_json("ledger.json", ledger.to_dict())
                journal.close()
    final = ctx.state.final
    reason = store.read_state().stop_reason
    if reason is None and ledger.exhausted:
        reason = ledger.exhaustion()
    reason = reason or str(final.get("reason"))
    _record_final(store, book, final, reason)
    log.info("run.finish", reason=reason, tokens=ledger.spent, resumes=previous.resumes)
    _report(store)
    return RunOutcome(store.path, reason, final)


async def _write_estimate(
    store: RunStore, config: RunConfig, data: RunData, registry: ToolRegistry[DistillContext]
) -> None:
    """The run's cost estimate (`run.dry_run`) in estimate.json, before anything is sent."""
    try:
        estimate = await estimate_run(config, data, registry)
    except Exception as exc:  # a faulty estimate must not cost the user the run it describes
        say(f"no cost estimate: {type(exc).__name__}: {exc}")
        return
    store.write_json(ESTIMATE_FILE, estimate.to_dict())
    say(f"estimate: {estimate_line(estimate)}")


def _report(store: RunStore) -> None:
    paths = write_report(store.path)
    store.write_state(store.read_state().model_copy(update={"reported": True}))
    say(f"report: {paths.markdown}  plot: {paths.plot}")


def _write_missing_report(store: RunStore, state: RunState) -> RunOutcome:
    """Resume of a run killed after it finished but before its report: write the report."""
    say(f"the run had finished ({state.stop_reason}); writing its report")
    _report(store)
    final = store.read_json("final.json")
    return RunOutcome(store.path, state.stop_reason or "", final if isinstance(final, dict) else {})


async def _round_zero(ctx: DistillContext) -> None:
    """Train on the seeds alone: the starting point every method is compared against."""
    started = time.perf_counter()
    dev, train_loss = await asyncio.to_thread(ctx.train_and_score)
    ctx.state.dev_history.append(dev.main_score)
    ctx.state.batch = list(ctx.seeds)
    ctx.end_round(
        {
            "round": 0,
            "n_train": len(ctx.seeds),
            "n_synthetic": 0,
            "dev": dev.to_dict(),
            "dev_f1": dev.main_score,
            "train_loss": train_loss,
            "wall_seconds": round(time.perf_counter() - started, 2),
        }
    )


def _save_final(store: RunStore, ctx: DistillContext) -> Path:
    final = store.path / "final"
    ctx.student.save(final)
    return final


def _record_final(store: RunStore, book: Bookkeeper, final: dict[str, Any], reason: str) -> None:
    store.write_json("final.json", final)
    if final.get("test_score") is not None and book.history:
        # The last round's row gains the final test score (the last row of a round wins).
        last = store.read_metrics()[-1]
        store.record_metrics(
            {
                **last.model_dump(mode="json"),
                "test_f1": final["test_score"],
                "test": final.get("test"),
            }
        )
    # Last: a run marked finished has everything but its report on disk (see open_store).
    state = store.read_state()
    store.write_state(state.model_copy(update={"finished": True, "stop_reason": reason}))
