"""The token ledger: reserve a request's worst case before sending, reconcile after, hard budget.

Invariant: committed spend + outstanding reservations + held spend (what an interrupted earlier
life of the run spent, until the replay reaches it; see `teacher.journal`) <= budget, checked
before every request.
A reservation is the request's worst case (prompt estimate x learnt margin + max_tokens x n), so a
server that honours max_tokens and counts prompts within the margin cannot push spend past the
budget. Spend the server reports above a reservation is still recorded truthfully (an overrun,
counted in `overruns` and `overrun_tokens`), and the ledger then stops sending at once if the
budget can no longer be trusted to hold:
- the reply has more completion tokens than it reserved: the server ignores max_tokens, so no
  reservation bounds anything;
- or, with the in-flight requests re-bounded at the prompt ratio just seen, spend + reservations
  would pass the budget.
Otherwise the overrun was a prompt count above the estimate, the in-flight reservations have
grown to cover it, and later requests reserve with the larger margin the generator learnt.
Attempts whose cost is unknown (timed out or dropped after sending, unreadable body) are charged at
their reservation: a hard budget must assume the server billed them.

Prompt caching: servers that serve part of a prompt from their prefix cache (OpenAI, vLLM's
automatic prefix caching) report it as `usage.prompt_tokens_details.cached_tokens`. The ledger
reports that share apart (`cached_prompt_tokens`) but still counts it in full against the budget:
the budget is prompt + completion tokens, whatever a provider charges for cached ones.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

from evokd_agent.errors import EvokdError
from evokd_agent.teacher.prices import Prices
from evokd_agent.teacher.request import Phase
from evokd_agent.teacher.spend import BudgetStatus, BudgetTooSmall, Reservation, Spend

__all__ = ["BudgetStatus", "BudgetTooSmall", "Reservation", "Spend", "TokenLedger"]


class TokenLedger:
    """Reserve, commit and release token spend against an optional hard budget.

    Counters are guarded by a lock (any thread may read or record); `reserve` waits on the
    event loop of its caller.
    """

    def __init__(
        self,
        budget: int | None = None,
        *,
        charge_cache_hits: bool = False,
        prices: Prices | None = None,
        budget_usd: float | None = None,
    ) -> None:
        """`charge_cache_hits`: count a cached answer's tokens as spent. A run's own cache holds
        only answers that run paid for, so on --resume the replay then rebuilds the spend (and
        every tool result that reports it) exactly as it was, and the budget stays exact.
        `prices`: the teacher's prices, to report the spend in dollars too (`cost_usd`).
        `budget_usd`: a hard limit in dollars as well (needs `prices`), kept as the token budget
        is: a reservation's worst case in dollars must fit before anything is sent."""
        if budget is not None and budget < 0:
            raise EvokdError(f"token budget {budget} is negative", "set a positive budget")
        if budget_usd is not None and prices is None:
            raise EvokdError(
                "a dollar budget needs the teacher's prices",
                "set teacher.prices ({prompt: ..., completion: ...} per million tokens)",
            )
        self.budget = budget
        self.budget_usd = budget_usd
        self.prices = prices
        self.charge_cache_hits = charge_cache_hits
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._outstanding: dict[int, Reservation] = {}
        self._reserved = 0
        self._spent = 0
        self._spend: dict[tuple[str, int], Spend] = {}
        self._exhausted = False
        self._stopped: str | None = None
        self._bumps: dict[int, int] = {}
        self._holds: dict[int, tuple[str, int, int, float]] = {}
        self._held = 0
        # Dollars, kept beside the tokens for budget_usd: spent, reserved (per reservation), held.
        self._spent_usd = 0.0
        self._reserved_usd: dict[int, float] = {}
        self._held_usd = 0.0
        self._waiters: list[asyncio.Future[None]] = []

    # --- reading -----------------------------------------------------------------------------
    @property
    def spent(self) -> int:
        return self._spent

    @property
    def reserved(self) -> int:
        return self._reserved

    @property
    def remaining(self) -> int | None:
        if self.budget is None:
            return None
        return self.budget - self._spent - self._reserved

    @property
    def exhausted(self) -> bool:
        """True once a request was refused for lack of budget; every later one is refused too."""
        return self._exhausted

    @property
    def stopped(self) -> str | None:
        """Why sending stopped before the budget was spent (an overrun it cannot bound), or None."""
        return self._stopped

    def check_fits(self, tokens: int, prompt: int, max_tokens: int) -> None:
        """Raise `BudgetTooSmall` if even an untouched budget could not cover `tokens`."""
        if self.budget is not None and tokens > self.budget:
            raise BudgetTooSmall(self.budget, tokens, prompt, max_tokens)

    # --- reserving ---------------------------------------------------------------------------
    async def reserve(
        self, tokens: int, phase: Phase, round: int, *, prompt: int = 0
    ) -> Reservation | None:
        """Reserve `tokens` (`prompt` of them for the prompt), waiting while in-flight
        reservations hold the room; None: exhausted."""
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                got = self._try_locked(tokens, phase, round, prompt)
                if got is True:
                    # Registered under the lock, so a settle in between cannot be missed.
                    fut: asyncio.Future[None] = loop.create_future()
                    self._waiters.append(fut)
            if isinstance(got, Reservation):
                return got
            if got is False:
                self._notify()  # waiters must learn that the budget is gone
                return None
            try:
                await fut
            finally:
                with self._lock:
                    if fut in self._waiters:
                        self._waiters.remove(fut)

    def _try_locked(self, tokens: int, phase: Phase, round: int, prompt: int) -> Reservation | bool:
        prompt = min(prompt, tokens)
        usd = self.prices.worst(prompt, tokens - prompt) if self.prices is not None else 0.0
        if self.budget is not None and not self._exhausted:
            committed = self._spent + self._held
            if committed + tokens > self.budget:
                self._exhausted = True
            elif committed + self._reserved + tokens > self.budget:
                return True
        if self.budget_usd is not None and not self._exhausted:
            committed_usd = self._spent_usd + self._held_usd
            if committed_usd + usd > self.budget_usd:
                self._exhausted = True
            elif committed_usd + sum(self._reserved_usd.values()) + usd > self.budget_usd:
                return True
        if self._exhausted:
            return False
        res = Reservation(next(self._ids), tokens, phase, round, prompt)
        self._outstanding[res.id] = res
        self._reserved += tokens
        self._reserved_usd[res.id] = usd
        return res

    # --- settling ----------------------------------------------------------------------------
    def commit(
        self,
        res: Reservation,
        prompt_tokens: int,
        completion_tokens: int,
        cached_prompt_tokens: int = 0,
        *,
        reported: bool = True,
    ) -> int:
        """Replace the reservation by the real usage; returns tokens used beyond the reservation.

        `cached_prompt_tokens` (the server's prefix-cache hits) is reported apart, and is part
        of `prompt_tokens`: the budget is charged the whole prompt. `reported` False: the
        counts are our own estimate (the server sent no usage), so a completion count above
        max_tokens is a tokenizer difference, not proof that the server ignores max_tokens."""
        used = prompt_tokens + completion_tokens
        with self._lock:
            bound = self._settle(res)
            spend = self._bucket(res.phase, res.round)
            spend.requests += 1
            spend.prompt_tokens += prompt_tokens
            spend.completion_tokens += completion_tokens
            spend.cached_prompt_tokens += _share(cached_prompt_tokens, prompt_tokens)
            cost = self.cost(prompt_tokens, completion_tokens, cached_prompt_tokens)
            spend.cost_usd += cost
            self._spent_usd += cost
            self._spent += used
            over = max(0, used - bound)
            if over:
                spend.record_overrun(over)
                self._after_overrun(res, bound, prompt_tokens, completion_tokens, reported)
        self._notify()
        return over

    def _after_overrun(
        self, res: Reservation, bound: int, prompt: int, completion: int, reported: bool
    ) -> None:
        """Re-bound the in-flight requests, or stop sending when the budget can't be kept."""
        completion_part = res.tokens - res.prompt
        if completion > completion_part and reported:
            self._stop(
                f"the teacher reported {completion} completion tokens for a request limited to "
                f"{completion_part} (max_tokens): it does not honour max_tokens, so no "
                "reservation bounds its spend"
            )
            return
        ratio = prompt / max(1, bound - completion_part)
        for other in self._outstanding.values():
            bump = math.ceil(other.prompt * (ratio - 1.0))
            if bump > 0:
                self._bumps[other.id] = self._bumps.get(other.id, 0) + bump
                self._reserved += bump
                if self.prices is not None:
                    self._reserved_usd[other.id] += self.prices.worst(bump, 0)
        if self._over_budget():
            self._stop(
                f"the teacher counted {prompt} prompt tokens where {bound - completion_part} were "
                "reserved; at that ratio the requests in flight could pass the budget"
            )

    def _over_budget(self) -> bool:
        """Spend + held + reservations past a budget (tokens or dollars)."""
        if self.budget is not None and self._spent + self._held + self._reserved > self.budget:
            return True
        committed_usd = self._spent_usd + self._held_usd + sum(self._reserved_usd.values())
        return self.budget_usd is not None and committed_usd > self.budget_usd

    def _stop(self, why: str) -> None:
        if self._stopped is None:
            self._stopped = why
        self._exhausted = True

    def charge_unconfirmed(self, res: Reservation) -> tuple[int, float]:
        """Count the whole reservation as spent: the attempt may have been billed, we can't tell.
        Returns the tokens and dollars charged (the reservation's worst case, re-bounds
        included)."""
        with self._lock:
            usd = self._reserved_usd.get(res.id, 0.0)
            tokens = self._settle(res)
        self.charge(res.phase, res.round, tokens, usd)
        return tokens, usd

    def reserved_usd(self, res: Reservation) -> float:
        """The worst case in dollars of an outstanding reservation (0 without prices)."""
        with self._lock:
            return self._reserved_usd.get(res.id, 0.0)

    def charge(self, phase: str, round: int, tokens: int, usd: float | None = None) -> None:
        """Count `tokens` as spent on attempts whose real cost is unknown (also: requests a
        crashed run sent and never saw answered, charged on resume from the request journal),
        costing `usd` (None: at the dearest price, which no reservation can undercut)."""
        with self._lock:
            spend = self._bucket(phase, round)
            spend.unconfirmed_tokens += tokens
            cost = usd if usd is not None else self._unknown_usd(tokens)
            spend.cost_usd += cost
            self._spent_usd += cost
            self._spent += tokens
        self._notify()

    def _unknown_usd(self, tokens: int) -> float:
        return self.prices.unknown(tokens) if self.prices is not None else 0.0

    def release(self, res: Reservation) -> None:
        """Give the reservation back: the attempt was not billed (refused, or never sent)."""
        with self._lock:
            self._settle(res)
        self._notify()

    def cost(self, prompt: int, completion: int, cached: int = 0) -> float:
        """Dollars for a request's usage at the teacher's prices (0 without prices)."""
        return 0.0 if self.prices is None else self.prices.cost(prompt, completion, cached)

    def record_cache_hit(
        self,
        phase: Phase,
        round: int,
        saved_tokens: int,
        cached_prompt_tokens: int = 0,
        *,
        cost_usd: float = 0.0,
    ) -> None:
        """Count an answer served from the cache: 0 tokens spent and `saved_tokens` saved, or,
        with `charge_cache_hits`, `saved_tokens` charged as replayed spend.

        `cached_prompt_tokens`: the provider's prefix-cache share when the answer was first paid
        for. Only a charged replay counts it (once: a resumed run's ledger starts empty and the
        replay stands in for the original purchase); a free hit adds nothing. `cost_usd`: what
        the answer cost when first paid for (charged with the tokens)."""
        with self._lock:
            spend = self._bucket(phase, round)
            spend.cache_hits += 1
            if self.charge_cache_hits:
                spend.replayed_tokens += saved_tokens
                spend.cost_usd += cost_usd
                self._spent_usd += cost_usd
                spend.cached_prompt_tokens += _share(cached_prompt_tokens, saved_tokens)
                self._spent += saved_tokens
            else:
                spend.cache_saved_tokens += saved_tokens

    # --- spend of an earlier life of the run (the request journal) -------------------------
    def hold(
        self, hold_id: int, phase: str, round: int, tokens: int, usd: float | None = None
    ) -> None:
        """Hold `tokens` (`usd` dollars; None: at the dearest price) an interrupted earlier life
        spent: they count against the budgets when reserving, not yet as spent (so a replay sees
        the spend it saw the first time)."""
        cost = usd if usd is not None else self._unknown_usd(tokens)
        with self._lock:
            self._holds[hold_id] = (phase, round, tokens, cost)
            self._held += tokens
            self._held_usd += cost

    def unhold(self, hold_id: int) -> None:
        """The replay reached a held attempt (and charges it as it did the first time)."""
        with self._lock:
            held = self._holds.pop(hold_id, None)
            if held is not None:
                self._held -= held[2]
                self._held_usd -= held[3]
        self._notify()

    def settle_holds(self) -> int:
        """Charge what the replay never reached (requests of the crashed life it did not make
        again); returns the tokens charged."""
        with self._lock:
            holds, self._holds, self._held, self._held_usd = self._holds, {}, 0, 0.0
        for phase, round, tokens, usd in holds.values():
            self.charge(phase, round, tokens, usd)
        return sum(tokens for _, _, tokens, _ in holds.values())

    def exhaustion(self) -> str:
        """Why the budget counts as spent, for people: tokens and, when they cost, dollars."""
        tokens = f"{self._spent:,} of {self.budget:,} tokens" if self.budget else f"{self._spent:,}"
        if self.prices is None or (self.budget_usd is None and self._spent_usd == 0):
            return f"token budget exhausted: {tokens} spent"
        of = f" of ${self.budget_usd:g}" if self.budget_usd is not None else ""
        return f"budget exhausted: {tokens}, ${self._spent_usd:.4f}{of} spent"

    @property
    def spent_usd(self) -> float:
        """Dollars spent so far (0 without prices)."""
        return self._spent_usd

    @property
    def held(self) -> int:
        """Tokens held for an earlier life's spend the replay has not reached yet."""
        return self._held

    def _settle(self, res: Reservation) -> int:
        """Drop `res` from the outstanding ones; returns its bound (re-bounds included)."""
        if self._outstanding.pop(res.id, None) is None:
            raise RuntimeError(f"reservation {res.id} settled twice")
        bound = res.tokens + self._bumps.pop(res.id, 0)
        self._reserved -= bound
        self._reserved_usd.pop(res.id, None)
        return bound

    def _bucket(self, phase: str, round: int) -> Spend:
        key = (phase, round)
        spend = self._spend.get(key)
        if spend is None:
            spend = self._spend[key] = Spend()
        return spend

    def _notify(self) -> None:
        with self._lock:
            if not self._waiters:
                return
            waiters, self._waiters = self._waiters, []
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for fut in waiters:
            loop = fut.get_loop()
            if loop is running:
                _wake(fut)
            else:
                loop.call_soon_threadsafe(_wake, fut)

    # --- reporting and persistence ---------------------------------------------------------
    def status(self) -> BudgetStatus:
        with self._lock:
            total = Spend()
            by_phase: dict[str, Spend] = {}
            by_round: dict[int, Spend] = {}
            for (phase, round), spend in self._spend.items():
                total.add(spend)
                by_phase.setdefault(phase, Spend()).add(spend)
                by_round.setdefault(round, Spend()).add(spend)
            return BudgetStatus(
                budget=self.budget,
                spent=self._spent,
                reserved=self._reserved,
                remaining=None
                if self.budget is None
                else self.budget - self._spent - self._reserved,
                exhausted=self._exhausted,
                total=total,
                by_phase=by_phase,
                by_round=by_round,
                overruns=total.overruns,
                stopped=self._stopped,
                priced=self.prices is not None,
                budget_usd=self.budget_usd,
            )

    def to_dict(self) -> dict[str, Any]:
        """Settled spend as JSON-able data (outstanding reservations are not persisted): the
        budget, the sum over all rows (`total`, read by reports only) and one row per (phase,
        round) in `spend`."""
        with self._lock:
            total = Spend()
            for spend in self._spend.values():
                total.add(spend)
            return {
                "budget": self.budget,
                "spent": self._spent,
                "stopped": self._stopped,
                "prices": None if self.prices is None else self.prices.model_dump(),
                "budget_usd": self.budget_usd,
                "total": asdict(total),
                "spend": [
                    {"phase": phase, "round": round, **asdict(spend)}
                    for (phase, round), spend in sorted(self._spend.items())
                ],
            }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], budget: int | None = None) -> TokenLedger:
        """Restore a ledger saved by `to_dict` (for --resume); `budget` overrides the saved one."""
        ledger = cls(budget if budget is not None else data.get("budget"))
        names = {f.name for f in fields(Spend)}
        for row in data.get("spend", []):
            values: dict[str, Any] = {
                k: float(v) if k == "cost_usd" else int(v) for k, v in row.items() if k in names
            }
            spend = Spend(**values)
            ledger._bucket(str(row["phase"]), int(row["round"])).add(spend)
            ledger._spent += spend.total
        return ledger


def _share(part: int, whole: int) -> int:
    """`part` clamped to 0..`whole`: a cached share never exceeds the tokens it is a share of."""
    return max(0, min(int(part), int(whole)))


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
