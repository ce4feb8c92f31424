"""Loaders for both tasks and the error every kind of bad row gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evokd_agent.errors import EvokdError
from evokd_agent.student.data import (
    NerSample,
    TextSample,
    detect_task,
    infer_labels,
    infer_tags,
    load_ner_samples,
    load_samples,
    load_text_samples,
)


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl_text_with_names_and_int_labels(tmp_path: Path) -> None:
    f = write_jsonl(
        tmp_path / "d.jsonl", [{"text": "good", "label": 1}, {"text": "bad", "label": 0}]
    )
    samples = load_text_samples(f, ["neg", "pos"])
    assert samples == [TextSample("good", "pos"), TextSample("bad", "neg")]
    assert infer_labels(samples) == ["neg", "pos"]


def test_int_labels_named_by_sibling_meta_json(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "d.jsonl", [{"text": "good", "label": 1}])
    (tmp_path / "meta.json").write_text(json.dumps({"label_names": ["negative", "positive"]}))
    assert load_text_samples(f)[0].label == "positive"


def test_csv_text_and_ner(tmp_path: Path) -> None:
    f = tmp_path / "d.csv"
    f.write_text('text,label\n"fine, really",pos\nawful,neg\n', encoding="utf-8")
    assert load_samples(f) == [TextSample("fine, really", "pos"), TextSample("awful", "neg")]
    g = tmp_path / "n.csv"
    g.write_text('tokens,tags\nJohn lives here,B-person O O\n"[""Paris""]","[""B-loc""]"\n')
    assert load_ner_samples(g) == [
        NerSample(("John", "lives", "here"), ("B-person", "O", "O")),
        NerSample(("Paris",), ("B-loc",)),
    ]


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    f = tmp_path / "d.parquet"
    pq.write_table(pa.table({"tokens": [["a", "b"]], "tags": [["B-x", "I-x"]]}), f)
    assert load_samples(f) == [NerSample(("a", "b"), ("B-x", "I-x"))]


def test_datasets_object_with_classlabel_names() -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-per", "I-per"])),
        }
    )
    ds = datasets.Dataset.from_dict(
        {"tokens": [["Ann", "Lee", "ran"]], "ner_tags": [[1, 2, 0]]}, features
    )
    assert load_ner_samples(ds) == [NerSample(("Ann", "Lee", "ran"), ("B-per", "I-per", "O"))]
    assert infer_tags(load_ner_samples(ds)) == ["O", "B-per", "I-per"]


def test_list_of_rows_and_task_detection() -> None:
    rows = [{"tokens": ["x"], "tags": ["O"]}]
    assert detect_task(rows) == "ner"
    assert detect_task([{"text": "t", "label": "a"}]) == "classification"


@pytest.mark.parametrize(
    ("rows", "labels", "needle"),
    [
        (
            [{"text": "ok", "label": "a"}, {"text": "no label"}],
            ["a"],
            "line 2: missing field 'label'",
        ),
        ([{"label": "a"}], ["a"], "line 1: missing field 'text'"),
        (
            [{"text": "ok", "label": "a"}, {"text": "x", "label": "zzz"}],
            ["a"],
            "line 2: unknown label 'zzz'",
        ),
        ([{"text": "ok", "label": 7}], ["a", "b"], "line 1: unknown label index 7"),
        ([{"text": "ok", "label": 1}], None, "line 1: integer label 1 but no label names"),
        ([{"text": "  ", "label": "a"}], ["a"], "line 1: field 'text' must be a non-empty string"),
        ([[1, 2]], ["a"], "line 1: expected a JSON object"),
    ],
)
def test_bad_text_rows_name_file_and_line(
    tmp_path: Path, rows: list[Any], labels: list[str] | None, needle: str
) -> None:
    f = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(EvokdError) as info:
        load_text_samples(f, labels)
    assert str(f) in info.value.cause
    assert needle in info.value.cause
    assert info.value.fix


@pytest.mark.parametrize(
    ("row", "tags", "needle"),
    [
        ({"tokens": ["a", "b"], "tags": ["O"]}, None, "2 tokens but 1 tags"),
        ({"tokens": ["a", "b"], "tags": ["O", "I-per"]}, None, "invalid BIO tags"),
        ({"tokens": ["a"], "tags": ["X-per"]}, None, "invalid BIO tags"),
        ({"tokens": ["a"], "tags": ["B-"]}, None, "invalid BIO tags"),
        ({"tokens": ["a"], "tags": ["B-org"]}, ["O", "B-per", "I-per"], "unknown tag(s) B-org"),
        ({"tokens": ["a"]}, None, "missing field 'tags'"),
        ({"tokens": [], "tags": []}, None, "field 'tokens' is empty"),
        ({"tokens": "a b", "tags": 3}, None, "field 'tags' must be a list"),
    ],
)
def test_bad_ner_rows_name_file_and_line(
    tmp_path: Path, row: dict[str, Any], tags: list[str] | None, needle: str
) -> None:
    f = write_jsonl(tmp_path / "bad.jsonl", [{"tokens": ["ok"], "tags": ["O"]}, row])
    with pytest.raises(EvokdError) as info:
        load_ner_samples(f, tags)
    assert f"{f}, line 2" in info.value.cause
    assert needle in info.value.cause


def test_invalid_json_line_and_csv_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text('{"text": "a", "label": "x"}\n\n{"text": oops}\n')
    with pytest.raises(EvokdError, match=r"line 3: not valid JSON"):
        load_text_samples(f)
    g = tmp_path / "d.csv"
    g.write_text('text,label\n"multi\nline",x\nno label,\n')
    with pytest.raises(EvokdError, match=r"d\.csv, line 4: missing field 'label'"):
        load_text_samples(g)


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(EvokdError, match="does not exist"):
        load_text_samples(tmp_path / "missing.jsonl")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(EvokdError, match="unsupported extension"):
        load_text_samples(tmp_path / "d.txt")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(EvokdError, match="has no samples"):
        load_text_samples(tmp_path / "empty.jsonl")
