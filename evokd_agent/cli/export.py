"""`evokd export RUN_DIR`: argparse wiring for the CLI (added to `evokd_agent.cli.main`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_export_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `export` subcommand to the `evokd` subparsers."""
    export = sub.add_parser(
        "export",
        help="write a run's distilled data set (accepted samples with their provenance)",
    )
    export.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory")
    export.add_argument(
        "--format",
        choices=("jsonl", "parquet", "hf"),
        default=None,
        help="the data set as jsonl (the default without --onnx), parquet, or hf "
        "(a datasets.DatasetDict saved to disk, with a dataset card)",
    )
    export.add_argument(
        "--onnx",
        action="store_true",
        help="export the student to ONNX (model.onnx, tokenizer, labels) in RUN_DIR/export/onnx, "
        "or --out with no --format",
    )
    export.add_argument(
        "--quantize",
        action="store_true",
        help="with --onnx: int8 weights, about 1.3x faster on a CPU; predictions then differ "
        "from the torch student's a little, and the command prints by how much on dev",
    )
    export.add_argument(
        "--out", type=Path, default=None, help="folder to write (default: RUN_DIR/export/FORMAT)"
    )
    export.add_argument(
        "--rejected", action="store_true", help="add the rejected samples, with their reasons"
    )
    export.add_argument(
        "--push-to-hub",
        metavar="REPO",
        default=None,
        help="upload the export (format hf) as the Hugging Face data set REPO (user/name); "
        "needs a write token in HF_TOKEN",
    )
    export.add_argument(
        "--public", action="store_true", help="with --push-to-hub: a public repo (default private)"
    )
    export.set_defaults(func=run_export)


def _int8_check(run_dir: Path, final: Path, onnx_dir: Path, limit: int = 200) -> str:
    """How the int8 export's predictions compare with the student's on the run's dev split."""
    from evokd_agent.config.data import load_run_data
    from evokd_agent.errors import EvokdError
    from evokd_agent.rundir.store import RunStore
    from evokd_agent.student.onnx import agreement, load_onnx_student
    from evokd_agent.student.student import load_student

    try:
        dev = list(load_run_data(RunStore.open(run_dir, resume=False).config).dev)[:limit]
    except EvokdError as err:
        return f"int8 check skipped: the run's dev data cannot be read ({err.cause})"
    check = agreement(load_onnx_student(onnx_dir), load_student(final, device="cpu"), dev)
    return (
        f"int8 check on {check.sentences} dev inputs: top label as the student's for "
        f"{check.same_label:.1%}, largest probability change {check.max_gap:.3f} "
        "(drop --quantize for an export that predicts as the student to 1e-4)"
    )


def run_export(args: argparse.Namespace) -> int:
    """Write the export and print where it is; errors are `EvokdError`s for the CLI to print."""
    from evokd_agent.errors import EvokdError
    from evokd_agent.report.export import Format, export_run, push_to_hub

    if args.push_to_hub and args.format != "hf":
        raise EvokdError(
            "--push-to-hub uploads the hf format only", "add --format hf to the command"
        )
    if args.quantize and not args.onnx:
        raise EvokdError("--quantize applies to the ONNX export", "add --onnx to the command")
    if args.onnx:
        from evokd_agent.student.onnx import export_onnx

        final = args.run_dir / "final"
        if not final.is_dir():
            raise EvokdError(
                f"{args.run_dir} has no final student (final/)",
                "export a finished run, or `evokd run --resume` it first",
            )
        onnx_out = args.out if args.out is not None and args.format is None else None
        path = export_onnx(
            final, onnx_out or args.run_dir / "export" / "onnx", quantize=args.quantize
        )
        print(
            f"onnx student{' (int8)' if args.quantize else ''} in {path.parent} "
            "(load it with evokd_agent.student.onnx.load_onnx_student)"
        )
        if args.quantize:
            print(_int8_check(args.run_dir, final, path.parent))
        if args.format is None:
            return 0
    fmt: Format = args.format or "jsonl"
    done = export_run(args.run_dir, fmt, args.out, rejected=args.rejected)
    rows = ", ".join(f"{name} {n}" for name, n in done.splits.items())
    print(f"{fmt} export ({rows}) in {done.path}")
    if args.push_to_hub:
        url = push_to_hub(done.path, args.push_to_hub, private=not args.public)
        print(f"pushed to {url}")
    return 0
