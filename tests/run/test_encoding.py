"""A file that is not UTF-8 gives one line naming the file, the line and the byte, never a
traceback: data files (`evokd run`, `evokd eval --data`), the config, prompts, user modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from evokd_agent.cli.main import main
from evokd_agent.config.data import read_texts
from evokd_agent.config.run_config import load_run_config
from evokd_agent.errors import EvokdError
from evokd_agent.prompting import PromptSet
from evokd_agent.student.data import load_text_samples
from evokd_agent.student.student import TextStudent
from evokd_agent.textfiles import not_utf8
from tests.run.conftest import ConfigWriter

LATIN1 = "caf\xe9 cr\xe8me".encode("latin-1")  # 0xe9 is not UTF-8 on its own


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("evokd: error: ")
    return last


def test_not_utf8_names_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes("first line, caf\u00e9 in UTF-8\n".encode() + b"ok\n" + b"bad " + LATIN1)
    err = not_utf8(path)
    assert err.cause.startswith(f"{path}, line 3: byte 0xe9 (byte 8 of the line) is not UTF-8")
    assert "iconv" in err.fix


def test_evokd_run_with_a_latin1_dev_file(
    write_config: ConfigWriter, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = data_dir / "dev.jsonl"
    good = b'{"text": "a fine film", "label": 1}\n'
    dev.write_bytes(good + b'{"text": "' + LATIN1 + b'", "label": 0}\n')
    config = write_config(run_root=str(data_dir.parent / "runs"))
    err = one_line_error(capsys, ["run", str(config), "--no-progress"])
    assert f"{dev}, line 2: byte 0xe9" in err and "(fix: save the file as UTF-8" in err


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_pool_and_csv_readers(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"pool{suffix}"
    head = b"text,label\n" if suffix == ".csv" else b""
    row = b'"' + LATIN1 + b'",1\n' if suffix == ".csv" else b'{"text": "' + LATIN1 + b'"}\n'
    path.write_bytes(head + row)
    line = 2 if suffix == ".csv" else 1
    for read in (read_texts, load_text_samples):
        with pytest.raises(EvokdError, match=rf", line {line}: byte 0xe9"):
            read(path)


def test_evokd_eval_with_a_latin1_data_file(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = TextStudent.create(["a", "b"], tiny_model_dir, seed=0).save(tmp_path / "ckpt")
    data = tmp_path / "test.jsonl"
    data.write_bytes(b'{"text": "alpha", "label": 0}\n{"text": "' + LATIN1 + b'", "label": 1}\n')
    err = one_line_error(capsys, ["eval", "--model", str(ckpt), "--data", str(data)])
    assert f"{data}, line 2: byte 0xe9" in err


def test_config_file_in_latin1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.yaml"
    config.write_bytes(b"task: classification\ntask_description: " + LATIN1 + b"\n")
    with pytest.raises(EvokdError, match=r"run.yaml, line 2: byte 0xe9"):
        load_run_config(config)
    assert "line 2: byte 0xe9" in one_line_error(capsys, ["run", str(config)])


def test_prompt_template_in_latin1(tmp_path: Path) -> None:
    folder = tmp_path / "prompts" / "classification"
    folder.mkdir(parents=True)
    (folder / "analyze.txt").write_bytes(b"Explain the errors.\n" + LATIN1)
    with pytest.raises(EvokdError, match=r"analyze.txt, line 2: byte 0xe9"):
        PromptSet.load("classification", tmp_path / "prompts")


@pytest.mark.parametrize("field", ["extra_tools", "extra_methods"])
def test_user_module_in_latin1(
    write_config: ConfigWriter, tmp_path: Path, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    module = tmp_path / "mine.py"
    module.write_bytes(b'X = "' + LATIN1 + b'"\n')  # Python tolerates it in a comment only
    config = write_config(**{field: ["mine.py"]})
    if field == "extra_tools":  # imported when the run builds its tools
        from evokd_agent.run.toolset import build_registry

        with pytest.raises(EvokdError) as caught:
            build_registry(load_run_config(config).extra_tools)
        message = str(caught.value)
    else:  # imported when the config is validated
        message = one_line_error(capsys, ["run", str(config)])
    assert "mine.py" in message and "line 1" in message and "0xe9" in message
