"""The report's plot: student dev (and test) F1 against teacher tokens spent."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evokd_agent.report.summary import best_round
from evokd_agent.rundir.records import RoundMetrics


def plot_f1_vs_tokens(
    rounds: Sequence[RoundMetrics], path: Path, *, title: str, budget: int | None = None
) -> Path:
    """Write a PNG of F1 per round against cumulative teacher tokens; works for 0 or 1 round."""
    # The Agg canvas directly, not pyplot: no global backend switch, no GUI, thread-safe enough.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title)
    ax.set_xlabel("teacher tokens spent")
    ax.set_ylabel("F1")
    ax.grid(True, alpha=0.3)
    if not rounds:
        ax.text(
            0.5, 0.5, "no rounds recorded yet", ha="center", va="center", transform=ax.transAxes
        )
        ax.set_xlim(0, budget or 1)
        ax.set_ylim(0, 1)
    else:
        xs = [m.tokens_spent for m in rounds]
        ax.plot(xs, [m.dev_f1 for m in rounds], marker="o", label="dev F1")
        tested = [m for m in rounds if m.test_f1 is not None]
        if tested:
            ax.plot(
                [m.tokens_spent for m in tested],
                [m.test_f1 or 0.0 for m in tested],
                marker="s",
                linestyle="--",
                label="test F1",
            )
        for m in rounds:
            ax.annotate(
                f"r{m.round}",
                (m.tokens_spent, m.dev_f1),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=7,
            )
        best = best_round(rounds)
        if best is not None:
            ax.scatter(
                [best.tokens_spent],
                [best.dev_f1],
                s=160,
                marker="*",
                color="gold",
                edgecolors="black",
                zorder=5,
                label=f"best dev {best.dev_f1:.4f}",
            )
        if budget is not None and budget >= max(xs):
            ax.axvline(budget, color="grey", linestyle=":", label=f"budget {budget:,}")
        ys = [m.dev_f1 for m in rounds] + [m.test_f1 for m in tested if m.test_f1 is not None]
        low, high = min(ys), max(ys)
        pad = max(0.05, (high - low) * 0.15)
        ax.set_ylim(max(0.0, low - pad), min(1.0, high + pad) if high <= 1 else high + pad)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
