"""`--resume` after a kill: stale temporary files are removed, a run killed between finishing and
its report gets the report, and a run directory from elsewhere warns before importing modules."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest

from evokd_agent.cli.main import main
from evokd_agent.config.run_config import RunConfig, load_run_config
from evokd_agent.errors import EvokdError
from evokd_agent.run import runner
from evokd_agent.run.runner import run_distillation
from evokd_agent.rundir.store import MARKER_FILE, RunStore
from tests.methods.test_baselines import make_config
from tests.run.conftest import ConfigWriter

METHOD_MODULE = '''
import sys

from evokd_agent.methods import MethodOptions, Plan, PlanInput, method

print("IMPORTED user methods", file=sys.stderr)


@method(options=MethodOptions, uses_teacher=False)
def mine(run: PlanInput, options: MethodOptions) -> Plan:
    """Train on the seeds."""
    return Plan(("train_student",), {})
'''


def test_resume_removes_temp_files_a_kill_left(config: RunConfig, tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "runs", config)
    stale = [
        store.path / ".state.json.k2j3h4.tmp",
        store.path / ".ledger.json.9a8b7c.tmp",
        store.path / ".samples.jsonl.tmp",
        store.cache_dir / "v1" / "ab" / ".tmp-x1y2z3",
    ]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    half_checkpoint = store.checkpoint_dir(2).with_name(".round-2.tmp")
    (half_checkpoint / "part").mkdir(parents=True)
    (store.cache_dir / "v1" / "ab" / "ab12.json").write_text("{}")

    RunStore.open(store.path, resume=False)  # a reader (evokd report) removes nothing
    assert all(path.exists() for path in stale)
    RunStore.open(store.path)
    assert not any(path.exists() for path in [*stale, half_checkpoint])
    assert (store.path / "state.json").is_file() and (store.path / "run.json").is_file()
    assert (store.cache_dir / "v1" / "ab" / "ab12.json").is_file()


def test_a_run_killed_before_its_report_completes_on_resume(
    tmp_path: Path,
    tiny_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def killed(run_dir: Path) -> None:
        raise KeyboardInterrupt

    config = make_config(tmp_path, "http://127.0.0.1:9/v1", tiny_model_dir, "seeds_only")
    with monkeypatch.context() as patch:
        patch.setattr(runner, "write_report", killed)
        assert main(["run", str(config), "--no-progress"]) == 130
    run_dir = next((tmp_path / "runs").iterdir())
    state = json.loads((run_dir / "state.json").read_text())
    assert state["finished"] and not state["reported"]
    assert (run_dir / "final.json").is_file() and not (run_dir / "report.md").exists()
    metrics = (run_dir / "metrics.jsonl").read_text()
    capsys.readouterr()

    assert main(["run", "--resume", str(run_dir), "--no-progress"]) == 0
    printed = capsys.readouterr()
    assert "writing its report" in printed.err and "finished: " in printed.out
    assert (run_dir / "report.md").is_file()
    assert json.loads((run_dir / "state.json").read_text())["reported"]
    assert (run_dir / "metrics.jsonl").read_text() == metrics  # nothing re-run

    with pytest.raises(EvokdError, match="already finished"):
        asyncio.run(run_distillation(resume=run_dir, progress=False))


def write_tools(tmp_path: Path) -> None:
    (tmp_path / "my_tools.py").write_text(
        "from evokd_agent.agent import tool\n\n\n@tool\nasync def ping(ctx: object) -> str:\n"
        '    """Answer pong."""\n    return "pong"\n'
    )


def test_resume_elsewhere_warns_before_importing_user_modules(
    write_config: ConfigWriter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tools(tmp_path)
    (tmp_path / "my_methods.py").write_text(METHOD_MODULE)
    config = load_run_config(
        write_config(extra_tools=["my_tools.py"], extra_methods=["my_methods.py"], method="mine")
    )
    store = RunStore.create(tmp_path / "runs", config)
    marker = json.loads((store.path / MARKER_FILE).read_text())
    assert marker["path"] == str(store.path.resolve()) and marker["host"]
    capsys.readouterr()

    RunStore.open(store.path)  # created here: no warning
    assert "warning" not in capsys.readouterr().err

    moved = shutil.copytree(store.path, tmp_path / "elsewhere" / store.path.name)
    RunStore.open(moved)
    err = capsys.readouterr().err
    warning = next(line for line in err.splitlines() if "warning" in line)
    assert "created elsewhere" in warning and str(store.path.resolve()) in warning
    assert str(tmp_path / "my_tools.py") in warning and str(tmp_path / "my_methods.py") in warning

    marker["host"] = "someone-elses-laptop"
    (store.path / MARKER_FILE).write_text(json.dumps(marker))
    RunStore.open(store.path)
    assert "host someone-elses-laptop" in capsys.readouterr().err


def test_resume_elsewhere_warns_before_the_import_runs(
    write_config: ConfigWriter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "fresh_methods.py").write_text(METHOD_MODULE)
    path = write_config(extra_methods=["fresh_methods.py"], method="mine")
    store = RunStore.create(tmp_path / "runs", load_run_config(path))
    moved = shutil.copytree(store.path, tmp_path / "elsewhere" / store.path.name)
    for name in [n for n in sys.modules if n.startswith("evokd_user_methods_fresh_methods_")]:
        del sys.modules[name]  # as in a new process: resuming imports the file again
    capsys.readouterr()
    RunStore.open(moved)
    err = capsys.readouterr().err
    assert err.index("created elsewhere") < err.index("IMPORTED user methods")


def test_a_run_without_user_modules_resumes_elsewhere_silently(
    config: RunConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = RunStore.create(tmp_path / "runs", config)
    moved = shutil.copytree(store.path, tmp_path / "elsewhere" / store.path.name)
    RunStore.open(moved)
    assert "warning" not in capsys.readouterr().err
