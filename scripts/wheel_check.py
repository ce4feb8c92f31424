"""Build the wheel, install it apart from the checkout, and run it from outside the checkout.

    .venv/bin/python scripts/wheel_check.py      # `make wheel-check`; part of `make check-all`

Editable installs (`make setup`, CI) resolve modules from the checkout and so hide a wheel that
lacks a package. This builds the wheel (no dependencies: they are the venv's), installs it into a
folder of its own, and with that folder first on the path, from a temporary directory: checks
that every module comes from the wheel, runs `evokd --help`, then a short run (2 seed sentences,
1 EvoKD round, the packaged student) against the fake OpenAI server started from the wheel too.
Exits non-zero, saying why, on any failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """\
name: wheel-check
task: classification
task_description: Is the review positive or negative?
labels: [negative, positive]
data: {seeds: seeds.jsonl, dev: dev.jsonl, test: dev.jsonl}
teacher: {base_url: BASE_URL, model: fake-model, max_concurrency: 2, timeout: 30}
student: {model: all-MiniLM-L6-v2, train: {progress: false}}
method: evokd
budget_tokens: 5000
max_rounds: 1
samples_per_round: {hard: 2, easy: 2}
checkpoints: none
"""


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(
            f"wheel-check: {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}"
        )
    return done.stdout


def source_copy(to: Path) -> Path:
    """The checkout's files (tracked, and new ones git does not ignore) copied to `to`: a build
    in the checkout itself could pick up a stale `build/` folder and hide a missing package."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        if (ROOT / name).is_file():
            (to / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, to / name)
    return to


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="evokd-wheel-") as tmp:
        work = Path(tmp)
        dist, site, cwd = work / "dist", work / "site", work / "run"
        cwd.mkdir()
        source = source_copy(work / "src")
        env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
        env["TRANSFORMERS_OFFLINE"] = "1"
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
        run(
            [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)],
            cwd,
            env,
        )
        wheel = next(dist.glob("evokd_agent-*.whl"))
        run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], cwd, env)
        where = run(
            [
                sys.executable,
                "-c",
                "import json, evokd_agent.builtin_tools as t, evokd_agent.methods as m, "
                "evokd_agent.prompts as p; print(json.dumps([t.__file__, m.__file__, "
                "list(p.__path__)[0]]))",
            ],
            cwd,
            env,
        )
        outside = [f for f in json.loads(where) if not f.startswith(str(site))]
        if outside:
            sys.exit(f"wheel-check: modules resolved outside the wheel: {outside}")
        cli = [sys.executable, "-m", "evokd_agent.cli.main"]
        if "run" not in run([*cli, "--help"], cwd, env):
            sys.exit("wheel-check: `evokd --help` does not list the run command")
        server = subprocess.Popen(
            [sys.executable, "-m", "evokd_agent.servers.fake"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            base_url = server.stdout.readline().strip()
            rows = [("a warm, funny delight", 1), ("a dull, lifeless mess", 0)]
            lines = "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows)
            (cwd / "seeds.jsonl").write_text(lines)
            (cwd / "dev.jsonl").write_text(lines.replace("a ", "the "))
            (cwd / "run.yaml").write_text(CONFIG.replace("BASE_URL", base_url))
            out = run([*cli, "run", "run.yaml", "--no-progress"], cwd, env)
        finally:
            server.terminate()
            server.wait(timeout=10)
        finals = list((cwd / "runs").glob("wheel-check-*/final"))
        if not finals:
            sys.exit(f"wheel-check: the run left no final student:\n{out[-2000:]}")
        print(f"wheel-check: {wheel.name} installed apart, --help and a run from outside: ok")


if __name__ == "__main__":
    main()
