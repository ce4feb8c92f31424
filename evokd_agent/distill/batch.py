"""Replies that carry several items: `{"items": [{"id": 1, ...}, {"id": 2, ...}]}`.

One request writes k inputs or labels m texts, so the task text, the few-shot examples and the
conversation are paid for once per request instead of once per item. Each item names the
numbered line of the prompt it answers. An item is accepted only when its id is one the prompt
asked for, occurs once, and is in increasing order with every other item of the reply; a reply
that skips, repeats or reorders items loses those items (rejected and counted, with the reason),
never mislabels them. A reply whose JSON holds no item list rejects every item (reply_not_json).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from evokd_agent.distill.parsing import extract_json

NOT_JSON = "reply_not_json"
"""The reply holds no JSON item list at all."""
MISSING = "batch_item_missing"
"""The reply's list has no item for this id."""
REPEATED = "batch_item_repeated"
"""The reply has several items with this id."""
OUT_OF_ORDER = "batch_item_out_of_order"
"""The item's id breaks the increasing order of the reply's ids."""
UNKNOWN_ID = "batch_item_unknown_id"
"""An item without a usable id, or with an id the prompt did not ask for (counted once each)."""


@dataclass(frozen=True)
class BatchItems:
    """The items of one batched reply, by the prompt's numbering."""

    items: tuple[dict[str, Any] | None, ...]
    """Position i: the accepted item for id i + 1, or None (see `reasons`)."""
    reasons: tuple[str | None, ...]
    """Position i: why id i + 1 has no item (None when it has one)."""
    order: tuple[int | None, ...]
    """Position i: the accepted item's index in the reply's list (to find its logprobs)."""
    stray: int
    """Items with no usable id or an id outside 1..n: dropped."""
    listed: int
    """How many items the reply's list holds (accepted or not)."""


def _id(item: Any) -> int | None:
    if not isinstance(item, dict):
        return None
    value = item.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def item_list(reply: str | None) -> list[Any] | None:
    """The reply's item list: `{"items": [...]}`, or a bare JSON list; None otherwise."""
    value = extract_json(reply)
    if isinstance(value, dict):
        value = value.get("items")
    return value if isinstance(value, list) else None


def parse_batch(reply: str | None, n: int) -> BatchItems:
    """Match a reply's items to the prompt's ids 1..n (see the module docstring)."""
    listed = item_list(reply)
    if listed is None:
        return BatchItems((None,) * n, (NOT_JSON,) * n, (None,) * n, 0, 0)
    ids = [_id(item) for item in listed]
    counts = Counter(i for i in ids if i is not None)
    stray = sum(1 for i in ids if i is None or not 1 <= i <= n)
    # An item is in order when every earlier id is smaller and every later id larger.
    valid = [(pos, i) for pos, i in enumerate(ids) if i is not None and 1 <= i <= n]
    in_order: set[int] = set()
    for k, (pos, i) in enumerate(valid):
        before = all(j < i for _, j in valid[:k])
        after = all(j > i for _, j in valid[k + 1 :])
        if before and after:
            in_order.add(pos)
    items: list[dict[str, Any] | None] = [None] * n
    reasons: list[str | None] = [MISSING] * n
    order: list[int | None] = [None] * n
    for pos, i in valid:
        if counts[i] > 1:
            reasons[i - 1] = REPEATED
        elif pos not in in_order:
            reasons[i - 1] = OUT_OF_ORDER
        else:
            items[i - 1], reasons[i - 1], order[i - 1] = listed[pos], None, pos
    return BatchItems(tuple(items), tuple(reasons), tuple(order), stray, len(listed))


def numbered(texts: list[str]) -> str:
    """Texts as the prompt's numbered lines ("1. ...")."""
    return "\n".join(f"{i}. {' '.join(text.split())}" for i, text in enumerate(texts, 1))


def chunks(n: int, size: int) -> list[range]:
    """0..n-1 cut into consecutive ranges of at most `size`."""
    return [range(start, min(start + size, n)) for start in range(0, n, max(size, 1))]
