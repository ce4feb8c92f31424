"""EDA without synonyms: swap, delete and insert keep the words (and NER tags) consistent."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from evokd_agent.distill.eda import Operation, applicable, apply, augment, n_changes
from evokd_agent.student.data import NerSample, TextSample
from evokd_agent.student.ner import bio_problem

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "today"]
O_TAGS = ["O"] * len(WORDS)
NER = NerSample(
    ("Yesterday", "Barack", "Obama", "visited", "New", "York", "with", "friends", "."),
    ("O", "B-person", "I-person", "O", "B-location", "I-location", "O", "O", "O"),
)


def entities(tokens: tuple[str, ...] | list[str], tags: tuple[str, ...] | list[str]) -> list[str]:
    out: list[str] = []
    for token, tag in zip(tokens, tags, strict=True):
        if tag.startswith("B-"):
            out.append(f"{tag[2:]}:{token}")
        elif tag.startswith("I-"):
            out[-1] += f" {token}"
    return out


def test_edit_count_is_alpha_of_the_words_at_least_one() -> None:
    assert n_changes(10, 0.1) == 1
    assert n_changes(30, 0.1) == 3
    assert n_changes(3, 0.1) == 1


def test_swap_permutes_the_words() -> None:
    words, tags = apply(WORDS, O_TAGS, "swap", 2, random.Random(0))
    assert Counter(words) == Counter(WORDS) and words != WORDS
    assert 2 <= sum(a != b for a, b in zip(words, WORDS, strict=True)) <= 4
    assert tags == O_TAGS


def test_delete_removes_n_words_in_order() -> None:
    words, tags = apply(WORDS, O_TAGS, "delete", 3, random.Random(1))
    assert len(words) == len(WORDS) - 3 and len(tags) == len(words)
    rest = iter(WORDS)
    assert all(w in rest for w in words)  # a subsequence: order kept


def test_delete_keeps_at_least_one_word() -> None:
    words, _ = apply(["a", "b"], ["O", "O"], "delete", 5, random.Random(0))
    assert len(words) == 1


def test_insert_adds_copies_of_sentence_words() -> None:
    words, tags = apply(WORDS, O_TAGS, "insert", 2, random.Random(2))
    assert len(words) == len(WORDS) + 2 and tags == ["O"] * len(words)
    added = Counter(words) - Counter(WORDS)
    assert sum(added.values()) == 2 and set(added) <= set(WORDS)


@pytest.mark.parametrize("operation", ["swap", "delete", "insert"])
def test_ner_edits_touch_only_o_words_and_stay_bio_valid(operation: Operation) -> None:
    for seed in range(40):
        words, tags = apply(NER.tokens, NER.tags, operation, 2, random.Random(seed))
        assert len(words) == len(tags)
        assert bio_problem(tags) is None
        assert entities(words, tags) == entities(NER.tokens, NER.tags)
        entity_words = {w for w, t in zip(NER.tokens, NER.tags, strict=True) if t != "O"}
        assert all(t == "O" for w, t in zip(words, tags, strict=True) if w not in entity_words)


def test_operations_need_free_words() -> None:
    assert applicable(["B-person", "I-person"]) == []
    assert applicable(["B-person", "O"]) == ["delete", "insert"]  # one O word: nothing to swap
    assert applicable(["O"]) == ["insert"]
    with pytest.raises(ValueError, match="cannot apply"):
        apply(["Obama"], ["B-person"], "insert", 1, random.Random(0))


def test_augment_is_deterministic_distinct_and_keeps_the_label() -> None:
    sample = TextSample(" ".join(WORDS), "positive")
    first = augment(sample, 6, random.Random(7))
    again = augment(sample, 6, random.Random(7))
    other = augment(sample, 6, random.Random(8))
    assert first == again and first != other
    texts = [e.sample.text for e in first if isinstance(e.sample, TextSample)]
    assert len(texts) == 6 and len(set(texts)) == 6 and sample.text not in texts
    assert {e.sample.label for e in first if isinstance(e.sample, TextSample)} == {"positive"}
    assert {e.operation for e in first} <= {"swap", "delete", "insert"}


def test_augment_gives_up_on_sentences_with_few_variants() -> None:
    assert augment(NerSample(("Obama",), ("B-person",)), 3, random.Random(0)) == []
    few = augment(TextSample("ok", "positive"), 10, random.Random(0))
    assert 0 < len(few) < 10  # "ok ok" and the like: few distinct edits of one word
