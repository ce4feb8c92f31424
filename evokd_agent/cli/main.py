"""The `evokd` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from evokd_agent import __version__
from evokd_agent.cli.bench import add_bench_parser
from evokd_agent.cli.eval import add_eval_parser
from evokd_agent.cli.export import add_export_parser
from evokd_agent.cli.report import add_report_parser
from evokd_agent.errors import EvokdError


def _add_teacher(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    teacher = sub.add_parser("teacher", help="run or probe a teacher endpoint")
    tsub = teacher.add_subparsers(dest="teacher_command", required=True)

    serve = tsub.add_parser(
        "serve", help="serve the embedded offline teacher (llama.cpp + SmolLM2) on 127.0.0.1"
    )
    serve.add_argument("--model", type=Path, help="GGUF file (default: packaged SmolLM2-135M)")
    serve.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    serve.add_argument("--n-ctx", type=int, default=4096, help="context window in tokens")
    serve.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: half the cores)"
    )
    serve.add_argument("--log", type=Path, default=None, help="server log file (default: temp)")
    serve.set_defaults(func=_teacher_serve)

    simulate = tsub.add_parser(
        "simulate",
        help="serve a SIMULATED teacher (not an LLM): real sentences and noisy gold labels "
        "from a labelled train file",
    )
    simulate.add_argument("--corpus", type=Path, required=True, help="labelled TRAIN file")
    simulate.add_argument(
        "--exclude", type=Path, nargs="*", default=[], help="files never served (dev, test)"
    )
    simulate.add_argument("--noise", type=float, default=0.1, help="share of wrong labels")
    simulate.add_argument("--concentration", type=float, default=4.0, help="confidence spread")
    simulate.add_argument("--seed", type=int, default=0, help="seed of picks and label noise")
    simulate.add_argument("--max-corpus", type=int, default=5000, help="sentences embedded")
    simulate.add_argument("--labels", help="names of integer labels, comma-separated")
    simulate.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    simulate.set_defaults(func=_teacher_simulate)

    check = tsub.add_parser("check", help="report what an endpoint supports")
    where = check.add_mutually_exclusive_group(required=True)
    where.add_argument("--base-url", help="OpenAI-compatible base URL, e.g. http://host:8000/v1")
    where.add_argument("--embedded", action="store_true", help="start and probe the embedded one")
    check.add_argument("--model", help="model name (default: the server's first)")
    check.add_argument(
        "--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the key"
    )
    check.add_argument("--timeout", type=float, default=120.0, help="seconds per probe")
    check.set_defaults(func=_teacher_check)


def _teacher_serve(args: argparse.Namespace) -> int:
    from evokd_agent.servers.embedded import EmbeddedTeacher, EmbeddedTeacherConfig

    config = EmbeddedTeacherConfig(
        model_path=args.model, port=args.port, n_ctx=args.n_ctx, n_threads=args.threads
    )
    # `kill PID` should stop the server as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print("starting the embedded teacher…", file=sys.stderr, flush=True)
    with EmbeddedTeacher(config, log_path=args.log) as teacher:
        print(
            f"teacher ready: base URL {teacher.base_url}  model {teacher.model}  pid {teacher.pid}"
            f"  log {teacher.log_path}",
            file=sys.stderr,
        )
        print(teacher.base_url, flush=True)
        try:
            while teacher.process is not None and teacher.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("stopping the embedded teacher…", file=sys.stderr)
            return 0
        raise EvokdError(
            "the embedded teacher stopped unexpectedly", f"read the server log {teacher.log_path}"
        )


def _teacher_simulate(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from evokd_agent.servers.simulated import SimulatedTeacher
    from evokd_agent.teacher.simulated_config import SimulatedTeacherConfig

    try:
        config = SimulatedTeacherConfig(
            corpus=args.corpus,
            exclude=args.exclude,
            noise=args.noise,
            concentration=args.concentration,
            seed=args.seed,
            max_corpus=args.max_corpus,
            labels=args.labels.split(",") if args.labels else None,
        )
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise EvokdError(f"bad simulated teacher settings: {problems}", "fix the options") from None
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print("starting the SIMULATED teacher (not an LLM): embedding the corpus…", file=sys.stderr)
    with SimulatedTeacher(config, port=args.port) as teacher:
        print(
            f"SIMULATED teacher (not an LLM) ready: base URL {teacher.base_url}  model "
            f"{teacher.model}  corpus {config.corpus}  noise {config.noise:g}. It answers with "
            "real corpus sentences and noisy gold labels; never report its results as LLM results.",
            file=sys.stderr,
        )
        print(teacher.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping the simulated teacher…", file=sys.stderr)
    return 0


def _teacher_check(args: argparse.Namespace) -> int:
    from evokd_agent.servers.embedded import EmbeddedTeacher
    from evokd_agent.teacher.check import check_endpoint, format_table

    api_key = os.environ.get(args.api_key_env)
    if args.embedded:
        print("starting the embedded teacher…", file=sys.stderr, flush=True)
        with EmbeddedTeacher() as teacher:
            model, results = asyncio.run(
                check_endpoint(
                    teacher.base_url,
                    args.model or teacher.model,
                    None,
                    request_timeout=args.timeout,
                )
            )
            print(format_table(teacher.base_url, model, results))
    else:
        model, results = asyncio.run(
            check_endpoint(args.base_url, args.model, api_key, request_timeout=args.timeout)
        )
        print(format_table(args.base_url, model, results))
    return 0 if results[0].ok else 1


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="run a distillation from a config file (YAML or TOML)")
    run.add_argument(
        "config", nargs="?", type=Path, help="run config, e.g. examples/sst2_1shot.yaml"
    )
    run.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted run")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print the requests, tokens and cost the run plans, send nothing, and exit",
    )
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from evokd_agent.run.runner import run_distillation

    if (args.config is None) == (args.resume is None):
        raise EvokdError(
            "give either a config file or --resume RUN_DIR",
            "e.g. `evokd run examples/sst2_1shot.yaml` or `evokd run --resume runs/NAME-...`",
        )
    if args.dry_run:
        return _dry_run(args.config)
    try:
        outcome = asyncio.run(
            run_distillation(
                args.config, resume=args.resume, progress=False if args.no_progress else None
            )
        )
    except KeyboardInterrupt:
        print(
            "evokd: interrupted; everything paid for is on disk. Continue with "
            "`evokd run --resume RUN_DIR` (the run directory is printed above).",
            file=sys.stderr,
        )
        return 130
    final = outcome.final
    test = final.get("test_score")
    print(
        f"finished: {outcome.stop_reason}\n"
        f"  dev score {final.get('dev_score', float('nan')):.4f}"
        + (f"  test score {test:.4f}" if test is not None else "")
        + f"  tokens {final.get('tokens_spent')}\n"
        f"  student   {final.get('checkpoint')}\n"
        f"  run dir   {outcome.run_dir}"
    )
    return 0


def _dry_run(config_path: Path | None) -> int:
    from evokd_agent.config.run_config import load_run_config
    from evokd_agent.run.dry_run import estimate_run

    if config_path is None:
        raise EvokdError("--dry-run estimates a new run", "give its config file, not --resume")
    config = load_run_config(config_path)
    estimate = asyncio.run(estimate_run(config))
    print(
        f"estimate for {config.name}: method {config.method}, budget "
        f"{config.budget_tokens:,} tokens"
        + (f" / ${config.budget_usd:g}" if config.budget_usd is not None else "")
        + f", at most {config.max_rounds} rounds; nothing was sent\n"
    )
    print(estimate.table())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evokd", description="Distil an LLM teacher into a small, fast student model."
    )
    parser.add_argument("--version", action="version", version=f"evokd-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    add_report_parser(sub)
    add_export_parser(sub)
    add_bench_parser(sub)
    add_eval_parser(sub)
    _add_teacher(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except EvokdError as err:
        print(f"evokd: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("evokd: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
