"""`evokd report RUN_DIR`: argparse wiring for the CLI (added to `evokd_agent.cli.main`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `report` subcommand to the `evokd` subparsers."""
    report = sub.add_parser(
        "report",
        help="write a plot of F1 against teacher tokens and an HTML/Markdown summary of a run",
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory")
    report.add_argument(
        "--out", type=Path, default=None, help="folder for the report files (default: RUN_DIR)"
    )
    report.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    """Write the report and print where it is; errors are `EvokdError`s for the CLI to print."""
    from evokd_agent.report.writer import write_report

    paths = write_report(args.run_dir, args.out)
    print(f"plot      {paths.plot}")
    print(f"markdown  {paths.markdown}")
    print(f"html      {paths.html}")
    return 0
