"""The benchmark's plot: per data set, each method's mean F1 against teacher tokens spent."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from evokd_agent.bench.results import RunResult


def curve(runs: Sequence[RunResult], metric: str) -> list[tuple[float, float, float, int]]:
    """(mean tokens, mean F1, F1 std, runs) per round index, over the runs that reached it."""
    points = []
    for r in range(max((len(run.rounds) for run in runs), default=0)):
        rows = [run.rounds[r] for run in runs if len(run.rounds) > r]
        ys = [(m.test_f1 if metric == "test" else m.dev_f1) or 0.0 for m in rows]
        std = statistics.stdev(ys) if len(ys) > 1 else 0.0
        x = statistics.fmean(m.tokens_spent for m in rows)
        points.append((x, statistics.fmean(ys), std, len(rows)))
    return points


def plot_bench(dataset: str, runs: Sequence[RunResult], path: Path) -> Path:
    """Write a PNG with one curve per method (its largest budget's runs, mean over seeds).

    Methods that spend no tokens are horizontal lines at their last round's mean. The metric is
    test F1 when every round of every run was scored on test, else dev F1.
    """
    # The Agg canvas directly, not pyplot: no global backend switch, no GUI (as in report.plot).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [m for run in runs for m in run.rounds]
    metric = "test" if rows and all(m.test_f1 is not None for m in rows) else "dev"
    fig = Figure(figsize=(7.5, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    seeds = len({run.seed for run in runs})
    ax.set_title(f"{dataset}: student {metric} F1 against teacher tokens (mean of {seeds} seeds)")
    ax.set_xlabel("teacher tokens spent")
    ax.set_ylabel(f"{metric} F1")
    ax.grid(True, alpha=0.3)
    methods = list(dict.fromkeys(run.method for run in runs))
    flat: list[tuple[str, float]] = []
    ys: list[float] = []
    for method in methods:
        mine = [run for run in runs if run.method == method]
        budget = max(run.budget for run in mine)
        points = curve([run for run in mine if run.budget == budget], metric)
        if not points:
            continue
        if budget == 0 or all(p[0] == 0 for p in points):  # b0: a method without teacher
            flat.append((method, points[-1][1]))
            ys.append(points[-1][1])
            continue
        xs, means, stds = [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]
        label = f"{method} (budget {budget:,})" if budget else method
        (line,) = ax.plot(xs, means, marker="o", label=label)
        if any(stds):
            low = [m - s for m, s in zip(means, stds, strict=True)]
            high = [m + s for m, s in zip(means, stds, strict=True)]
            ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
            ys += low + high
        ys += means
    for n, (method, y) in enumerate(flat):
        ax.axhline(
            y,
            linestyle=(":", "--", "-.")[n % 3],
            color=f"C{(len(methods) + n) % 10}",
            label=f"{method} (0 tokens) {y:.3f}",
        )
    if not ys:
        ax.text(0.5, 0.5, "no finished runs", ha="center", va="center", transform=ax.transAxes)
        ax.set_ylim(0, 1)
    else:
        pad = max(0.05, (max(ys) - min(ys)) * 0.15)
        ax.set_ylim(max(0.0, min(ys) - pad), min(1.0, max(ys) + pad))
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
