"""BIO validation, first-subword alignment, and mapping predictions back to words."""

from __future__ import annotations

from typing import Any

import pytest

from evokd_agent.student.ner import (
    IGNORE_INDEX,
    align_labels,
    bio_problem,
    first_subword_positions,
    normalize_tag_set,
    repair_bio,
)


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    from evokd_agent.student.model import packaged_minilm_dir

    return AutoTokenizer.from_pretrained(packaged_minilm_dir())


def test_bio_problem() -> None:
    assert bio_problem(["B-per", "I-per", "O", "B-loc"]) is None
    assert bio_problem([]) is None
    problem = bio_problem(["B-per", "I-loc"])
    assert problem is not None and "position 1" in problem
    assert bio_problem(["I-per"]) is not None
    assert bio_problem(["per"]) is not None


def test_normalize_tag_set_accepts_tags_or_types() -> None:
    assert normalize_tag_set(["B-loc", "O", "B-per", "I-per"]) == [
        "O",
        "B-loc",
        "I-loc",
        "B-per",
        "I-per",
    ]
    assert normalize_tag_set(["per"]) == ["O", "B-per", "I-per"]


def test_repair_bio() -> None:
    assert repair_bio(["O", "I-per", "I-per", "I-loc", "B-loc", "I-loc"]) == (
        "O",
        "B-per",
        "I-per",
        "B-loc",
        "B-loc",
        "I-loc",
    )


def test_align_first_subword_of_multi_piece_words(tokenizer: Any) -> None:
    words = ["@paulwalk", "visited", "unbelievableness", "."]
    enc = tokenizer(words, is_split_into_words=True)
    word_ids = enc.word_ids()
    pieces = [word_ids.count(i) for i in range(len(words))]
    assert pieces[0] > 1 and pieces[2] > 1  # the case under test: words split into subwords
    labels = align_labels(word_ids, [1, 0, 2, 0])
    # Exactly one labelled position per word, at its first subword, in word order.
    labelled = [(pos, lab) for pos, lab in enumerate(labels) if lab != IGNORE_INDEX]
    assert [lab for _, lab in labelled] == [1, 0, 2, 0]
    assert [pos for pos, _ in labelled] == [word_ids.index(i) for i in range(len(words))]
    assert labels[0] == IGNORE_INDEX and labels[-1] == IGNORE_INDEX  # [CLS] and [SEP]
    assert first_subword_positions(word_ids, len(words)) == [pos for pos, _ in labelled]


def test_truncated_words_have_no_position(tokenizer: Any) -> None:
    words = ["alpha", "beta", "unbelievableness", "gamma", "delta"]
    enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=5)
    positions = first_subword_positions(enc.word_ids(), len(words))
    assert positions[:3] == [1, 2, 3]
    assert positions[3:] == [None, None]
    labels = align_labels(enc.word_ids(), [0, 1, 2, 3, 4])
    assert [x for x in labels if x != IGNORE_INDEX] == [0, 1, 2]
