"""Output hygiene on hand-made cases: labels, entity alignment and BIO, leak guard, duplicates."""

from __future__ import annotations

import random

import pytest

from evokd_agent.distill.dedup import jaccard, normalize_text, shingles
from evokd_agent.distill.hygiene import (
    AlignedSentence,
    Hygiene,
    LeakGuard,
    NearDuplicateIndex,
    Rejection,
    RejectionCounter,
    align_entities,
    check_label,
    normalize_label,
)

TYPES = ["person", "location", "corporation"]


def aligned(result: AlignedSentence | Rejection) -> AlignedSentence:
    assert isinstance(result, AlignedSentence), result
    return result


def rejected(result: object) -> Rejection:
    assert isinstance(result, Rejection), result
    return result


def test_label_outside_the_set_is_rejected() -> None:
    assert check_label("positive", ["negative", "positive"]) is None
    assert rejected(check_label("neutral", ["negative", "positive"])).reason == "label_not_in_set"


def test_label_normalisation_ignores_case_and_punctuation_only() -> None:
    labels = ["negative", "positive"]
    assert normalize_label(' "Positive." ', labels) == "positive"
    assert normalize_label("pos", labels) is None


def test_multi_token_entities_get_b_and_i_tags_with_offsets() -> None:
    text = "Yesterday Barack Obama flew to New York City."
    result = aligned(
        align_entities(text, [("Barack Obama", "person"), ("New York City", "location")], TYPES)
    )
    assert result.tokens == (
        "Yesterday", "Barack", "Obama", "flew", "to", "New", "York", "City", ".",
    )  # fmt: skip
    assert result.tags == (
        "O", "B-person", "I-person", "O", "O", "B-location", "I-location", "I-location", "O",
    )  # fmt: skip
    city = result.spans[1]
    assert (city.char_start, city.char_end) == (31, 44)
    assert text[31:44] == "New York City"
    assert (city.start, city.end) == (5, 8)


def test_entity_not_in_the_sentence_is_rejected() -> None:
    result = align_entities("I love Paris.", [("London", "location")], TYPES)
    assert rejected(result).reason == "entity_not_in_sentence"
    assert "London" in rejected(result).detail


def test_partial_word_is_not_an_entity() -> None:
    assert rejected(align_entities("Applesauce is tasty", [("Apple", "corporation")], TYPES))


def test_case_sensitive_match_wins_then_case_insensitive() -> None:
    exact = aligned(align_entities("apple and Apple", [("Apple", "corporation")], TYPES))
    assert exact.tags == ("O", "O", "B-corporation")
    folded = aligned(align_entities("shares of apple rose", [("Apple", "corporation")], TYPES))
    assert folded.tags == ("O", "O", "B-corporation", "O")


def test_every_occurrence_is_tagged() -> None:
    result = aligned(align_entities("Bob met Bob", [("Bob", "person")], TYPES))
    assert result.tags == ("B-person", "O", "B-person")


def test_overlapping_entities_are_rejected() -> None:
    result = align_entities(
        "I read the New York Times",
        [("New York", "location"), ("York Times", "corporation")],
        TYPES,
    )
    assert rejected(result).reason == "overlapping_entities"


def test_unknown_type_is_rejected_but_case_is_forgiven() -> None:
    assert rejected(align_entities("Bob ran", [("Bob", "animal")], TYPES)).reason == (
        "entity_type_not_in_set"
    )
    assert aligned(align_entities("Bob ran", [("Bob", "Person")], TYPES)).tags[0] == "B-person"


def test_token_input_keeps_the_given_words() -> None:
    result = aligned(
        align_entities(["@bob", "loves", "Joe's", "Pizza"], [("Joe's Pizza", "corporation")], TYPES)
    )
    assert result.tags == ("O", "O", "B-corporation", "I-corporation")


def test_empty_sentence_and_no_entities() -> None:
    assert rejected(align_entities("  ", [], TYPES)).reason == "empty_text"
    assert aligned(align_entities("nothing here", [], TYPES)).tags == ("O", "O")


def test_leak_guard_matches_eval_texts_after_normalising() -> None:
    guard = LeakGuard(["it 's a charming , funny film .", "dull"])
    assert rejected(guard.check("It's a charming, funny film!")).reason == "duplicate_of_eval"
    assert guard.check("it's a charming, funny movie") is None


def test_leak_guard_can_also_refuse_near_duplicates() -> None:
    guard = LeakGuard(["a charming and very funny film about two brothers"], near_threshold=0.7)
    result = guard.check("a charming and very funny film about three brothers")
    assert rejected(result).reason == "near_duplicate_of_eval"


def test_near_duplicates_of_training_texts() -> None:
    index = NearDuplicateIndex(threshold=0.8)
    index.add("the acting is wooden and the plot makes no sense at all")
    assert rejected(
        index.check("The acting is wooden and the plot makes no sense at all!")
    ).reason == ("duplicate")
    near = rejected(index.check("the acting is wooden and the plot makes no sense at all."))
    assert near.reason == "duplicate"  # punctuation only: still exact after normalising
    similar = rejected(index.check("the acting was wooden and the plot makes no sense at all"))
    assert similar.reason == "near_duplicate"
    assert index.check("the acting is wooden and the plot makes little sense at all") is None
    assert index.check("a warm, generous portrait of a small town") is None


@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_index_finds_exactly_what_brute_force_finds(threshold: float) -> None:
    # Short strings over a 4-letter alphabet give many pairs right at the threshold, where a
    # wrong prefix length in the prefix filter would miss matches.
    rng = random.Random(0)
    texts = ["".join(rng.choices("abcd", k=rng.randint(5, 9))) for _ in range(300)]
    index = NearDuplicateIndex(threshold=threshold, n=3)
    for i, text in enumerate(texts):
        found = index.find(text)
        sims = [jaccard(shingles(text, 3), shingles(t, 3)) for t in texts[:i]]
        exact = any(normalize_text(t) == normalize_text(text) for t in texts[:i])
        assert (found is not None) == (exact or any(s >= threshold for s in sims)), text
        if found is not None and not found.exact:
            assert found.similarity == pytest.approx(max(sims))
        index.add(text)


def test_hygiene_counts_every_rejection_by_reason() -> None:
    hygiene = Hygiene(["negative", "positive"], eval_texts=["a dull film"])
    hygiene.add_training(["a seed sentence about a great film"])
    assert hygiene.check_text("a brand new text") is None
    assert hygiene.check_label("positive") is None
    hygiene.accept("a brand new text")
    outcomes = [
        hygiene.check_text("A dull film."),
        hygiene.check_label("neutral"),
        hygiene.check_text("a brand new text"),
        hygiene.check_text("a seed sentence about a great film"),
        hygiene.check_text("!!!"),
    ]
    assert outcomes == [
        "duplicate_of_eval",
        "label_not_in_set",
        "duplicate",
        "duplicate",
        "empty_text",
    ]
    assert hygiene.last_rejection is not None and hygiene.last_rejection.reason == "empty_text"
    assert hygiene.counter.as_dict() == {
        "duplicate": 2,
        "duplicate_of_eval": 1,
        "label_not_in_set": 1,
        "empty_text": 1,
    }
    assert hygiene.counter.total == 5


def test_hygiene_ner_aligns_then_deduplicates() -> None:
    hygiene = Hygiene(TYPES, eval_texts=["Bob lives in Paris"])
    assert hygiene.align("Alice works at Acme", [("Acme", "corporation")]) == (
        ["Alice", "works", "at", "Acme"],
        ["O", "O", "O", "B-corporation"],
    )
    assert hygiene.check_text("Alice works at Acme") is None
    hygiene.accept("Alice works at Acme")
    assert hygiene.check_text("Bob lives in Paris") == "duplicate_of_eval"
    assert hygiene.check_text("Alice works at Acme") == "duplicate"
    assert hygiene.align("Eve sings", [("Zed", "person")]) == "entity_not_in_sentence"
    assert hygiene.counter.total == 3


def test_rejection_counter_adds_reasons_and_rejections() -> None:
    counter = RejectionCounter()
    counter.update([Rejection("near_duplicate", "x"), "near_duplicate", "empty_text"])
    counter.add("empty_text", 3)
    assert counter.as_dict() == {"empty_text": 4, "near_duplicate": 2}
    assert counter["label_not_in_set"] == 0


def test_step_interface_checks_before_labelling_and_accepts_after() -> None:
    hygiene = Hygiene(["negative", "positive"], eval_texts=["a dull film"])
    assert hygiene.check_text("a new review of a film", extra=["something else entirely"]) is None
    assert hygiene.check_text("A new review of a film!", extra=["a new review of a film"]) == (
        "duplicate"
    )
    assert hygiene.check_text("a dull film") == "duplicate_of_eval"
    assert hygiene.last_rejection is not None and "a dull film" in hygiene.last_rejection.detail
    assert hygiene.check_label("neutral") == "label_not_in_set"
    hygiene.accept("a new review of a film")
    assert hygiene.check_text("a new review of a film") == "duplicate"
    assert hygiene.counter.as_dict() == {
        "duplicate": 2,
        "duplicate_of_eval": 1,
        "label_not_in_set": 1,
    }


def test_step_interface_aligns_ner() -> None:
    hygiene = Hygiene(TYPES)
    assert hygiene.align(["Ann", "visits", "Rome"], [("Rome", "location")]) == (
        ["Ann", "visits", "Rome"],
        ["O", "O", "B-location"],
    )
    assert hygiene.align("Ann visits Rome", [("Oslo", "location")]) == "entity_not_in_sentence"
    assert hygiene.counter["entity_not_in_sentence"] == 1
