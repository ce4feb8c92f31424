"""The reliability suite: `evokd run` under kill -9, faults, over-reporting servers and outages,
against a loopback teacher that bills every request it answers (issue 15).

    python -m tests.reliability.suite --kills 100      # the full protocol; prints the figures

Each scenario runs a real `evokd run` in a child process (EvoKD, scripted policy, a tiny student
built from a config) against a `FakeOpenAIServer` in this process, and compares what the server
billed with what the run's ledger says and with the budget:
- kills: the child is killed (SIGKILL) after a random number of requests reached the server,
  plus a random few milliseconds, then resumed, until it finishes. Every request the server
  received is billed at receipt, answered or not. Faults are on: a fixed tenth of the requests
  (chosen by a hash of the body) fail with HTTP 500 on each attempt of their first sending and are
  answered if sent again, so the original run saw failures
  that a resume must replay as failures: a replay that re-sent one would take another path and
  orphan every answer bought after it (an answer a life paid for that the last life, replaying
  from the start, never asks for again).
- over-reporting: the server reports 3x the prompt tokens we count.
- outage: the teacher answers 503 for a while; the run must exit 3, and resume once it is back.

The figures: kills survived, answered requests re-sent (a request key answered twice, from the
runs' request journals), billed vs ledger vs budget, paid answers orphaned, tracebacks.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evokd_agent.servers.fake import FakeOpenAIServer, FakeReply
from tests.batches import is_generation, item_count, items_reply, numbered_texts, prompt_of
from tests.tiny_models import build_tiny_bert

LABELS = ["negative", "positive"]
BUDGET = 12_000
RETRIES = 1
FAULTY_ATTEMPTS = RETRIES + 1
"""A faulty request fails this many times (all the attempts of its first sending), then works."""


def _digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class BillingTeacher:
    """A deterministic fake teacher that bills each request when it arrives.

    Writes reviews whose wording follows the asked label (text derived from the request body, so
    two runs asking the same get the same), labels numbered texts by their wording, and fails a
    fixed share of requests (by body hash) with HTTP 500 on every attempt of their first sending,
    answering them afterwards.
    """

    def __init__(
        self, *, fault_share: float = 0.1, prompt_factor: int = 1, delay: float = 0.02
    ) -> None:
        self.fault_share = fault_share
        self.prompt_factor = prompt_factor
        self.delay = delay
        self.down = False
        self.faults: dict[str, int] = {}
        self.billed = 0
        self.requests = 0
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> FakeReply:
        digest = _digest(body)
        with self.lock:
            self.requests += 1
        if self.down:
            return FakeReply.error(503, "the teacher is down")
        if int(digest[:8], 16) / 0xFFFFFFFF < self.fault_share:
            with self.lock:
                self.faults[digest] = self.faults.get(digest, 0) + 1
                failing = self.faults[digest] <= FAULTY_ATTEMPTS
            if failing:  # transient: a resume that sent it again would get an answer
                return FakeReply.error(500, "the model crashed")
        reply = self._answer(body, digest)
        prompt = self.prompt_factor * max(1, len(json.dumps(body.get("messages", []))) // 4)
        completion = min(max(1, len(reply.content or "") // 4), int(body.get("max_tokens") or 1))
        with self.lock:  # billed now: a client killed before the answer arrives still pays
            self.billed += prompt + completion
        return dataclasses.replace(reply, usage=(prompt, completion), delay=self.delay)

    def _answer(self, body: dict[str, Any], digest: str) -> FakeReply:
        last = prompt_of(body)
        if is_generation(body):
            items = []
            for i in range(item_count(body)):
                good = int(digest[i % 64], 16) % 2 == 0
                items.append({"text": f"review {digest[:10]} {i} was {'good' if good else 'bad'}"})
            return items_reply(items)
        texts = numbered_texts(last)
        if texts:
            return items_reply(
                [{"label": "positive" if "good" in t else "negative"} for t in texts]
            )
        return FakeReply.text("It mixes up short reviews.")


def write_config(root: Path, base_url: str, model_dir: Path, **teacher: Any) -> Path:
    """A 1-shot EvoKD config on tiny data, spending its whole budget."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    rows = {
        "seeds": [("a good film", 1), ("a bad film", 0)],
        "dev": [
            (f"dev {w} movie {i}", int(w == "good")) for i in range(4) for w in ("good", "bad")
        ],
        "test": [
            (f"test {w} tale {i}", int(w == "good")) for i in range(4) for w in ("good", "bad")
        ],
    }
    for name, pairs in rows.items():
        (data / f"{name}.jsonl").write_text(
            "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in pairs)
        )
    config = {
        "name": "reliability",
        "task": "classification",
        "task_description": "Is the review positive or negative?",
        "labels": LABELS,
        "data": {f"{n}": str(data / f"{n}.jsonl") for n in rows},
        "teacher": {
            "base_url": base_url,
            "model": "fake-model",
            "max_concurrency": 4,
            "max_retries": RETRIES,
            "backoff_initial": 0.01,
            "backoff_max": 0.02,
            **teacher,
        },
        "student": {
            "model": str(model_dir),
            "train": {"min_steps": 2, "learning_rate": 5e-3, "progress": False, "seed": 0},
        },
        "method": "evokd",
        "budget_tokens": BUDGET,
        "max_rounds": 6,
        "samples_per_round": {"hard": 6, "easy": 2},
        "generation": {"per_request": 4},
        "labelling": {"per_request": 4},
        "stop": {"patience_rounds": 100},
        "evaluate_test": "end",
        "checkpoints": "none",
        "run_root": str(root / "runs"),
    }
    path = root / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Figures:
    """What the suite measured, summed over its runs."""

    kills: int = 0
    kills_survived: int = 0
    answered_resent: int = 0
    failures_resent: int = 0
    orphaned_answers: int = 0
    tracebacks: int = 0
    bad_inputs: int = 0
    bad_input_tracebacks: list[str] = field(default_factory=list)
    """Bad inputs that ended in a traceback, or were accepted."""
    billed_over_budget: int = 0
    ledger_below_billed: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)

    def show(self) -> str:
        lines = [
            f"kills: {self.kills}, survived (the run finished after them): {self.kills_survived}",
            f"answered requests re-sent: {self.answered_resent}; requests given up with a "
            f"failure, then sent again by a resume: {self.failures_resent}",
            f"paid answers orphaned (bought by some life, never asked for by the last one): "
            f"{self.orphaned_answers}",
            f"tracebacks: {self.tracebacks}; bad inputs tried: {self.bad_inputs}, "
            f"not refused with one line: {self.bad_input_tracebacks or 0}",
            f"runs billed over budget: {self.billed_over_budget}; "
            f"runs whose ledger shows less than the server billed: {self.ledger_below_billed}",
            "scenario | lives | billed | ledger | budget | exit codes",
        ]
        lines += [
            f"{r['scenario']} | {r['lives']} | {r['billed']} | {r['ledger']} | {r['budget']} "
            f"| {r['exits']}"
            for r in self.rows
        ]
        return "\n".join(lines)


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "evokd_agent.cli", *args, "--no-progress"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _life(
    command: list[str], teacher: BillingTeacher, kill_after: int | None, rng: random.Random
) -> tuple[int, str]:
    """Run one life of the child; kill -9 it once `kill_after` more requests arrived."""
    start = teacher.requests
    child = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed = False
    while child.poll() is None:
        if kill_after is not None and teacher.requests - start >= kill_after:
            time.sleep(rng.random() * 0.05)
            child.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.002)
    out, err = child.communicate()
    text = out.decode("utf-8", "replace") + err.decode("utf-8", "replace")
    return (-9 if killed else child.returncode), text


def _run_dir(root: Path) -> Path:
    return next((root / "runs").iterdir())


def _journal(run_dir: Path) -> tuple[dict[str, int], int]:
    """From the run's request journal: times each request key was answered by the server, and
    how many requests given up with a failure were sent again afterwards (a replay must return
    the failure instead; a re-sent request that gets an answer takes the run off its path)."""
    sent: dict[int, str] = {}
    answered: dict[str, int] = {}
    given_up: dict[int, str] = {}
    resent = 0
    journal = run_dir / "cache" / "journal.jsonl"
    for line in journal.read_text().splitlines() if journal.exists() else []:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        kind, attempt = record.get("e"), record.get("id")
        if kind == "sent":
            key = record["key"]
            sent[attempt] = key
            if key in given_up.values():
                resent += 1
                given_up = {i: k for i, k in given_up.items() if k != key}
        elif kind == "done" and record.get("ok"):
            key = sent[attempt]
            answered[key] = answered.get(key, 0) + 1
        elif kind == "final":
            given_up[attempt] = sent[attempt]
        elif kind == "void":  # an outage's give-ups are sent again on purpose
            given_up.pop(attempt, None)
    return answered, resent


def _seen_by_last_life(run_dir: Path) -> set[str]:
    """Key prefixes of the requests the run's last life made (answered, replayed or failed)."""
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    starts = [i for i, e in enumerate(events) if e.get("event") == "run.start"]
    last = events[starts[-1] :] if starts else events
    return {e["key"] for e in last if e.get("event") == "teacher.request" and e.get("key")}


def run_killed(
    root: Path, model_dir: Path, kills: int, rng: random.Random, figures: Figures
) -> None:
    """One run killed `kills` times (at most) and resumed until it finishes.

    Orphaned: an answer some life paid for (journal) that the last life, which replays the run
    from its start, never asked for again; a resume that diverged from the original path (a
    failure re-sent and answered, say) orphans the answers bought after that point."""
    teacher = BillingTeacher()
    with FakeOpenAIServer(handler=teacher) as server:
        config = write_config(root, server.base_url, model_dir)
        exits: list[int] = []
        command = _command("run", str(config))
        while True:
            kill_after = rng.randint(1, 12) if len(exits) < kills else None
            code, text = _life(command, teacher, kill_after, rng)
            exits.append(code)
            figures.tracebacks += text.count("Traceback")
            if code == -9:
                figures.kills += 1
            if code == 0:
                figures.kills_survived += exits.count(-9)
                break
            if code != -9 or len(exits) > kills + 3:
                raise AssertionError(f"life {len(exits)} exited {code}:\n{text[-3000:]}")
            runs = root / "runs"
            if runs.exists() and any(runs.iterdir()):
                command = _command("run", "--resume", str(_run_dir(root)))
    run_dir = _run_dir(root)
    ledger = json.loads((run_dir / "ledger.json").read_text())["spent"]
    _record(figures, "kills + 10% faults", exits, teacher.billed, ledger)
    answered, failures_resent = _journal(run_dir)
    figures.answered_resent += sum(n - 1 for n in answered.values() if n > 1)
    figures.failures_resent += failures_resent
    seen = _seen_by_last_life(run_dir)
    figures.orphaned_answers += sum(key[:16] not in seen for key in answered)


def run_over_reporting(root: Path, model_dir: Path, figures: Figures) -> None:
    teacher = BillingTeacher(fault_share=0.0, prompt_factor=3)
    with FakeOpenAIServer(handler=teacher) as server:
        config = write_config(root / "over", server.base_url, model_dir)
        code, text = _life(_command("run", str(config)), teacher, None, random.Random(0))
    figures.tracebacks += text.count("Traceback")
    ledger = json.loads((_run_dir(root / "over") / "ledger.json").read_text())["spent"]
    _record(figures, "server counts 3x the prompt", [code], teacher.billed, ledger)


def run_outage(root: Path, model_dir: Path, figures: Figures) -> None:
    teacher = BillingTeacher(fault_share=0.0)
    with FakeOpenAIServer(handler=teacher) as server:
        config = write_config(root / "outage", server.base_url, model_dir, outage_failures=3)

        def go_down() -> None:
            while teacher.requests < 6:
                time.sleep(0.002)
            teacher.down = True

        threading.Thread(target=go_down, daemon=True).start()
        first, text = _life(_command("run", str(config)), teacher, None, random.Random(0))
        figures.tracebacks += text.count("Traceback")
        teacher.down = False
        run_dir = _run_dir(root / "outage")
        second, text = _life(
            _command("run", "--resume", str(run_dir)), teacher, None, random.Random(0)
        )
        figures.tracebacks += text.count("Traceback")
    ledger = json.loads((run_dir / "ledger.json").read_text())["spent"]
    _record(figures, "outage, then resume", [first, second], teacher.billed, ledger)


def bad_inputs(root: Path, model_dir: Path) -> list[tuple[str, list[str], Path | None]]:
    """(what, evokd arguments, the file changed) for inputs a user gets wrong."""
    good = yaml.safe_load(write_config(root, "http://127.0.0.1:9/v1", model_dir).read_text())
    data = root / "data"
    cases: list[tuple[str, list[str], Path | None]] = []

    def config(name: str, change: Any) -> None:
        conf = json.loads(json.dumps(good))
        change(conf)
        path = root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(conf))
        cases.append((name, ["run", str(path)], path))

    def raw(name: str, text: bytes, suffix: str = ".yaml") -> None:
        path = root / f"{name}{suffix}"
        path.write_bytes(text)
        cases.append((name, ["run", str(path)], path))

    def data_file(name: str, text: bytes) -> None:
        path = data / f"{name}.jsonl"
        path.write_bytes(text)
        config(name, lambda c: c["data"].update(dev=str(path)))

    raw("empty config", b"")
    raw("config is a list", b"- a\n- b\n")
    raw("config not yaml", b"name: [unclosed\n")
    raw("config in latin-1", "name: caf\xe9\n".encode("latin-1"))
    cases.append(("config missing", ["run", str(root / "nowhere.yaml")], None))
    config("unknown field", lambda c: c.update(budget_tokenz=5))
    config("negative budget", lambda c: c.update(budget_tokens=-1))
    config("budget is text", lambda c: c.update(budget_tokens="lots"))
    config("unknown method", lambda c: c.update(method="magic"))
    config("no labels", lambda c: c.update(labels=[]))
    config("duplicate labels", lambda c: c.update(labels=["a", "a"]))
    config("url not http", lambda c: c["teacher"].update(base_url="ftp://x"))
    config("zero concurrency", lambda c: c["teacher"].update(max_concurrency=0))
    config("missing data file", lambda c: c["data"].update(dev=str(data / "gone.jsonl")))
    config("student model missing", lambda c: c["student"].update(model=str(root / "no-model")))
    config("task unknown", lambda c: c.update(task="summarise"))
    config("history too small", lambda c: c.update(generation={"history_chars": 1}))
    data_file("data not utf-8", b'{"text": "caf\xe9", "label": 1}\n')
    data_file("data not json", b"this is not json\n")
    data_file("data without text", b'{"label": 1}\n')
    data_file("data with unknown label", b'{"text": "a film", "label": 7}\n')
    data_file("data empty", b"")
    data_file("data with a NUL byte", b'{"text": "a\x00b", "label": 1}\n')
    cases.append(("resume of no run", ["run", "--resume", str(root / "no-run")], None))
    cases.append(("eval of no model", ["eval", "--model", str(root / "none"), "--data", "x"], None))
    config("budget zero", lambda c: c.update(budget_tokens=0))
    config("budget below one request", lambda c: c.update(budget_tokens=20))
    config("dollar budget without prices", lambda c: c.update(budget_usd=1.0))
    config("negative dollar budget", lambda c: c.update(budget_usd=-1))
    config("labels not a list", lambda c: c.update(labels="positive"))
    config("seeds per class zero", lambda c: c["data"].update(seeds_per_class=0))
    config("no data block", lambda c: c.pop("data"))
    config("no dev file", lambda c: c["data"].pop("dev"))
    config("unknown teacher field", lambda c: c["teacher"].update(temperature=0.5))
    config("timeout zero", lambda c: c["teacher"].update(timeout=0))
    config("url without host", lambda c: c["teacher"].update(base_url="http://"))
    config("simulated without corpus", lambda c: c["teacher"].update(base_url="simulated"))
    config("unknown method option", lambda c: c.update(method_options={"warp": 9}))
    config("max rounds negative", lambda c: c.update(max_rounds=-2))
    config("prompts dir missing", lambda c: c.update(prompts_dir=str(root / "no-prompts")))
    config("extra tool missing", lambda c: c.update(extra_tools=[str(root / "no_tool.py")]))
    config("price table missing", lambda c: c.update(price_table=str(root / "no.yaml")))
    config("per request too large", lambda c: c.update(generation={"per_request": 10_000}))
    raw("config is a number", b"42\n")
    raw("config binary", bytes(range(256)))
    data_file("data is a JSON list", b'[{"text": "a", "label": 1}]\n')
    data_file("data with a null text", b'{"text": null, "label": 1}\n')
    data_file("data latin-1 text", '{"text": "na\xefve", "label": 0}\n'.encode("latin-1"))
    cases.append(
        (
            "eval of a bad data file",
            ["eval", "--model", str(model_dir), "--data", str(data / "data not utf-8.jsonl")],
            None,
        )
    )
    return cases


def run_bad_inputs(root: Path, model_dir: Path, figures: Figures) -> None:
    """Each bad input must end with one line (exit 2), never a traceback."""
    from evokd_agent.cli.main import main as evokd

    root.mkdir(parents=True, exist_ok=True)
    for what, args, _ in bad_inputs(root, model_dir):
        figures.bad_inputs += 1
        try:
            code = evokd([*args, "--no-progress"] if args[0] == "run" else args)
        except SystemExit as exc:  # argparse usage errors
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException as exc:
            figures.tracebacks += 1
            figures.bad_input_tracebacks.append(f"{what}: {type(exc).__name__}: {exc}")
            continue
        if code == 0:
            figures.bad_input_tracebacks.append(f"{what}: accepted (exit 0)")


def _record(figures: Figures, scenario: str, exits: list[int], billed: int, ledger: int) -> None:
    figures.billed_over_budget += billed > BUDGET
    figures.ledger_below_billed += ledger < billed
    figures.rows.append(
        {
            "scenario": scenario,
            "lives": len(exits),
            "billed": billed,
            "ledger": ledger,
            "budget": BUDGET,
            "exits": " ".join(str(c) for c in exits),
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=100, help="kills in all (default 100)")
    parser.add_argument("--per-run", type=int, default=10, help="kills per killed run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("reliability_out"))
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    model = build_tiny_bert(args.out / "tiny_bert")
    figures = Figures()
    run_bad_inputs(args.out / "bad", model, figures)
    run = 0
    while figures.kills < args.kills:
        kills = min(args.per_run, args.kills - figures.kills)
        run_killed(args.out / f"killed-{run}", model, kills, rng, figures)
        run += 1
        print(f"--- after {run} killed runs\n{figures.show()}", file=sys.stderr, flush=True)
    run_over_reporting(args.out, model, figures)
    run_outage(args.out, model, figures)
    print(figures.show())
    return 0


if __name__ == "__main__":
    sys.exit(main())
