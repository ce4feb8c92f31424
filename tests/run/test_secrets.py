"""No file a run writes holds a key: a key planted inline, in a header, or in the environment
variable the config names is found nowhere in the run directory, its cache or a bench's output."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evokd_agent.bench.cells import BenchSpec, plan_cells
from evokd_agent.cli.main import main
from evokd_agent.config.run_config import RunConfig, load_run_config
from evokd_agent.config.secrets import REDACTED, redact_data, redact_text, redacted_source
from evokd_agent.errors import EvokdError
from evokd_agent.run.runner import run_distillation
from evokd_agent.rundir.store import RunStore
from evokd_agent.servers.fake import FakeOpenAIServer
from tests.methods.test_baselines import Teacher, make_config
from tests.run.test_examples import BENCH_CONFIGS, CONFIGS

INLINE = "sk-plantedInline0123456789abcdef"
HEADER = "sk-plantedHeader0123456789abcdef"
ENV = "sk-plantedEnviron0123456789abcdef"
ENV_NAME = "EVOKD_TEST_PLANTED_KEY"


def files_holding(root: Path, secrets: list[str]) -> list[str]:
    """Every file under `root` holding one of `secrets` (or its distinctive middle), in bytes."""
    needles = [s.encode() for s in secrets] + [s[10:26].encode() for s in secrets]
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and any(n in path.read_bytes() for n in needles):
            found.append(str(path.relative_to(root)))
    return found


def test_redact_text_masks_keys_bearer_tokens_url_passwords_and_known_values() -> None:
    text = (
        f"key {INLINE}\nAuthorization: Bearer abc.def-123-xyz.456\nurl https://me:hunter2@host/v1\n"
        "other s3cr3tvalue; task-sk-word stays; max_tokens: 64\n"
    )
    out = redact_text(text, ["s3cr3tvalue"])
    for secret in (INLINE, "abc.def-123-xyz.456", "hunter2", "s3cr3tvalue"):
        assert secret not in out
    assert f"Bearer {REDACTED}" in out and f"https://me:{REDACTED}@host/v1" in out
    assert "task-sk-word stays; max_tokens: 64" in out


def test_prose_is_not_taken_for_a_key() -> None:
    # config.yaml feeds a resumed run: a masked task description would change its prompts.
    prose = (
        "Decide the basic emotionality of a tweet, bearer bonds included; sk-learn-compatible-"
        "models, hf_transformers_library_names and pk-primary-key-columns are ordinary words."
    )
    assert redact_text(prose) == prose


def test_a_short_placeholder_key_stays_in_config_yaml(
    config: RunConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ollama's documented placeholder key; the URL of its docker service holds the same word.
    monkeypatch.setenv(config.teacher.api_key_env, "ollama")
    teacher = config.teacher.model_copy(update={"base_url": "http://ollama:11434/v1"})
    store = RunStore.create(tmp_path / "runs", config.model_copy(update={"teacher": teacher}))
    assert store.config_record["teacher"]["base_url"] == "http://ollama:11434/v1"


def test_redact_data_masks_credential_fields_and_headers_only() -> None:
    data = {
        "teacher": {"api_key": "short", "api_key_env": "OPENAI_API_KEY", "model": "m"},
        "headers": {"X-Org": "org-1", "Authorization": "Basic dXNlcjpwYXNz"},
        "budget_tokens": 100,
        "notes": [f"pasted {INLINE}"],
        "label_descriptions": {"password": "a password typed in a chat"},  # a PII tagger
    }
    assert redact_data(data) == {
        "teacher": {"api_key": REDACTED, "api_key_env": "OPENAI_API_KEY", "model": "m"},
        "headers": {"X-Org": REDACTED, "Authorization": REDACTED},
        "budget_tokens": 100,
        "notes": [f"pasted {REDACTED}"],
        "label_descriptions": {"password": "a password typed in a chat"},
    }


@pytest.mark.parametrize("path", CONFIGS + BENCH_CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_have_nothing_to_redact(path: Path) -> None:
    record = load_run_config(path).to_record()
    assert redact_data(record) == record


def test_source_copy_keeps_comments_and_masks_secrets(tmp_path: Path) -> None:
    source = tmp_path / "c.yaml"
    source.write_text(
        "# my run\nteacher:\n  api_key: 'tiny1234'\n  headers: {X-Key: hdr-value-1}\n"
        f"# curl -H 'Authorization: Bearer {HEADER}'\n",
        encoding="utf-8",
    )
    copy = redacted_source(source)
    assert copy.startswith("# my run\n")
    for secret in ("tiny1234", "hdr-value-1", HEADER):
        assert secret not in copy


async def test_no_file_of_a_run_holds_an_inline_key_or_a_header(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_NAME, ENV)  # set but unused: teacher.api_key wins
    with FakeOpenAIServer(handler=Teacher(), api_key=INLINE) as server:
        config = make_config(
            tmp_path,
            server.base_url,
            tiny_model_dir,
            "zerogen",
            teacher={"api_key": INLINE, "api_key_env": ENV_NAME},
            max_rounds=1,
            log_content=True,
        )
        text = config.read_text(encoding="utf-8")
        config.write_text(f"# Authorization: Bearer {HEADER}\n{text}", encoding="utf-8")
        outcome = await run_distillation(config, progress=False)
        assert server.requests  # the key was sent: a wrong one gets 401
    assert outcome.final["tokens_spent"] > 0
    assert (outcome.run_dir / "config.source.yaml").is_file()
    assert (outcome.run_dir / "cache").is_dir()
    assert files_holding(tmp_path / "runs", [INLINE, HEADER, ENV]) == []


def test_no_file_of_a_run_or_a_bench_holds_the_environment_key(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_NAME, ENV)
    out = tmp_path / "bench"
    with FakeOpenAIServer(handler=Teacher(), api_key=ENV) as server:
        config = make_config(
            tmp_path,
            server.base_url,
            tiny_model_dir,
            "zerogen",
            name="bench-data",
            teacher={"api_key_env": ENV_NAME},
            max_rounds=1,
            log_content=True,
        )
        assert main(["run", str(config), "--no-progress"]) == 0
        argv = ["bench", str(config), "--methods", "zerogen", "--seeds", "1"]
        argv += ["--out", str(out), "--max-rounds", "1", "--no-progress"]
        assert main(argv) == 0
    assert len(server.requests) > 0
    assert list(out.glob("runs/bench-data/zerogen/*/s1/*/final.json"))
    assert files_holding(tmp_path / "runs", [ENV]) == []
    assert files_holding(out, [ENV]) == []


@pytest.mark.parametrize(
    "teacher",
    [{"api_key": INLINE}, {"base_url": "http://me:hunter22@127.0.0.1:9/v1"}],
    ids=["inline-key", "url-password"],
)
def test_bench_refuses_a_config_holding_a_secret(
    tmp_path: Path, tiny_model_dir: Path, teacher: dict[str, str]
) -> None:
    config = make_config(tmp_path, "http://127.0.0.1:9/v1", tiny_model_dir, "zerogen")
    data = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**data, "teacher": {**data["teacher"], **teacher}}))
    spec = BenchSpec((config,), ("zerogen",), (1,), None, tmp_path / "out")
    with pytest.raises(EvokdError, match="bench writes each run's config to disk"):
        plan_cells(spec)
    assert not (tmp_path / "out").exists()
