"""The benchmark's table, CSVs and plots, computed from the finished runs' records alone.

Scores are those of each run's final student on the test split (final.json); a group of runs
(data set, method, budget) reports their mean and sample standard deviation (n - 1; 0 for a
single run). Spend is reported beside them: tokens spent (ledger), the share of the budget,
prompt tokens the provider served from its prefix cache (counted in the budget in full),
accepted samples (samples.jsonl: new samples that joined the training data) and tokens per
accepted sample. The plots show, per data set, one curve per method: the mean F1 of each round
against the mean tokens spent by then (test F1 when every round was scored on test, else dev).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evokd_agent.bench.cells import CellResult
from evokd_agent.bench.plot import plot_bench
from evokd_agent.bench.results import SIMULATED_NOTE, RunResult, load_result
from evokd_agent.report.writer import Bullets, Heading, Image, Paragraph, Table, render_markdown
from evokd_agent.rundir.durable import write_text_atomic

TABLE_MD = "table.md"
TABLE_CSV = "table.csv"
RUNS_CSV = "runs.csv"
SCORES = ("accuracy", "macro_f1", "entity_f1")


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation of some runs' values."""

    mean: float
    std: float
    n: int

    def show(self) -> str:
        return f"{self.mean:.4f} ± {self.std:.4f}"


@dataclass(frozen=True)
class GroupRow:
    """One line of the table: the runs of one data set, method and budget."""

    dataset: str
    task: str
    method: str
    budget: int
    n: int
    """Runs (seeds) aggregated."""
    scores: Mapping[str, Stat]
    """Test scores present in every run, by name."""
    tokens: float
    """Mean tokens spent."""
    wall: float | None
    """Mean wall seconds."""
    budget_share: float | None = None
    """Mean fraction of the budget spent; None for a method that spends none."""
    cached: float = 0.0
    cost: float | None = None
    """Mean teacher cost in dollars (None when a run's teacher had no price)."""
    """Mean prompt tokens served from the provider's prefix cache."""
    accepted: float = 0.0
    """Mean accepted samples."""
    tokens_per_accepted: float | None = None
    """All runs' tokens over all their accepted samples (a run with few samples does not
    dominate, as it would in a mean of ratios); None without a teacher or samples."""


def mean_std(values: Iterable[float]) -> Stat | None:
    """Mean and sample standard deviation (0 for one value); None for no values."""
    xs = list(values)
    if not xs:
        return None
    return Stat(statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0, len(xs))


def aggregate(runs: Sequence[RunResult]) -> list[GroupRow]:
    """One row per (data set, method, budget), in the order the runs come (the bench runs
    data sets, then seeds, then methods in the order asked, then budgets ascending)."""
    groups: dict[tuple[str, str, int], list[RunResult]] = {}
    for run in runs:
        groups.setdefault((run.dataset, run.method, run.budget), []).append(run)
    rows: list[GroupRow] = []
    for (dataset, method, budget), members in groups.items():
        scores: dict[str, Stat] = {}
        for name in SCORES:
            if all(name in m.scores for m in members):
                stat = mean_std(m.scores[name] for m in members)
                if stat is not None:
                    scores[name] = stat
        walls = [m.wall_seconds for m in members if m.wall_seconds is not None]
        shares = [m.budget_share for m in members if m.budget_share is not None]
        accepted = sum(m.accepted for m in members)
        rows.append(
            GroupRow(
                dataset=dataset,
                task=members[0].task,
                method=method,
                budget=budget,
                n=len(members),
                scores=scores,
                tokens=statistics.fmean(m.tokens_spent for m in members),
                wall=statistics.fmean(walls) if walls else None,
                budget_share=statistics.fmean(shares) if shares else None,
                cached=statistics.fmean(m.cached_prompt_tokens for m in members),
                cost=_mean_cost(members),
                accepted=statistics.fmean(m.accepted for m in members),
                tokens_per_accepted=sum(m.tokens_spent for m in members) / accepted
                if budget and accepted
                else None,
            )
        )
    return rows


def _mean_cost(members: Sequence[RunResult]) -> float | None:
    costs = [m.cost_usd for m in members]
    return None if any(c is None for c in costs) else statistics.fmean(c or 0.0 for c in costs)


def _score(row: GroupRow, name: str) -> str:
    stat = row.scores.get(name)
    return stat.show() if stat is not None else "–"


def _budget(budget: int) -> str:
    return f"{budget:,}" if budget else "– (0 tokens)"


def _opt(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def rounds_note(max_rounds: int | None) -> str:
    """How the bench's runs were allowed to end, for the table's notes."""
    if max_rounds is None:
        return (
            "Equal spend: each method that calls the teacher ran until its budget was spent "
            "(early stop off; a round cap of max(100, the config's max_rounds) only as a safety "
            "stop); seeds_only, full_shot and eda ran as configured."
        )
    return (
        f"At most {max_rounds} round(s) per run (--max-rounds), early stop as configured: "
        "budgets are equal, spending need not be (see '% of budget')."
    )


def unspent_runs(runs: Sequence[RunResult], limit: int = 10) -> list[str]:
    """Runs of teacher methods that ended for another reason than their budget."""
    out = [
        f"{r.dataset} {r.method} b{r.budget} s{r.seed}: {r.stop_reason}"
        for r in runs
        if r.budget and r.stop_reason and not r.stop_reason.startswith("token budget")
    ]
    return out[:limit] + (
        [f"... and {len(out) - limit} more (runs.csv)"] if len(out) > limit else []
    )


def table_markdown(
    rows: Sequence[GroupRow],
    teachers: Sequence[str],
    *,
    seeds: Sequence[int],
    problems: Sequence[str] = (),
    plots: Sequence[str] = (),
    max_rounds: int | None = None,
    unspent: Sequence[str] = (),
) -> str:
    """The benchmark table as Markdown, with the teacher named above it (`max_rounds`: the
    bench's --max-rounds, None for equal spend; `unspent`: see `unspent_runs`)."""
    teacher = "; ".join(teachers) or "none called"
    # Bold, so a simulated benchmark is never read as an LLM's.
    teacher = teacher.replace(SIMULATED_NOTE, f"**{SIMULATED_NOTE}**")
    blocks: list[Any] = [
        Heading(1, "evokd bench"),
        Paragraph(f"Teacher: {teacher}"),
        Bullets(
            [
                f"Seeds: {', '.join(str(s) for s in seeds)}; each sets the run's `seed` and "
                "`data.seeds_seed` (with `seeds_per_class`, each draws its own seed examples; "
                "dev/test limits draw their subsets with it too).",
                "Scores: the final student on the test split, mean ± sample standard deviation "
                "over seeds (accuracy and macro-F1 for classification, entity F1 for NER).",
                "Budget '–': the method never calls the teacher; one run per seed serves every "
                "budget.",
                rounds_note(max_rounds),
                "Tokens spent: teacher tokens per run (mean), prompt + completion; '% of "
                "budget': their share of the budget (mean); cached prompt: prompt tokens the "
                "provider served from its prefix cache (mean; already inside tokens spent, "
                "the budget counts them in full).",
                "Accepted samples: new samples per run that joined the training data (mean; "
                "teacher-labelled, or EDA's edits). Tokens / accepted: all seeds' tokens over "
                "all their accepted samples. Wall: seconds per run (mean). Cost: the teacher's "
                "price in dollars per run (mean; '–' when its model has no price).",
            ]
        ),
        Table(
            [
                "data set",
                "method",
                "budget",
                "seeds",
                "test accuracy",
                "test macro-F1",
                "test entity F1",
                "tokens spent",
                "% of budget",
                "cached prompt tokens",
                "accepted samples",
                "tokens / accepted sample",
                "cost $",
                "wall s",
            ],
            [
                [
                    r.dataset,
                    r.method,
                    _budget(r.budget),
                    str(r.n),
                    *(_score(r, name) for name in SCORES),
                    f"{r.tokens:,.0f}",
                    "–" if r.budget_share is None else f"{100 * r.budget_share:.1f}%",
                    f"{r.cached:,.0f}",
                    f"{r.accepted:,.1f}",
                    _opt(r.tokens_per_accepted, ",.0f"),
                    _opt(r.cost, ".4f"),
                    _opt(r.wall, ".1f"),
                ]
                for r in rows
            ],
        ),
    ]
    if unspent:
        blocks += [
            Heading(2, "Runs that ended before their budget was spent"),
            Bullets(list(unspent)),
        ]
    if problems:
        blocks += [Heading(2, "Cells not in the table"), Bullets(list(problems))]
    blocks += [Image(f"F1 against teacher tokens: {Path(p).stem}", p) for p in plots]
    return render_markdown(blocks)


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def table_csv(rows: Sequence[GroupRow], teacher: str) -> str:
    """The table as CSV: one mean and one std column per score."""
    score_cols = [f"test_{name}_{part}" for name in SCORES for part in ("mean", "std")]
    header = ["dataset", "task", "method", "budget", "n_seeds", *score_cols]
    header += ["tokens_spent_mean", "budget_spent_pct_mean", "cached_prompt_tokens_mean"]
    header += ["accepted_samples_mean", "tokens_per_accepted_sample", "wall_seconds_mean"]
    header += ["cost_usd_mean", "teacher"]
    out = []
    for r in rows:
        values: list[Any] = [r.dataset, r.task, r.method, r.budget, r.n]
        for name in SCORES:
            stat = r.scores.get(name)
            values += [stat.mean, stat.std] if stat is not None else ["", ""]
        values += [r.tokens, _pct(r.budget_share), r.cached, r.accepted]
        values += [_blank(r.tokens_per_accepted), _blank(r.wall), _blank(r.cost), teacher]
        out.append(values)
    return _csv(header, out)


def _blank(value: float | None) -> float | str:
    return "" if value is None else value


def _pct(share: float | None) -> float | str:
    return "" if share is None else round(100 * share, 2)


def _shown(run_dir: Path, root: Path | None) -> str:
    """A run's folder relative to the bench folder when inside it (results carry no machine
    paths), else as it is."""
    # Cells resolve their folders, while `--out` may be relative: compare absolute paths.
    if root is not None and run_dir.resolve().is_relative_to(root.resolve()):
        return run_dir.resolve().relative_to(root.resolve()).as_posix()
    return str(run_dir)


def runs_csv(runs: Sequence[RunResult], root: Path | None = None) -> str:
    """Every run's own figures, for any other aggregation (run folders relative to `root`)."""
    header = ["dataset", "task", "method", "budget", "seed", *(f"test_{s}" for s in SCORES)]
    header += ["tokens_spent", "budget_spent_pct", "cached_prompt_tokens", "accepted_samples"]
    header += ["tokens_per_accepted_sample", "wall_seconds", "rounds", "stop_reason", "run_dir"]
    header += ["cost_usd"]
    return _csv(
        header,
        (
            [r.dataset, r.task, r.method, r.budget, r.seed]
            + [r.scores.get(s, "") for s in SCORES]
            + [r.tokens_spent, _pct(r.budget_share), r.cached_prompt_tokens, r.accepted]
            + [_blank(r.tokens_per_accepted), r.wall_seconds or "", len(r.rounds)]
            + [r.stop_reason or "", _shown(r.run_dir, root), _blank(r.cost_usd)]
            for r in runs
        ),
    )


def write_bench_report(
    out: Path,
    results: Sequence[CellResult],
    *,
    seeds: Sequence[int],
    max_rounds: int | None = None,
) -> str:
    """Write table.md, table.csv, runs.csv and one plot per data set; returns the Markdown
    (`max_rounds`: the bench's --max-rounds, None for equal spend)."""

    runs = [r for r in (load_result(c) for c in results) if r is not None]
    problems = [
        f"{c.cell.dataset} {c.cell.method} b{c.cell.budget} s{c.cell.seed}: {c.status}"
        + (f" ({c.message})" if c.message else "")
        for c in results
        if c.status in ("skipped", "failed")
    ]
    # The bench runs methods without a teacher under budget 0 (b0).
    teachers = sorted({r.teacher for r in runs if r.budget > 0})
    plots: list[str] = []
    for dataset in dict.fromkeys(r.dataset for r in runs):
        path = out / f"f1_vs_tokens_{dataset}.png"
        plot_bench(dataset, [r for r in runs if r.dataset == dataset], path)
        plots.append(path.name)
    rows = aggregate(runs)
    markdown = table_markdown(
        rows,
        teachers,
        seeds=seeds,
        problems=problems,
        plots=plots,
        max_rounds=max_rounds,
        unspent=unspent_runs(runs),
    )
    write_text_atomic(out / TABLE_MD, markdown)
    write_text_atomic(out / TABLE_CSV, table_csv(rows, "; ".join(teachers)))
    write_text_atomic(out / RUNS_CSV, runs_csv(runs, out))
    return markdown
