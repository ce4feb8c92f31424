"""A user method from a module: named in the config, validated, run, and benched."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from evokd_agent.bench.cells import BenchSpec, known_methods, parse_methods, plan_cells
from evokd_agent.config.run_config import load_run_config
from evokd_agent.errors import EvokdError
from evokd_agent.run.policy import make_policy
from evokd_agent.run.runner import run_distillation
from evokd_agent.run.toolset import build_registry
from evokd_agent.servers.fake import FakeOpenAIServer
from tests.methods.test_baselines import Teacher, label_calls, make_config, read_jsonl, rounds_of

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "user_method"
EXAMPLE = EXAMPLES / "zerogen_checked.py"


def test_the_example_config_loads() -> None:
    config = load_run_config(EXAMPLES / "sst2_zerogen_checked.yaml")
    assert config.method == "zerogen_checked" and config.teacher.is_embedded
    assert config.extra_methods == [str(EXAMPLE)]
    assert config.options.model_dump() == {"json_mode": "auto", "per_label": 4}


def _error(path: Path) -> EvokdError:
    with pytest.raises(EvokdError) as info:
        load_run_config(path)
    return info.value


def test_a_user_method_is_validated_like_a_built_in_one(tmp_path: Path) -> None:
    args: dict[str, Any] = {"extra_methods": [str(EXAMPLE)]}
    path = make_config(tmp_path, "http://x/v1", tmp_path, "zerogen_checked", **args)
    assert load_run_config(path).method_spec.name == "zerogen_checked"
    path = make_config(tmp_path, "http://x/v1", tmp_path, "zerogen_checked")
    assert "unknown method 'zerogen_checked'" in _error(path).cause
    assert "use one of: evokd, evokd_init" in _error(path).cause
    bad = {"per_label": 0, "ema": 5}  # ema: llkd's, ignored here
    path = make_config(tmp_path, "x", tmp_path, "zerogen_checked", method_options=bad, **args)
    assert "method_options: per_label: Input should be greater than or equal to 1" in (
        _error(path).cause
    )
    path = make_config(tmp_path, "x", tmp_path, "evokd", extra_methods=["missing.py"])
    assert "extra_methods: method file" in _error(path).cause


async def test_the_example_user_method_runs(tmp_path: Path, tiny_model_dir: Path) -> None:
    with FakeOpenAIServer(handler=Teacher()) as server:
        config = make_config(
            tmp_path,
            server.base_url,
            tiny_model_dir,
            "zerogen_checked",
            extra_methods=[str(EXAMPLE)],
            method_options={"per_label": 1},
        )
        outcome = await run_distillation(config, progress=False)
        assert label_calls(server) == 2  # the teacher labels what it wrote, once a round
    assert rounds_of(outcome.run_dir) == [0, 1, 2]
    labelled = [
        s for s in read_jsonl(outcome.run_dir / "samples.jsonl") if s.get("stage") == "labelled"
    ]
    assert len(labelled) == 2 * 2 and all(s["phase"] == "zerogen" for s in labelled)
    assert all(s["accepted"] and s.get("label_source") != "hint" for s in labelled)


async def test_a_user_method_without_teacher_starts_none(
    tmp_path: Path, tiny_model_dir: Path, fake_server: FakeOpenAIServer
) -> None:
    config = make_config(
        tmp_path,
        fake_server.base_url,
        tiny_model_dir,
        "eda_fixed",
        extra_methods=["tests.methods.sample_methods"],
        method_options={"edits": 2},
    )
    outcome = await run_distillation(config, progress=False)
    assert fake_server.requests == [] and outcome.final["tokens_spent"] == 0
    accepted = [s for s in read_jsonl(outcome.run_dir / "samples.jsonl") if s["accepted"]]
    assert len(accepted) == 2 * 2 * 2  # 2 rounds x 2 seeds x 2 edits


def test_the_bench_plans_user_methods_from_the_config(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, "http://x/v1", tmp_path, "evokd", extra_methods=["tests.methods.sample_methods"]
    )
    known = known_methods([config])
    assert known[-1] == "eda_fixed" and parse_methods("eda_fixed,evokd", known)
    with pytest.raises(EvokdError, match="unknown or unsupported method 'eda_fixed'"):
        parse_methods("eda_fixed")  # without the configs: built-in methods only
    spec = BenchSpec((config,), ("eda_fixed", "zerogen"), (1,), (5000,), tmp_path / "out")
    cells = {c.method: c for c in plan_cells(spec)}
    assert cells["eda_fixed"].budget == 0 and cells["zerogen"].budget == 5000
    assert cells["eda_fixed"].record is not None
    assert cells["eda_fixed"].record["teacher"]["model"] == "no-teacher"


def test_a_plan_calling_a_tool_not_loaded_is_a_clear_error(tmp_path: Path) -> None:
    module = tmp_path / "needs_tool.py"
    module.write_text(
        "from evokd_agent.methods import MethodOptions, Plan, method\n\n"
        "@method(options=MethodOptions)\n"
        "def needs_tool(run, options):\n"
        "    return Plan(('my_tool', 'train_student'))\n"
    )
    raw = yaml.safe_load(make_config(tmp_path, "http://x/v1", tmp_path, "needs_tool").read_text())
    raw["extra_methods"] = [str(module)]
    path = tmp_path / "needs_tool.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_run_config(path)
    ctx: Any = SimpleNamespace(seeds=[1, 2])
    with pytest.raises(EvokdError, match="plan calls tools that are not loaded: my_tool"):
        make_policy(config, build_registry(), ctx)
