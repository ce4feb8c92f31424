"""The concurrent generator: many chat requests in, results out as they complete.

Per request: the request journal's record of an earlier life (a failure it gave up replays as that
failure) -> cache lookup (a hit costs nothing) -> rate limits -> budget reservation (worst case;
the first request of a generator goes out alone, so the ratio of the server's prompt counts to
ours is known before others are in flight) -> journal "sent" (synced to disk)
-> one attempt under the concurrency cap and a total timeout -> reconcile the reservation with
the server's usage (prompt tokens served from the provider's prefix cache, reported in
`usage.prompt_tokens_details.cached_tokens`, are recorded apart) -> cache the answer
-> journal "done" -> log it.
Failed attempts are retried by `RetryPolicy`.

What comes back, and when the generator gives up:
- Per-item failures (retries exhausted, a 4xx the request caused, a malformed body, timeouts)
  become a `ChatResult` with `error` set; the rest of the batch goes on.
- Failures that make the whole run pointless (bad API key, unknown model, wrong URL, an endpoint
  unreachable before it ever answered, a budget smaller than one request) raise `EvokdError`
  from `stream`/`run` at once; in-flight work is cancelled (paid answers are already cached).
- Teacher outages: `teacher.outage_failures` requests in a row given up (or
  `teacher.outage_seconds` spent trying them) raise `TeacherOutage` (exit code 3); those
  give-ups are withdrawn from the journal, so a resume sends them again.
- Budget: a request whose worst case cannot fit is not sent. The first refusal marks the ledger
  exhausted; that request and every later one come back with error kind "budget", and the batch
  ends normally, so callers keep every paid result; `ledger.exhausted` tells them to stop
  (the tools report it in their typed `stop` field).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator, Sized
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, TypeVar

from openai.types.chat import ChatCompletion
from structlog.typing import FilteringBoundLogger

from evokd_agent.logs import get_logger
from evokd_agent.teacher.cache import ResponseCache, request_key
from evokd_agent.teacher.client import MalformedResponse, TeacherClient, parse_completion
from evokd_agent.teacher.journal import Replay, RequestJournal
from evokd_agent.teacher.ledger import Reservation, TokenLedger
from evokd_agent.teacher.outage import OutageWatch
from evokd_agent.teacher.progress import Progress
from evokd_agent.teacher.ratelimit import RateLimiter
from evokd_agent.teacher.request import (
    ChatError,
    ChatRequest,
    ChatResult,
    Usage,
    cached_prompt_tokens,
)
from evokd_agent.teacher.request_log import log_result
from evokd_agent.teacher.retry import AttemptFailed, RetryPolicy
from evokd_agent.teacher.tokens import TokenCounter

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")


class _OutOfBudget(Exception):
    pass


@dataclass
class _Batch:
    log: FilteringBoundLogger
    failed: BaseException | None = None
    endpoint_down: bool = False
    """A fatal endpoint error (auth, model, unreachable): requests cut short weren't billed."""
    budget_logged: bool = False


_DONE = object()


class ChatGenerator:
    """Sends batches of `ChatRequest`s to a `TeacherClient` with limits, budget, cache and logs."""

    def __init__(
        self,
        client: TeacherClient,
        *,
        ledger: TokenLedger | None = None,
        cache: ResponseCache | None = None,
        journal: RequestJournal | None = None,
        limiter: RateLimiter | None = None,
        counter: TokenCounter | None = None,
        logger: FilteringBoundLogger | None = None,
        progress: bool | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        config = client.config
        self.client = client
        self.config = config
        self.ledger = ledger if ledger is not None else TokenLedger()
        self.cache = cache
        self.journal = journal if cache is not None else None
        if self.journal is not None:
            for past in self.journal.held():  # a crashed life's spend holds budget from now on
                self.ledger.hold(past.id, past.phase, past.round, past.charged, past.charged_usd)
        self.limiter = limiter or RateLimiter(
            config.requests_per_minute,
            config.tokens_per_minute,
            burst_seconds=config.rate_burst_seconds,
            sleep=sleep,
        )
        self.counter = counter or TokenCounter(config.encoding)
        self.policy = RetryPolicy(config, rng=rng, sleep=sleep)
        self.log = logger or get_logger("evokd.teacher")
        self.progress = progress
        self._clock = clock
        self.outages = OutageWatch(config.outage_failures, config.outage_seconds)
        self._slots: asyncio.Semaphore | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        self.prompt_scale = 1.0 + config.prompt_margin
        """Multiplier on local prompt estimates; grows if the server counts more than tiktoken."""
        self.calibrated = False
        """True once a reply's usage was compared with our estimate: until then, one request at
        a time is out, so a server that counts differently overruns at most one reservation."""
        self._calibrating: asyncio.Lock | None = None

    @property
    def model(self) -> str:
        return self.client.model

    def estimate(self, request: ChatRequest) -> tuple[int, int]:
        """(local prompt-token estimate, tokens to reserve: scaled prompt + max_tokens x n)."""
        prompt = self.counter.count_request(request)
        return prompt, math.ceil(prompt * self.prompt_scale) + request.max_tokens * request.n

    # --- public API --------------------------------------------------------------------------
    async def stream(
        self, requests: Iterable[ChatRequest], *, total: int | None = None, desc: str = "teacher"
    ) -> AsyncGenerator[ChatResult, None]:
        """Yield a `ChatResult` per request as each completes (`result.index` = input position).

        Use `async with contextlib.aclosing(gen.stream(...))` when you may stop early, so the
        in-flight requests are cancelled at once rather than when the generator is collected.
        """
        if total is None and isinstance(requests, Sized):
            total = len(requests)
        items = enumerate(requests)
        workers_n = (
            self.config.max_concurrency
            if total is None
            else min(self.config.max_concurrency, max(total, 1))
        )
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:  # a semaphore serves one loop
            self._slots = asyncio.Semaphore(self.config.max_concurrency)
            self._calibrating = asyncio.Lock()
            self._slots_loop = loop
        queue: asyncio.Queue[Any] = asyncio.Queue()
        # Bind once per batch: an unbound structlog proxy re-reads the configuration every event.
        batch = _Batch(log=self.log.bind(batch=desc))
        progress = Progress(total, self.ledger, enabled=self.progress, desc=desc)
        workers = [asyncio.create_task(self._worker(items, queue, batch)) for _ in range(workers_n)]
        running = workers_n
        try:
            while running:
                item = await queue.get()
                if item is _DONE:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    progress.update(item)
                    yield item
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            progress.close()
            batch.log.info(
                "teacher.batch",
                total=total,
                errors=progress.errors,
                cached=progress.cached,
                spent=self.ledger.spent,
                budget=self.ledger.budget,
                failed=None if batch.failed is None else str(batch.failed),
            )

    async def run(
        self, requests: Iterable[ChatRequest], *, desc: str = "teacher"
    ) -> list[ChatResult]:
        """All results, in input order (per-item errors included)."""
        results: dict[int, ChatResult] = {}
        async with aclosing(self.stream(requests, desc=desc)) as stream:
            async for result in stream:
                results[result.index] = result
        return [results[i] for i in range(len(results))]

    async def complete(self, request: ChatRequest) -> ChatResult:
        """One request (e.g. an agent decision), with the same limits, budget, cache and retries."""
        return (await self.run([request]))[0]

    # --- workers ---------------------------------------------------------------------------
    async def _worker(
        self,
        items: Iterator[tuple[int, ChatRequest]],
        queue: asyncio.Queue[Any],
        batch: _Batch,
    ) -> None:
        try:
            # One shared iterator: `next` runs without an await, so no two workers get one item.
            for index, request in items:
                if batch.failed is not None:
                    return
                result = await self._one(index, request, batch)
                queue.put_nowait(result)
                if result.cached:
                    await asyncio.sleep(0)  # cache hits never suspend: let the consumer run
        except Exception as exc:
            if batch.failed is None:
                batch.failed = exc
                batch.log.error("teacher.fatal", error=str(exc))
                queue.put_nowait(exc)
        finally:
            queue.put_nowait(_DONE)

    async def _one(self, index: int, request: ChatRequest, batch: _Batch) -> ChatResult:
        key: str | None = None
        if self.cache is not None:
            key = request_key(self.model, request)
            if self.journal is not None:
                replayed = self._replay(index, request, key, self.journal.replay(key), batch)
                if replayed is not None:
                    return replayed
            body = self.cache.get(key)
            if body is not None:
                try:
                    completion = parse_completion(body)
                except MalformedResponse:
                    self.cache.discard(key)
                else:
                    return self._cached(index, request, key, completion, batch.log)
        prompt, reserve = self.estimate(request)
        self.ledger.check_fits(reserve, prompt, request.max_tokens * request.n)
        if self.ledger.exhausted:
            return self._no_budget(index, request, reserve, 0, None, batch)
        started = self._clock()
        retries = 0
        sent_ids: list[int] = []

        def on_retry(retry: int, wait: float, failed: AttemptFailed) -> None:
            nonlocal retries
            retries = retry
            batch.log.info(
                "teacher.retry",
                index=index,
                phase=request.phase,
                retry=retry,
                wait_s=round(wait, 3),
                error=str(failed.error),
            )

        try:
            completion, usage = await self.policy.call(
                lambda: self._attempt(request, prompt, reserve, key, batch, sent_ids), on_retry
            )
        except _OutOfBudget:
            return self._no_budget(index, request, reserve, retries, started, batch)
        except AttemptFailed as failed:
            if failed.fatal is not None:
                batch.endpoint_down = True
                raise failed.fatal from None
            self._gave_up(failed, sent_ids[-1] if sent_ids else None, self._clock() - started)
            result = ChatResult(
                index,
                request,
                error=failed.error,
                retries=retries,
                latency=self._clock() - started,
            )
            self._log(batch.log, result, key)
            return result
        self.outages.answered()
        result = ChatResult(
            index,
            request,
            response=completion,
            usage=usage,
            retries=retries,
            latency=self._clock() - started,
        )
        self._log(batch.log, result, key)
        return result

    def _log(self, log: FilteringBoundLogger, result: ChatResult, key: str | None) -> None:
        log_result(log, result, key, log_content=self.config.log_content)

    def _gave_up(self, failed: AttemptFailed, attempt_id: int | None, seconds: float) -> None:
        """Journal a request given up, and stop the run if the give-ups add up to an outage."""
        if self.journal is not None and attempt_id is not None:
            self.journal.final(attempt_id, failed.error)
        outage = self.outages.gave_up(failed.error, attempt_id, seconds)
        if outage is None:
            return
        if self.journal is not None:
            # Withdrawn: a resume sends these again rather than replaying the outage.
            for streak_id in self.outages.streak:
                if streak_id is not None:
                    self.journal.void(streak_id)
        raise outage

    def _replay(
        self, index: int, request: ChatRequest, key: str, replay: Replay, batch: _Batch
    ) -> ChatResult | None:
        """Retrace what an earlier life of the run recorded for this request (None: go on)."""
        if not replay.attempts:
            return None
        assert self.cache is not None
        for past in replay.attempts:
            self.ledger.unhold(past.id)
            answered = past.ok is True and key in self.cache
            if not answered and past.charged:
                self.ledger.charge(past.phase, past.round, past.charged, past.charged_usd)
        if replay.answered:
            self.outages.answered()
            return None  # the cache serves it, charged as the original purchase
        failure = replay.failure
        if failure is None:
            return None  # cut short by the crash (or withdrawn): send it again
        # Counted as the first life counted it (it ended no outage then, so none is raised now).
        self.outages.gave_up(failure, None)
        result = ChatResult(index, request, error=failure, retries=len(replay.attempts) - 1)
        self._log(batch.log, result, key)
        return result

    async def _attempt(
        self,
        request: ChatRequest,
        prompt: int,
        reserve: int,
        key: str | None,
        batch: _Batch,
        sent_ids: list[int],
    ) -> tuple[ChatCompletion, Usage]:
        if not self.calibrated:
            assert self._calibrating is not None
            async with self._calibrating:  # the others wait for the first usage report
                if not self.calibrated:
                    return await self._send_attempt(request, prompt, reserve, key, batch, sent_ids)
            # Reserve again with what the first reply taught.
            prompt, reserve = self.estimate(request)
        return await self._send_attempt(request, prompt, reserve, key, batch, sent_ids)

    async def _send_attempt(
        self,
        request: ChatRequest,
        prompt: int,
        reserve: int,
        key: str | None,
        batch: _Batch,
        sent_ids: list[int],
    ) -> tuple[ChatCompletion, Usage]:
        if self.limiter.active:
            await self.limiter.acquire(reserve)
        res = await self.ledger.reserve(
            reserve, request.phase, request.round, prompt=reserve - request.max_tokens * request.n
        )
        if res is None:
            raise _OutOfBudget
        journal = self.journal if key is not None else None
        attempt_id: int | None = None
        settled = sent = False
        try:
            assert self._slots is not None
            async with self._slots:
                if self.ledger.stopped is not None:
                    # An overrun stopped sending while this one waited for a slot: not sent.
                    raise _OutOfBudget
                sent = True
                if journal is not None and key is not None:
                    # Durable before the bytes leave: a crash from here on is charged on resume.
                    attempt_id = journal.sent(
                        key,
                        request.phase,
                        request.round,
                        res.tokens,
                        self.ledger.reserved_usd(res),
                    )
                    sent_ids.append(attempt_id)
                try:
                    sending = self.client.send(request)
                    # One timer per attempt: the pool keeps its own deadline (a hot path).
                    completion, body = await (
                        sending
                        if self.client.times_whole_attempt
                        else _with_timeout(sending, self.config.timeout)
                    )
                except Exception as exc:
                    failed = await self.client.classify(exc)
                    charged, usd = self._settle_failed(res, failed)
                    settled = True
                    if journal is not None and attempt_id is not None:
                        journal.done(attempt_id, ok=False, charged=charged, charged_usd=usd)
                    raise failed from exc
            usage = self._reconcile(res, completion, prompt)
            settled = True
        finally:
            if not settled:
                charged, usd = 0, 0.0
                if sent and not batch.endpoint_down:
                    # Cancelled (or crashed) while the request was out: it may have been billed.
                    charged, usd = self.ledger.charge_unconfirmed(res)
                else:
                    self.ledger.release(res)
                if journal is not None and attempt_id is not None:
                    journal.done(attempt_id, ok=False, charged=charged, charged_usd=usd)
        if self.cache is not None and key is not None:
            try:
                self.cache.put(key, body)
            except OSError as exc:  # the answer is paid for and returned; only resuming suffers
                self.log.warning("teacher.cache_write_failed", error=str(exc))
        if journal is not None and attempt_id is not None:
            cost = self.ledger.cost(
                usage.prompt_tokens, usage.completion_tokens, usage.cached_prompt_tokens
            )
            journal.done(attempt_id, ok=True, charged=usage.total, charged_usd=cost)
        return completion, usage

    def _settle_failed(self, res: Reservation, failed: AttemptFailed) -> tuple[int, float]:
        """Release or charge a failed attempt's reservation; returns the tokens and dollars
        charged."""
        if failed.billing == "no":
            self.ledger.release(res)
            return 0, 0.0
        return self.ledger.charge_unconfirmed(res)

    def _reconcile(self, res: Reservation, completion: ChatCompletion, prompt: int) -> Usage:
        reported = completion.usage
        cached = 0
        if reported is not None and reported.prompt_tokens is not None:
            p = int(reported.prompt_tokens or 0)
            c = int(reported.completion_tokens or 0)
            cached = cached_prompt_tokens(completion)
            source = "server"
            if prompt > 0 and p > prompt:
                # The server's tokenizer counts more than ours: reserve more from now on. No cap:
                # a budget that must hold has to believe the largest count it has seen.
                scale = p / prompt * (1.0 + self.config.prompt_margin)
                self.prompt_scale = max(self.prompt_scale, scale)
        else:
            p, c = prompt, self.counter.count_completion(completion)
            source = "estimate"
        self.calibrated = True
        over = self.ledger.commit(res, p, c, cached, reported=source == "server")
        if over:
            self.log.warning(
                "teacher.usage_over_reservation",
                reserved=res.tokens,
                prompt_tokens=p,
                completion_tokens=c,
                over=over,
                stopped=self.ledger.stopped,
            )
        return Usage(p, c, res.tokens, source, cached)  # type: ignore[arg-type]

    # --- results without a request -----------------------------------------------------------
    def _cached(
        self,
        index: int,
        request: ChatRequest,
        key: str,
        completion: ChatCompletion,
        log: FilteringBoundLogger,
    ) -> ChatResult:
        reported = completion.usage
        cached = 0
        if reported is not None:
            p, c = int(reported.prompt_tokens or 0), int(reported.completion_tokens or 0)
            cached = cached_prompt_tokens(completion)
        else:
            p = self.counter.count_request(request)
            c = self.counter.count_completion(completion)
        # The stored usage is the original purchase's: the ledger decides whether this replay
        # counts it (a resumed run) or not (a free hit), so nothing is counted twice.
        self.ledger.record_cache_hit(
            request.phase, request.round, p + c, cached, cost_usd=self.ledger.cost(p, c, cached)
        )
        usage = Usage(p, c, 0, "cache", cached)
        result = ChatResult(index, request, response=completion, usage=usage, cached=True)
        self._log(log, result, key)
        return result

    def _no_budget(
        self,
        index: int,
        request: ChatRequest,
        reserve: int,
        retries: int,
        started: float | None,
        batch: _Batch,
    ) -> ChatResult:
        ledger = self.ledger
        if not batch.budget_logged:
            batch.budget_logged = True
            batch.log.warning(
                "teacher.budget_exhausted",
                spent=ledger.spent,
                budget=ledger.budget,
                needed=reserve,
                stopped=ledger.stopped,
            )
        why = (
            f"the ledger stopped sending ({ledger.stopped})"
            if ledger.stopped
            else f"the token budget is exhausted ({ledger.spent} of {ledger.budget} tokens "
            f"spent, this request needs up to {reserve})"
        )
        error = ChatError("budget", f"not sent: {why}")
        result = ChatResult(
            index,
            request,
            error=error,
            retries=retries,
            latency=0.0 if started is None else self._clock() - started,
        )
        self._log(batch.log, result, None)
        return result


async def _with_timeout(awaitable: Awaitable[T], seconds: float) -> T:
    """Total time limit on one attempt (HTTP read timeouts only bound each read)."""
    async with asyncio.timeout(seconds):
        return await awaitable
