"""A dead teacher is not a success: `evokd run` exits 3, the run stays resumable, and a resume
once the teacher is back finishes it without re-sending what was answered (issue 15, item 4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evokd_agent.cli.main import main
from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply
from tests.methods.test_baselines import Teacher, make_config


class FlakyTeacher:
    """The baselines' teacher, until it goes down after `answers` replies."""

    def __init__(self, answers: int) -> None:
        self.teacher = Teacher()
        self.answers = answers
        self.answered: list[str] = []

    def __call__(self, body: dict[str, Any]) -> FakeReply:
        if len(self.answered) >= self.answers:
            return FakeReply.error(503, "the teacher is down")
        self.answered.append(json.dumps(body))
        return self.teacher(body)


def test_an_outage_exits_3_and_the_resume_finishes_the_run(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    teacher = FlakyTeacher(answers=3)
    with FakeOpenAIServer(handler=teacher) as server:
        config = make_config(
            tmp_path,
            server.base_url,
            tiny_model_dir,
            "zerogen",
            teacher={"max_retries": 1, "backoff_initial": 0.01, "outage_failures": 3},
        )
        assert main(["run", str(config), "--no-progress"]) == 3
        err = capsys.readouterr().err
        assert "the teacher is not answering" in err and "--resume" in err
        assert "Traceback" not in err
        run_dir = next((tmp_path / "runs").iterdir())
        state = json.loads((run_dir / "state.json").read_text())
        assert not state["finished"]
        answered_before = list(teacher.answered)

        teacher.answers = 10**6  # the teacher is back
        assert main(["run", "--resume", str(run_dir), "--no-progress"]) == 0
    assert "finished: " in capsys.readouterr().out
    assert json.loads((run_dir / "state.json").read_text())["finished"]
    assert len(answered_before) == 3 and len(teacher.answered) > 3
    # Every request has its own key (a draw of the same prompt has its own sample index): no key
    # was answered twice, so nothing answered before the outage was sent again.
    answered: dict[str, int] = {}
    sent = {}
    for line in (run_dir / "cache" / "journal.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["e"] == "sent":
            sent[record["id"]] = record["key"]
        elif record["e"] == "done" and record["ok"]:
            key = sent[record["id"]]
            answered[key] = answered.get(key, 0) + 1
    assert len(answered) == len(teacher.answered) and set(answered.values()) == {1}
