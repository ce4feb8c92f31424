"""Loading run configs: YAML and TOML, relative paths, and one-line errors naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evokd_agent.config.run_config import RunConfig, load_run_config
from evokd_agent.errors import EvokdError
from evokd_agent.student.config import TrainConfig
from tests.run.conftest import ConfigWriter, base_config


def _error(path: Path) -> EvokdError:
    with pytest.raises(EvokdError) as info:
        load_run_config(path)
    return info.value


def test_yaml_paths_resolve_against_the_config_folder(
    write_config: ConfigWriter, data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_run_config(write_config())
    assert config.data.dev == (data_dir / "dev.jsonl").resolve()
    assert config.data.seed_source == (data_dir / "train.jsonl").resolve()
    assert config.run_root == Path("runs")  # stays relative to where `evokd run` starts


def test_toml_loads_the_same_config(tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text(
        """
name = "toml-run"
task = "classification"
task_description = "sentiment"
labels = ["negative", "positive"]
budget_tokens = 9000

[data]
train = "data/train.jsonl"
seeds_per_class = 2
dev = "data/dev.jsonl"

[student.train]
epochs = 3

[samples_per_round]
hard = 6
easy = 1
""",
        encoding="utf-8",
    )
    config = load_run_config(path)
    assert config.name == "toml-run"
    assert config.budget_tokens == 9000
    assert config.samples_per_round.total == 7
    assert config.student.train == TrainConfig(epochs=3)
    assert config.data.train == (data_dir / "train.jsonl").resolve()


def test_defaults_and_name_from_the_file_name(tmp_path: Path, data_dir: Path) -> None:
    raw = base_config()
    del raw["name"]
    path = tmp_path / "my run!.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    config = load_run_config(path)
    assert config.name == "my-run"
    assert config.teacher.is_embedded
    assert config.student.model == "all-MiniLM-L6-v2"
    assert config.method == "evokd" and config.policy == "scripted"


def test_typo_gives_one_line_naming_the_field_and_a_suggestion(
    write_config: ConfigWriter,
) -> None:
    path = write_config(samples_per_rund={"hard": 2})
    err = _error(path)
    assert "\n" not in str(err)
    assert str(path) in err.cause
    assert "samples_per_rund: unknown field (did you mean 'samples_per_round'?)" in err.cause


def test_nested_typo_in_training_settings_is_caught(write_config: ConfigWriter) -> None:
    err = _error(write_config(student={"train": {"learnig_rate": 1e-4}}))
    assert "student.train.learnig_rate: unknown field (did you mean 'learning_rate'?)" in err.cause


def test_training_range_errors_name_the_field(write_config: ConfigWriter) -> None:
    err = _error(write_config(student={"train": {"epochs": 0}}))
    assert "student.train: invalid training config: epochs must be >= 1" in err.cause


def test_wrong_type_names_field_and_value(write_config: ConfigWriter) -> None:
    err = _error(write_config(task="regression"))
    assert "task: Input should be 'classification' or 'ner', got 'regression'" in err.cause


def test_missing_config_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    err = _error(missing)
    assert str(missing) in err.cause and "does not exist" in err.cause


def test_missing_data_file_names_the_resolved_path(
    write_config: ConfigWriter, data_dir: Path
) -> None:
    err = _error(write_config(data={"seeds": "data/seeds.jsonl", "dev": "data/dev.jsonl"}))
    assert f"data.seeds: data file {(data_dir / 'seeds.jsonl').resolve()} does not exist" in (
        err.cause
    )


def test_unsupported_data_extension(write_config: ConfigWriter, data_dir: Path) -> None:
    (data_dir / "dev.txt").write_text("x\n")
    err = _error(write_config(data={"seeds": "data/train.jsonl", "dev": "data/dev.txt"}))
    assert "data.dev:" in err.cause and "'.txt'" in err.cause


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"labels": []}, "labels: List should have at least 1 item"),
        ({"labels": ["pos", "pos"]}, "label 'pos' is listed twice"),
        ({"labels": ["only"]}, "classification needs at least two labels"),
        ({"task": "ner", "labels": ["B-person"]}, "not BIO tags; got 'B-person'"),
        ({"label_descriptions": {"neutral": "meh"}}, "unknown labels: neutral"),
        ({"budget_tokens": 0}, "budget_tokens: Input should be greater than 0"),
        ({"budget_tokens": 100}, "too small for one round"),
        ({"method": "llkd"}, "set data.pool"),
        ({"name": "bad name/"}, "name: 'bad name/' must be"),
        ({"task_description": "   "}, "task_description: String should have at least 1 character"),
        (
            {"task": "ner", "labels": ["person"], "labelling": {"method": "scoring"}},
            "labelling.method scoring labels classification only",
        ),
        (
            {
                "teacher": {"base_url": "simulated", "simulated": {"corpus": "data/train.jsonl"}},
                "labelling": {"method": "scoring"},
            },
            "which the simulated teacher does not serve",
        ),
        ({"labelling": {"calibration": "mean"}}, "labelling.calibration: Input should be"),
    ],
)
def test_invalid_values(
    write_config: ConfigWriter, overrides: dict[str, object], message: str
) -> None:
    assert message in _error(write_config(**overrides)).cause


def test_no_seed_source_is_an_error(write_config: ConfigWriter) -> None:
    err = _error(write_config(data={"dev": "data/dev.jsonl"}))
    assert "no labelled seeds" in err.cause


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nlabels: [a, b\ntask: ner\n", encoding="utf-8")
    err = _error(path)
    assert str(path) in err.cause and "not valid YAML" in err.cause and "line" in err.cause


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("budget_tokens: 10\nbudget_tokens: 20\n", encoding="utf-8")
    assert "'budget_tokens' is given twice" in _error(path).cause


@pytest.mark.parametrize("text", ["", "- a\n- b\n"])
def test_empty_or_non_mapping_config(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    assert str(path) in _error(path).cause


def test_record_excludes_the_api_key_and_round_trips(
    write_config: ConfigWriter, tmp_path: Path
) -> None:
    config = load_run_config(
        write_config(teacher={"base_url": "http://127.0.0.1:9/v1", "api_key": "sk-secret-123"})
    )
    record = config.to_record()
    assert "api_key" not in record["teacher"]
    assert "sk-secret-123" not in yaml.safe_dump(record)
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(record), encoding="utf-8")
    reloaded = load_run_config(again)
    assert reloaded.model_dump(exclude={"teacher": {"api_key"}}) == config.model_dump(
        exclude={"teacher": {"api_key"}}
    )


def test_a_record_saved_with_the_retired_fast_transport_still_loads(
    write_config: ConfigWriter,
) -> None:
    # Run directories written before the SDK moved to aiohttp record `teacher.fast_transport`.
    teacher = {"base_url": "http://127.0.0.1:9/v1", "fast_transport": False}
    config = load_run_config(write_config(teacher=teacher))
    assert "fast_transport" not in config.to_record()["teacher"]


def test_log_content_reaches_the_teacher(write_config: ConfigWriter) -> None:
    config = load_run_config(write_config(log_content=True))
    assert not config.teacher.log_content
    assert config.effective_teacher.log_content


def test_python_construction_resolves_against_cwd(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(data_dir.parent)
    config = RunConfig.model_validate(base_config())
    assert config.data.dev == (data_dir / "dev.jsonl").resolve()
