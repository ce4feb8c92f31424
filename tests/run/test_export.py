"""`evokd export`: the distilled data set with provenance, as JSON lines, Parquet or a Hugging Face
DatasetDict with a card; `--push-to-hub` against a mocked Hub (HTTP answered in-process)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from evokd_agent.cli.main import main
from evokd_agent.run.runner import run_distillation
from evokd_agent.servers.fake import FakeOpenAIServer
from tests.methods.test_baselines import Teacher, make_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    import asyncio

    tmp = tmp_path_factory.mktemp("export")
    with FakeOpenAIServer(handler=Teacher()) as server:
        config = make_config(tmp, server.base_url, tiny_model_dir, "zerogen")
        return asyncio.run(run_distillation(config, progress=False)).run_dir


def _samples(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "samples.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_jsonl_export_has_seeds_accepted_samples_and_provenance(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(run_dir), "--out", str(tmp_path), "--rejected"]) == 0
    train = [json.loads(x) for x in (tmp_path / "train.jsonl").read_text().splitlines()]
    logged = _samples(run_dir)
    accepted = [s for s in logged if s["accepted"]]
    assert [r["phase"] for r in train[:2]] == ["seed", "seed"]
    assert [r["text"] for r in train[2:]] == [s["text"] for s in accepted]
    assert all(r["label"] in ("negative", "positive") for r in train)
    assert all(r["round"] >= 1 and r["prompt_id"] and "@" in r["prompt_id"] for r in train[2:])
    rejected = [json.loads(x) for x in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert len(rejected) == len(logged) - len(accepted)
    assert all(r["reason"] for r in rejected)
    assert f"train {len(train)}" in capsys.readouterr().out


def test_parquet_and_hf_exports_hold_the_same_rows(run_dir: Path, tmp_path: Path) -> None:
    import datasets
    import pyarrow.parquet as pq

    assert main(["export", str(run_dir), "--format", "jsonl", "--out", str(tmp_path / "j")]) == 0
    assert main(["export", str(run_dir), "--format", "parquet", "--out", str(tmp_path / "p")]) == 0
    assert main(["export", str(run_dir), "--format", "hf", "--out", str(tmp_path / "h")]) == 0
    rows = [json.loads(x) for x in (tmp_path / "j" / "train.jsonl").read_text().splitlines()]
    table = pq.read_table(tmp_path / "p" / "train.parquet").to_pylist()
    loaded = datasets.load_from_disk(str(tmp_path / "h"))
    assert table == rows and loaded["train"].to_list() == rows
    card = (tmp_path / "h" / "README.md").read_text()
    assert card.startswith("---\ntask_categories: [text-classification]")
    assert "fake-model, remote OpenAI-compatible endpoint (127.0.0.1)" in card


def test_push_to_hub_needs_a_token_and_the_hf_format(
    run_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    args = ["export", str(run_dir), "--out", str(tmp_path), "--push-to-hub", "me/data"]
    assert main(args) == 2
    assert "add --format hf" in capsys.readouterr().err
    assert main([*args, "--format", "hf"]) == 2
    assert "HF_TOKEN" in capsys.readouterr().err


def test_push_to_hub_uploads_the_export(
    run_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import httpx2
    import huggingface_hub

    calls: list[tuple[str, str]] = []
    committed: list[str] = []

    def hub(request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        calls.append((request.method, path))
        assert request.headers["authorization"] == "Bearer hf_test_token"
        if path == "/api/validate-yaml":  # the Hub checks a card's metadata before the commit
            return httpx2.Response(200, json={})
        if path == "/api/repos/create":
            return httpx2.Response(200, json={"url": "https://huggingface.co/datasets/me/data"})
        if "/preupload/" in path:
            files = json.loads(request.content)["files"]
            return httpx2.Response(
                200,
                json={
                    "files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                        for f in files
                    ]
                },
            )
        if "/commit/" in path:
            for line in request.content.decode().splitlines():
                item = json.loads(line)
                if item.get("key") == "file":
                    committed.append(item["value"]["path"])
            return httpx2.Response(
                200,
                json={
                    "commitUrl": "https://huggingface.co/datasets/me/data/commit/" + "a" * 40,
                    "commitOid": "a" * 40,
                },
            )
        return httpx2.Response(404, json={"error": f"not mocked: {path}"})

    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    huggingface_hub.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(hub)))
    try:
        args = ["export", str(run_dir), "--format", "hf", "--out", str(tmp_path)]
        assert main([*args, "--push-to-hub", "me/data"]) == 0
    finally:
        huggingface_hub.set_client_factory(httpx2.Client)
        huggingface_hub.close_session()
    assert ("POST", "/api/repos/create") in calls
    assert "README.md" in committed and "dataset_dict.json" in committed
    assert any(p.startswith("train/") and p.endswith(".arrow") for p in committed)
    assert "pushed to https://huggingface.co/datasets/me/data" in capsys.readouterr().out


def test_onnx_export_of_a_run_predicts_as_its_student(run_dir: Path, tmp_path: Path) -> None:
    import numpy as np

    from evokd_agent.student.onnx import load_onnx_student
    from evokd_agent.student.student import TextStudent, load_student

    assert main(["export", str(run_dir), "--onnx", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "model.onnx").is_file() and (tmp_path / "tokenizer.json").is_file()
    portable, student = load_onnx_student(tmp_path), load_student(run_dir / "final", device="cpu")
    assert isinstance(portable, TextStudent) and isinstance(student, TextStudent)
    texts = [s["text"] for s in _samples(run_dir)]
    assert np.abs(portable.predict_proba(texts) - student.predict_proba(texts)).max() <= 1e-4


def test_quantize_needs_onnx(run_dir: Path) -> None:
    assert main(["export", str(run_dir), "--quantize"]) == 2


def test_an_int8_export_reports_how_it_compares_on_dev(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(run_dir), "--onnx", "--quantize", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "onnx student (int8)" in out
    assert re.search(r"int8 check on \d+ dev inputs: top label as the student's for [\d.]+%", out)
