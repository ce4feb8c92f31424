"""The run directory: layout, appends, torn-line tolerance, atomic state, checkpoints, events."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from evokd_agent.config.run_config import RunConfig
from evokd_agent.errors import EvokdError
from evokd_agent.logs import configure_logging
from evokd_agent.rundir.records import RoundMetrics, RunState, SampleRecord
from evokd_agent.rundir.store import RunStore

FIXED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def clock() -> datetime:
    return FIXED


def sample(round: int, text: str, accepted: bool = True, reason: str | None = None) -> SampleRecord:
    return SampleRecord(
        round=round,
        phase="hard",
        text=text,
        label="positive",
        accepted=accepted,
        reason=reason,
        prompt_id="gen-v1",
        teacher_confidence=0.9,
    )


@pytest.fixture
def store(tmp_path: Path, config: RunConfig) -> RunStore:
    return RunStore.create(tmp_path / "runs", config, clock=clock)


def test_create_names_the_folder_and_writes_config_marker_and_state(
    store: RunStore, tmp_path: Path, config: RunConfig
) -> None:
    assert store.path == tmp_path / "runs" / "unit-20240506-070809"
    written = yaml.safe_load((store.path / "config.yaml").read_text())
    assert written["data"]["dev"] == str(config.data.dev)
    marker = json.loads((store.path / "run.json").read_text())
    assert marker["created"] == "2024-05-06T07:08:09+00:00"
    assert store.read_state() == RunState(updated="2024-05-06T07:08:09+00:00")
    assert (store.path / "checkpoints").is_dir() and store.cache_dir.is_dir()


def test_second_run_in_the_same_second_gets_its_own_folder(
    store: RunStore, config: RunConfig
) -> None:
    other = RunStore.create(store.path.parent, config, clock=clock)
    assert other.path.name == "unit-20240506-070809-2"


def test_config_yaml_has_no_api_key(tmp_path: Path, config: RunConfig) -> None:
    secret = config.model_copy(
        update={
            "teacher": config.teacher.model_copy(update={"api_key": SecretStr("sk-very-secret")})
        }
    )
    run = RunStore.create(tmp_path, secret, clock=clock)
    assert "sk-very-secret" not in (run.path / "config.yaml").read_text()


def test_open_reads_the_config_back(store: RunStore, config: RunConfig) -> None:
    reopened = RunStore.open(store.path)
    assert reopened.config == config


def test_open_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(EvokdError, match="is not a run directory"):
        RunStore.open(tmp_path)
    with pytest.raises(EvokdError, match="does not exist"):
        RunStore.open(tmp_path / "missing")


def test_samples_and_metrics_round_trip_with_timestamps(store: RunStore) -> None:
    store.append_samples([sample(1, "good"), sample(1, "bad", False, "label_not_in_set")])
    store.append_metrics(RoundMetrics(round=1, tokens_spent=120, dev_f1=0.5, n_train=4))
    samples = store.read_samples()
    assert [s.text for s in samples] == ["good", "bad"]
    assert samples[1].reason == "label_not_in_set"
    assert samples[0].time == "2024-05-06T07:08:09+00:00"
    assert store.read_metrics()[0].tokens_spent == 120


def test_rejected_sample_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        sample(1, "x", accepted=False)


def test_reader_skips_a_torn_last_line_with_a_warning(store: RunStore) -> None:
    store.append_samples([sample(1, "a"), sample(1, "b")])
    with (store.path / "samples.jsonl").open("a") as f:
        f.write('{"round": 1, "phase": "ha')
    with pytest.warns(RuntimeWarning, match="torn last line"):
        assert [s.text for s in store.read_samples()] == ["a", "b"]


def test_resume_moves_the_torn_tail_aside_so_appends_stay_valid(store: RunStore) -> None:
    store.append_sample(sample(1, "a"))
    file = store.path / "samples.jsonl"
    with file.open("a") as f:
        f.write('{"round": 1, "text": "hal')
    with pytest.warns(RuntimeWarning, match="dropped a torn last line"):
        resumed = RunStore.open(store.path)
    resumed.append_sample(sample(2, "c"))
    assert [s.text for s in resumed.read_samples()] == ["a", "c"]
    assert '"text": "hal' in (store.path / "samples.jsonl.torn").read_text()


def test_a_complete_record_missing_its_newline_is_kept(store: RunStore) -> None:
    file = store.path / "metrics.jsonl"
    file.write_text(RoundMetrics(round=0, tokens_spent=0, dev_f1=0.3, n_train=2).model_dump_json())
    RunStore.open(store.path).append_metrics(
        RoundMetrics(round=1, tokens_spent=50, dev_f1=0.4, n_train=6)
    )
    assert [m.dev_f1 for m in store.read_metrics()] == [0.3, 0.4]


def test_a_corrupt_line_in_the_middle_is_an_error(store: RunStore) -> None:
    store.append_sample(sample(1, "a"))
    with (store.path / "samples.jsonl").open("a") as f:
        f.write("not json\n")
    store.append_sample(sample(1, "b"))
    with pytest.raises(EvokdError, match=r"samples.jsonl, line 2"):
        store.read_samples()


def test_metrics_of_a_rerun_round_keep_the_last(store: RunStore) -> None:
    store.append_metrics(RoundMetrics(round=1, tokens_spent=100, dev_f1=0.5, n_train=4))
    store.append_metrics(RoundMetrics(round=1, tokens_spent=100, dev_f1=0.6, n_train=4))
    store.append_metrics(RoundMetrics(round=0, tokens_spent=0, dev_f1=0.2, n_train=2))
    assert [(m.round, m.dev_f1) for m in store.read_metrics()] == [(0, 0.2), (1, 0.6)]


def test_discard_after_moves_an_unfinished_round_aside(store: RunStore) -> None:
    store.append_samples([sample(1, "kept"), sample(2, "replayed")])
    store.append_metrics(RoundMetrics(round=1, tokens_spent=10, dev_f1=0.5, n_train=3))
    assert store.discard_after(1) == 1
    assert [s.text for s in store.read_samples()] == ["kept"]
    assert "replayed" in (store.path / "samples.discarded.jsonl").read_text()
    assert store.discard_after(1) == 0


def test_state_is_replaced_atomically(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.write_state(RunState(round_completed=2, tokens_spent=300, best_round=1))
    assert store.read_state().round_completed == 2

    def crash(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        store.write_state(RunState(round_completed=3, tokens_spent=400))
    monkeypatch.undo()
    assert store.read_state().round_completed == 2
    assert not [p for p in store.path.iterdir() if p.name.endswith(".tmp")]


def weights(content: str) -> Callable[[Path], None]:
    """A stand-in for Student.save: writes one file into a new folder."""

    def save(path: Path) -> None:
        path.mkdir()
        (path / "w.bin").write_text(content)

    return save


def test_checkpoints_are_saved_whole_and_pruned_to_best_and_last(store: RunStore) -> None:
    for r in range(4):
        store.save_checkpoint(r, weights(str(r)))
    assert store.checkpoint_rounds() == [0, 1, 2, 3]
    assert store.prune_checkpoints(best_round=1, last_round=3) == [0, 2]
    assert store.checkpoint_rounds() == [1, 3]
    assert (store.checkpoint_dir(3) / "w.bin").read_text() == "3"


def test_a_failed_checkpoint_save_leaves_the_previous_one(store: RunStore) -> None:
    store.save_checkpoint(1, weights("old"))

    def broken(path: Path) -> None:
        path.mkdir()
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        store.save_checkpoint(1, broken)
    assert (store.checkpoint_dir(1) / "w.bin").read_text() == "old"


def test_events_are_json_lines_without_the_api_key(tmp_path: Path, config: RunConfig) -> None:
    secret = config.model_copy(
        update={
            "teacher": config.teacher.model_copy(update={"api_key": SecretStr("sk-abcdef123456")})
        }
    )
    run = RunStore.create(tmp_path, secret, clock=clock)
    try:
        log = run.events_logger("test")
        log.info("round_done", round=1, header="Bearer sk-abcdef123456", api_key="sk-abcdef123456")
    finally:
        configure_logging(None)
    lines = (run.path / "events.jsonl").read_text().splitlines()
    event = json.loads(lines[-1])
    assert event["event"] == "round_done" and event["run"] == run.path.name
    assert "sk-abcdef123456" not in "\n".join(lines)


def test_mark_resumed_counts_resumes_and_keeps_progress(store: RunStore) -> None:
    store.write_state(RunState(round_completed=2, tokens_spent=700))
    state = store.mark_resumed()
    assert (state.resumes, state.round_completed) == (1, 2)
    assert store.mark_resumed().resumes == 2
    assert store.read_state().tokens_spent == 700


def test_sample_rows_from_methods_validate_with_their_kind_as_phase(store: RunStore) -> None:
    row = {"round": 1, "kind": "hard", "stage": "labelled", "text": "x", "accepted": True,
           "reason": None, "cached": False}  # fmt: skip
    store.append_sample(SampleRecord.model_validate(row))
    (read,) = store.read_samples()
    assert read.phase == "hard" and read.model_extra == {"kind": "hard", "stage": "labelled",
                                                         "cached": False}  # fmt: skip


def test_plain_rows_are_validated_before_they_are_written(store: RunStore) -> None:
    store.record_metrics({"round": 0, "tokens_spent": 0, "dev_f1": 0.4, "n_train": 2})
    with pytest.raises(EvokdError, match=r"metrics\.jsonl: dev_f1: Field required"):
        store.record_metrics({"round": 1, "tokens_spent": 10, "n_train": 3})
    assert [m.round for m in store.read_metrics()] == [0]
