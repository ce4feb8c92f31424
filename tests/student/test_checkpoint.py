"""Save/load round trips, in plain transformers too."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from evokd_agent.errors import EvokdError
from evokd_agent.student.checkpoint import META_FILE, read_meta
from evokd_agent.student.data import TextSample
from evokd_agent.student.student import NerStudent, Student, TextStudent, load_student
from tests.student.helpers import FAST, NER_TOY, TOY


def plain_predict_proba(folder: Path, texts: list[str]) -> tuple[list[str], np.ndarray]:
    """The README's loading path: transformers, torch and safetensors, no evokd_agent."""
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoder = AutoModel.from_pretrained(folder).eval()
    head = load_file(folder / "evokd_head.safetensors")
    meta = json.loads((folder / "evokd_student.json").read_text())
    pooling = json.loads((folder / "evokd_pooling.json").read_text())
    batch = tokenizer(
        texts, padding=True, truncation=True, max_length=meta["max_length"], return_tensors="pt"
    )
    with torch.inference_mode():
        hidden = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        emb = (hidden * mask).sum(1) / mask.sum(1)  # pooling["mode"] == "mean"
        if pooling["normalize"]:
            emb = torch.nn.functional.normalize(emb, dim=-1)
        probs = (emb @ head["weight"].T + head["bias"]).softmax(-1)
    assert pooling["mode"] == "mean"
    return meta["labels"], probs.numpy()


@pytest.mark.parametrize("regime", ["head", "finetune"])
def test_text_round_trip_with_plain_transformers(
    tiny_model_dir: Path, tmp_path: Path, regime: str
) -> None:
    student = TextStudent.create(["a", "b"], tiny_model_dir, seed=0, max_length=32)
    student.train(TOY, config=replace(FAST, regime=regime))  # type: ignore[arg-type]
    out = student.save(tmp_path / "ckpt")

    labels, probs = plain_predict_proba(out, ["alpha", "beta"])
    assert labels == ["a", "b"]
    assert np.allclose(probs, student.predict_proba(["alpha", "beta"]), atol=1e-5)
    assert student.predict(["alpha", "beta"]) == ["a", "b"]

    loaded: Student[Any, Any, Any] = Student.load(out)  # the base class picks the subclass
    assert isinstance(loaded, TextStudent)
    assert loaded.labels == ["a", "b"] and loaded.max_length == 32
    assert np.allclose(
        loaded.predict_proba(["alpha", "beta"]), student.predict_proba(["alpha", "beta"])
    )
    assert json.loads((out / META_FILE).read_text())["task"] == "classification"
    # Its body is a sentence-transformers folder too.
    modules = json.loads((out / "modules.json").read_text())
    assert [m["path"] for m in modules] == ["", "1_Pooling"]


def test_foreign_hf_classifier_still_loads(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_model_dir, num_labels=2, id2label={0: "x", 1: "y"}, label2id={"x": 0, "y": 1}
    )
    model.save_pretrained(tmp_path / "hf")
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(tmp_path / "hf")
    loaded = load_student(tmp_path / "hf")
    assert isinstance(loaded, TextStudent) and loaded.labels == ["x", "y"]
    assert loaded.predict_proba(["alpha"]).shape == (1, 2)
    loaded.train([TextSample("alpha", "x"), TextSample("beta", "y")], config=FAST)


def test_ner_round_trip_and_meta_from_config(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForTokenClassification

    student = NerStudent.create(["per", "loc"], tiny_model_dir, seed=0)
    student.train(NER_TOY, config=FAST)
    out = student.save(tmp_path / "ner")
    model = AutoModelForTokenClassification.from_pretrained(out)
    assert model.config.id2label[1] == "B-loc"

    (out / META_FILE).unlink()  # a directory written by another tool: read config.json instead
    meta = read_meta(out)
    assert (meta.task, meta.labels) == ("ner", student.labels)
    loaded = load_student(out)
    assert isinstance(loaded, NerStudent)
    assert loaded.predict([s.tokens for s in NER_TOY]) == student.predict(
        [s.tokens for s in NER_TOY]
    )
    with pytest.raises(EvokdError, match="use NerStudent"):
        TextStudent.load(out)


def test_bad_checkpoints(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(EvokdError, match=r"no config\.json"):
        Student.load(tmp_path)
    with pytest.raises(EvokdError, match="not a trained classifier"):
        read_meta(tiny_model_dir)  # a bare encoder
    with pytest.raises(EvokdError, match="could not load student model"):
        TextStudent.create(["a", "b"], "no-such-org/no-such-model-xyz")


def test_readme_loading_snippet_runs_without_this_package(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The README's code block, as written, in a process where evokd_agent cannot be imported."""
    import ast
    import re
    import subprocess
    import sys

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("**Loading `final/` without this package**") :]
    snippet = re.search(r"```python\n(.*?)```", section, re.S)
    assert snippet is not None and '"runs/my-run/final"' in snippet.group(1)
    student = TextStudent.create(["neg", "pos"], tiny_model_dir, seed=0, max_length=32)
    student.train([TextSample("alpha", "neg"), TextSample("beta", "pos")], config=FAST)
    out = student.save(tmp_path / "final")
    code = "import sys\nsys.modules['evokd_agent'] = None  # unimportable\n" + snippet.group(
        1
    ).replace('"runs/my-run/final"', repr(str(out)))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    printed = ast.literal_eval(done.stdout.strip().splitlines()[-1])  # the snippet prints a dict
    expected = student.predict_proba(["a gorgeous, witty film"])[0]
    assert list(printed) == ["neg", "pos"]
    assert np.allclose(list(printed.values()), expected, atol=1e-5)
