"""`evokd bench CONFIG...`: argparse wiring for the CLI (added to `evokd_agent.cli.main`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path


def add_bench_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `bench` subcommand to the `evokd` subparsers."""
    from evokd_agent.bench.cells import DEFAULT_METHODS, SAFETY_MAX_ROUNDS
    from evokd_agent.methods.registry import BUILTIN_REGISTRY

    needs = ", ".join(
        [f"{s.name} needs data.train" for s in BUILTIN_REGISTRY.values() if s.trains_on == "train"]
        + [f"{s.name} data.pool" for s in BUILTIN_REGISTRY.values() if s.needs_pool]
    )

    bench = sub.add_parser(
        "bench",
        help="compare methods over data sets, seeds and budgets; write a table and plots",
        description="Run every method x data set x seed x budget as an `evokd run` (resumable: "
        "finished cells are reused), then write OUT/table.md, table.csv, runs.csv and "
        "f1_vs_tokens_<dataset>.png. By default methods are compared at equal spend: each "
        "method that calls the teacher runs until its token budget is spent (early stop off, "
        f"at most {SAFETY_MAX_ROUNDS} rounds as a safety stop). The table shows tokens spent, "
        "the share of the budget, prefix-cached prompt tokens, accepted samples and tokens "
        "per accepted sample.",
    )
    bench.add_argument(
        "configs", nargs="+", type=Path, metavar="CONFIG", help="run config per data set"
    )
    bench.add_argument(
        "--methods",
        default=",".join(DEFAULT_METHODS),
        help=f"comma-separated methods (default: {','.join(DEFAULT_METHODS)}; {needs}; "
        "a config's extra_methods add its own)",
    )
    bench.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds")
    bench.add_argument(
        "--budgets", default=None, help="comma-separated token budgets (default: each config's)"
    )
    bench.add_argument(
        "--teacher",
        default=None,
        metavar="embedded|simulated|URL",
        help="teacher for every run (default: each config's)",
    )
    bench.add_argument("--teacher-model", default=None, help="model name for a --teacher URL")
    bench.add_argument("--out", type=Path, default=Path("bench"), help="output folder")
    bench.add_argument(
        "--max-rounds",
        type=int,
        default=None,
        help="cap every run at this many rounds, with the config's early-stop rule (default: "
        "equal spend; teacher methods run until the budget is spent, at most "
        f"max({SAFETY_MAX_ROUNDS}, the config's max_rounds) rounds; seeds_only, full_shot and "
        "eda keep the config's max_rounds)",
    )
    bench.add_argument("--no-progress", action="store_true", help="no progress bars")
    bench.set_defaults(func=run_bench_command)


def run_bench_command(args: argparse.Namespace) -> int:
    """Run the benchmark and print its table; errors are `EvokdError`s for the CLI to print."""
    from evokd_agent.bench.cells import (
        BenchSpec,
        known_methods,
        parse_ints,
        parse_methods,
    )
    from evokd_agent.bench.report import TABLE_MD
    from evokd_agent.bench.suite import run_bench, summary_line
    from evokd_agent.errors import EvokdError

    if args.max_rounds is not None and args.max_rounds < 1:
        raise EvokdError(f"--max-rounds {args.max_rounds} is below 1", "pass 1 or more")
    spec = BenchSpec(
        configs=tuple(args.configs),
        methods=parse_methods(args.methods, known_methods(args.configs)),
        seeds=parse_ints(args.seeds, "seeds"),
        budgets=parse_ints(args.budgets, "budgets", minimum=1) if args.budgets else None,
        out=args.out,
        teacher=args.teacher,
        teacher_model=args.teacher_model,
        max_rounds=args.max_rounds,
        progress=False if args.no_progress else None,
    )
    try:
        results = asyncio.run(run_bench(spec))
    except KeyboardInterrupt:
        print(
            "evokd: interrupted; finished cells are kept. Run the same command again to go on.",
            file=sys.stderr,
        )
        return 130
    print((args.out / TABLE_MD).read_text(encoding="utf-8"))
    print(f"cells: {summary_line(results)}; results in {args.out}")
    return 1 if any(r.status == "failed" for r in results) else 0
