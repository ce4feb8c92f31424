"""A whole bench: every cell in turn, then the report (the table, the CSVs and the plots)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

from evokd_agent.bench.cells import BenchSpec, CellResult, Status, plan_cells, run_cell, say
from evokd_agent.bench.report import write_bench_report


async def run_bench(spec: BenchSpec) -> list[CellResult]:
    """Run every cell in turn, then write the table, the CSVs and the plots into `spec.out`."""
    cells = plan_cells(spec)
    spec.out.mkdir(parents=True, exist_ok=True)
    results: list[CellResult] = []
    for n, cell in enumerate(cells, start=1):
        name = f"[{n}/{len(cells)}] {cell.dataset} {cell.method} b{cell.budget} s{cell.seed}"
        result = await run_cell(cell, spec.progress)
        if result.status == "reused":
            say(f"{name}: finished before, reused {result.run_dir}")
        elif result.status in ("skipped", "failed"):
            say(f"{name}: {result.status}: {result.message}")
        else:
            say(f"{name}: done in {result.run_dir}")
        results.append(result)
    write_bench_report(spec.out, results, seeds=spec.seeds, max_rounds=spec.max_rounds)
    return results


def summary_line(results: Sequence[CellResult]) -> str:
    """How many cells ran, were reused, skipped or failed."""
    counts = {s: sum(r.status == s for r in results) for s in get_args(Status)}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no cells"
