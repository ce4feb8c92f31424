"""`evokd eval` prints the metrics of a saved student on a data file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from evokd_agent.cli.eval import add_eval_parser, run_eval
from evokd_agent.errors import EvokdError
from evokd_agent.student.student import NerStudent, TextStudent
from tests.student.helpers import FAST, NER_TOY, TOY


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="evokd")
    add_eval_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_eval_classification_table_and_json(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    student = TextStudent.create(["a", "b"], tiny_model_dir, seed=0)
    student.train(TOY, config=FAST)
    ckpt = student.save(tmp_path / "ckpt")
    data = tmp_path / "test.jsonl"
    # Integer labels are read in the checkpoint's label order: 0 -> a, 1 -> b.
    data.write_text('{"text": "alpha", "label": 0}\n{"text": "beta", "label": 0}\n')

    args = parse(["eval", "--model", str(ckpt), "--data", str(data)])
    assert args.func is run_eval
    assert run_eval(args) == 0
    table = capsys.readouterr().out
    assert "accuracy  0.5000" in table and "confusion" in table

    assert run_eval(parse(["eval", "--model", str(ckpt), "--data", str(data), "--json"])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] == 0.5 and report["confusion"] == [[1, 1], [0, 0]]

    args = parse(["eval", "--model", str(ckpt), "--data", str(data), "--labels", "b,a", "--json"])
    run_eval(args)
    assert json.loads(capsys.readouterr().out)["confusion"] == [[0, 0], [1, 1]]


def test_eval_ner_and_bad_row(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    student = NerStudent.create(["per", "loc"], tiny_model_dir, seed=0)
    student.train(NER_TOY, config=FAST)
    ckpt = student.save(tmp_path / "ner")
    data = tmp_path / "ner.jsonl"
    rows = [{"tokens": list(s.tokens), "tags": list(s.tags)} for s in NER_TOY]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert run_eval(parse(["eval", "--model", str(ckpt), "--data", str(data), "--json"])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task"] == "ner"
    assert report["f1"] == pytest.approx(student.evaluate(NER_TOY).f1)

    data.write_text(data.read_text() + '{"tokens": ["x"], "tags": ["B-org"]}\n')
    with pytest.raises(EvokdError, match=r"ner\.jsonl, line 4: unknown tag"):
        run_eval(parse(["eval", "--model", str(ckpt), "--data", str(data)]))
