"""One admit/reject path for new samples and inputs, whoever produced them.

Generated inputs, teacher labels, hint labels, EDA edits and pool texts all go through `Intake`:
a refused item is recorded in the samples log with its reason and counted; an accepted sample
is recorded, its text joins the dedup index (so later texts must not repeat it), and it is kept
for `new_batch`, which makes the accepted samples the newest batch of the training set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evokd_agent.distill.context import Sample, ToolContext
from evokd_agent.distill.tasks import strategy_for

Row = Mapping[str, Any]
"""A sample's provenance as the samples log records it (round, kind, prompt, text, stage...)."""


@dataclass
class Intake:
    """The admit/reject decisions of one step, recorded as they are made."""

    ctx: ToolContext
    rejected: dict[str, int] = field(default_factory=dict)
    """Rejections by reason (a step report may pass its own dict, to count in one place)."""
    accepted: list[Sample] = field(default_factory=list)
    """Samples admitted so far, in order."""

    def check_text(
        self,
        row: Row,
        text: str,
        extra: Iterable[str] = (),
        *,
        near_duplicates: bool = True,
        written: bool = False,
    ) -> bool:
        """Whether `text` passes the run's hygiene (leak guard, duplicates of training and
        `extra` texts, length when the teacher `written` it; see `Hygiene.check_text`); a
        text that does not is rejected here."""
        reason = self.ctx.hygiene.check_text(
            text, extra, near_duplicates=near_duplicates, written=written
        )
        if reason is None:
            return True
        self.reject(row, reason)
        return False

    def reject(self, row: Row, reason: str, **details: Any) -> None:
        """Record a refused item with why (and details such as the teacher's reply)."""
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        self.ctx.record_sample({**row, "accepted": False, "reason": reason, **details})

    def admit(self, row: Row, sample: Sample, *, index: str | None, described: bool = True) -> None:
        """Accept `sample`: `index` (its text as it was checked; None for a sample already in
        the training set) joins the dedup index, and the row gains the sample's label or
        tokens and tags unless it already describes them (`described=False`)."""
        if index is not None:
            self.ctx.hygiene.accept(index)
        fields = sample_fields(sample) if described else {}
        self.ctx.record_sample({**row, **fields, "accepted": True, "reason": None})
        self.accepted.append(sample)


def sample_fields(sample: Sample) -> dict[str, Any]:
    """What the samples log keeps of a sample's answer: its label, or its tokens and BIO tags."""
    return strategy_for(sample).log_fields(sample)


def new_batch(ctx: ToolContext, samples: Sequence[Sample]) -> None:
    """`samples` become the newest batch and join the training set (none: nothing changes)."""
    if samples:
        ctx.state.batch = list(samples)
        ctx.state.synthetic.extend(samples)
