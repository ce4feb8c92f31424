"""Benchmark the teacher generator.

Fake server (default): starts `python -m evokd_agent.servers.fake --latency L` in a
separate process (so it does not share the client's GIL), sends N requests at concurrency C
through the real generator (real openai client, tiktoken counting, ledger with a budget, retries
armed, JSON-lines log to a temp file; the disk cache is off unless --cache) and prints

    efficiency = (N * L / C) / wall time   (1.0 = the server's latency is the only cost)
    overhead   = client process CPU time / N  (time.process_time of this process)

--raw-server: a minimal asyncio HTTP server instead of the fake server, to measure the client
alone when the machine has too few cores for both (the fake server costs ~0.3 ms CPU/request).
--sdk: the client's SDK path (`fast_path=False`) instead of its direct aiohttp post.
--embedded: starts the embedded llama.cpp teacher instead and prints generated tokens/s.

    .venv/bin/python scripts/bench_generator.py --n 2000 --latency 0.05 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from evokd_agent.logs import configure_logging
from evokd_agent.teacher.cache import ResponseCache
from evokd_agent.teacher.client import TeacherClient
from evokd_agent.teacher.config import TeacherConfig
from evokd_agent.teacher.generator import ChatGenerator
from evokd_agent.teacher.ledger import TokenLedger
from evokd_agent.teacher.request import ChatRequest


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_CANNED = json.dumps(
    {
        "id": "chatcmpl-raw",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21},
    }
).encode()


async def serve_raw(latency: float) -> None:
    """A minimal HTTP/1.1 server answering every request with one canned completion after
    `latency` seconds: costs far less CPU than the fake server, to isolate the client."""
    reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        len(_CANNED),
        _CANNED,
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                await asyncio.sleep(latency)
                writer.write(reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1", flush=True)
    await server.serve_forever()


@contextlib.contextmanager
def fake_server(latency: float, raw: bool = False) -> Iterator[tuple[str, int]]:
    """Run the fake server (or the raw one) in a child process; yields its base URL and pid."""
    command = (
        [sys.executable, __file__, "--serve-raw", str(latency)]
        if raw
        else [sys.executable, "-m", "evokd_agent.servers.fake", "--latency", str(latency)]
    )
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"fake server did not start (printed {url!r})")
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def embedded_server() -> Iterator[tuple[str, str]]:
    """(base_url, model) of the embedded llama.cpp teacher."""
    from evokd_agent.servers.embedded import EmbeddedTeacher

    with EmbeddedTeacher() as teacher:
        yield teacher.base_url, teacher.model


def _requests(n: int, max_tokens: int, offset: int = 0) -> list[ChatRequest]:
    return [
        ChatRequest(
            [
                {"role": "system", "content": "You write short movie reviews."},
                {"role": "user", "content": f"Write review number {offset + i}."},
            ],
            max_tokens=max_tokens,
            phase="generation",
        )
        for i in range(n)
    ]


async def bench_fake(args: argparse.Namespace, url: str, server_pid: int, tmp: Path) -> None:
    config = TeacherConfig(
        base_url=url,
        model="fake-model",
        max_concurrency=args.concurrency,
        fast_path=not args.sdk,
    )
    cache = ResponseCache(tmp / "cache") if args.cache else None
    async with TeacherClient(config) as client:
        gen = ChatGenerator(client, ledger=TokenLedger(10**12), cache=cache, progress=False)
        if args.warmup:  # opens the connection pool, as a long run would have long since done
            await gen.run(_requests(args.concurrency, args.max_tokens, offset=10**9))
        requests = _requests(args.n, args.max_tokens)
        profiler = cProfile.Profile() if args.profile else None
        server0 = _cpu_of(server_pid)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        results = await gen.run(requests)
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        server_cpu = _cpu_of(server_pid) - server0
    ok = sum(r.ok for r in results)
    ideal = args.n * args.latency / args.concurrency
    print(
        f"{'raw' if args.raw_server else 'fake'} server: N={args.n} "
        f"L={args.latency * 1000:g}ms C={args.concurrency} "
        f"cache={'on' if cache else 'off'} path={'sdk' if args.sdk else 'fast'} ok={ok}/{args.n}\n"
        f"  wall {wall:.3f}s (ideal {ideal:.3f}s)  efficiency {ideal / wall:.3f}\n"
        f"  client CPU {cpu:.3f}s = {cpu / args.n * 1000:.3f} ms/request"
        f"  ({args.n / wall:,.0f} requests/s)\n"
        f"  server CPU {server_cpu:.3f}s = {server_cpu / args.n * 1000:.3f} ms/request "
        f"(it needs {args.concurrency / args.latency * server_cpu / args.n:.2f} cores to keep "
        f"up with C/L = {args.concurrency / args.latency:,.0f} requests/s)"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats(args.profile_sort).print_stats(45)


async def bench_embedded(args: argparse.Namespace) -> None:
    with embedded_server() as (url, model):
        # A loaded 2-core machine can take minutes for the first answer: don't time it out.
        config = TeacherConfig(
            base_url=url, model=model, max_concurrency=args.concurrency, timeout=900
        )
        async with TeacherClient(config) as client:
            gen = ChatGenerator(client, progress=False)
            await gen.run(_requests(1, 8, offset=10**9))  # load the model
            requests = _requests(args.embedded_requests, args.max_tokens)
            wall0 = time.perf_counter()
            results = await gen.run(requests)
            wall = time.perf_counter() - wall0
    tokens = sum(r.usage.completion_tokens for r in results if r.ok)
    errors = [str(r.error) for r in results if r.error]
    print(
        f"embedded teacher ({model}): {len(results)} requests, max_tokens={args.max_tokens}, "
        f"C={args.concurrency}: {tokens} tokens in {wall:.2f}s = {tokens / wall:.1f} "
        f"generated tokens/s" + (f"; errors: {errors}" if errors else "")
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=2000, help="requests (fake server)")
    parser.add_argument("--latency", type=float, default=0.05, help="fake server seconds/request")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--cache", action="store_true", help="disk cache in a temp dir")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed run")
    parser.add_argument("--profile-sort", default="tottime", help="pstats sort key")
    parser.add_argument("--embedded", action="store_true", help="benchmark the embedded teacher")
    parser.add_argument("--embedded-requests", type=int, default=4)
    parser.add_argument(
        "--raw-server",
        action="store_true",
        help="use a minimal asyncio HTTP server instead of the fake server (isolates the client)",
    )
    parser.add_argument(
        "--sdk", action="store_true", help="send via the SDK's create (fast_path=False)"
    )
    parser.add_argument("--serve-raw", type=float, metavar="LATENCY", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_raw is not None:
        asyncio.run(serve_raw(args.serve_raw))
        return
    with tempfile.TemporaryDirectory(prefix="evokd-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        configure_logging(tmp / "events.jsonl")
        if args.embedded:
            if args.concurrency == parser.get_default("concurrency"):
                args.concurrency = 1  # llama.cpp's server answers one request at a time
            asyncio.run(bench_embedded(args))
        else:
            with fake_server(args.latency, raw=args.raw_server) as (url, pid):
                asyncio.run(bench_fake(args, url, pid, tmp))
        lines = len((tmp / "events.jsonl").read_text(encoding="utf-8").splitlines())
        print(f"  ({lines} log lines written to a temp events.jsonl)", file=sys.stderr)
        configure_logging(None)


if __name__ == "__main__":
    main()
