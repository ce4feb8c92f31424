"""The cost estimate made before each run (`estimate.json`) against what the run spent.

    python scripts/estimate_vs_spend.py BENCH_OUT [BENCH_OUT ...]

Reads every finished run under the given folders (an `evokd bench --out` folder, a runs
folder, or a run directory) that has an `estimate.json`, and prints one row per run:
requests and tokens estimated and spent, spent / estimated, and the same ratio per phase.
Run names are printed relative to the folder given, so the output carries no machine paths.
`--recompute` estimates each run again from its saved config with the code installed now
(the rehearsal takes seconds), instead of reading the `estimate.json` the run wrote (runs
from before estimates were written count too).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from evokd_agent.run.dry_run import estimate_run
from evokd_agent.rundir.store import RunStore
from evokd_agent.teacher.cost_estimate import CostEstimate, compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument(
        "--recompute", action="store_true", help="estimate again from each run's config"
    )
    args = parser.parse_args()
    header = (
        f"{'run':<44} {'estimate ends':<14} {'req est':>7} {'req sent':>8} "
        f"{'tokens est':>10} {'tokens spent':>12} {'spent/est':>9}  per phase"
    )
    print(header)
    ratios: list[float] = []
    for folder in args.folders:
        for state_file in sorted(folder.rglob("state.json")):
            run = state_file.parent
            if not json.loads(state_file.read_text()).get("finished"):
                continue  # still running: its spend is not final
            if args.recompute:
                config = RunStore.open(run, resume=False).config
                estimate = asyncio.run(estimate_run(config))
            elif (run / "estimate.json").is_file():
                estimate = CostEstimate.from_dict(json.loads((run / "estimate.json").read_text()))
            else:
                continue  # written before runs estimated their cost
            ledger = json.loads((run / "ledger.json").read_text())
            rows = compare(estimate, ledger.get("spend", []))
            total = rows[-1]
            phases = "  ".join(f"{c.phase} {c.ratio:.2f}" for c in rows[:-1] if c.ratio is not None)
            ratio = total.ratio
            if ratio is not None:
                ratios.append(ratio)
            stop = estimate.stop.split(":")[0]
            stop = "budget" if "budget" in stop else "rounds" if "round limit" in stop else stop
            parts = run.relative_to(folder).parts
            # A bench cell's folder names the cell; its one run directory adds only a date.
            name = "/".join(parts[:-1]) if len(parts) > 1 else run.name
            print(
                f"{name:<44} {stop:<14} {total.estimated.requests:>7} {total.spent_requests:>8} "
                f"{total.estimated.tokens:>10,} {total.spent_tokens:>12,} "
                f"{ratio if ratio is not None else float('nan'):>9.3f}  {phases}"
            )
    if ratios:
        worst = max(ratios, key=lambda r: abs(r - 1))
        within = sum(abs(r - 1) <= 0.2 for r in ratios)
        print(
            f"\n{len(ratios)} runs: spent / estimated from {min(ratios):.3f} to {max(ratios):.3f}"
            f" (furthest from 1: {worst:.3f}); within 20%: {within} of {len(ratios)}"
        )


if __name__ == "__main__":
    main()
