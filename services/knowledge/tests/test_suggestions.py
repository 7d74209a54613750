"""Suggestions ranked purely (issue 18), with no database: the text's score, the boosts for the record's CI and
category and for what an article earned, and a known error folded into its article."""

from __future__ import annotations

import math

import pytest

from itsm_contracts.api.knowledge import MAX_SUGGESTION_TEXT
from itsm_knowledge.domain.suggestions import (
    ATTACHED_WEIGHT, FEEDBACK_WEIGHT, SAME_CATEGORY_BOOST, SAME_CI_BOOST, Candidate, bounded_text, helped,
    reads_known_errors, suggested,
)


def article(id: str, score: float = 0.5, **fields) -> Candidate:
    return Candidate(kind="article", id=id, number=f"KB{id}", title=f"article {id}", text_score=score,
                     highlight=f"<mark>{id}</mark>", **fields)


def known_error(id: str, score: float = 0.5, **fields) -> Candidate:
    return Candidate(kind="known_error", id=id, number=f"KE{id}", title=f"known error {id}", text_score=score,
                     highlight=f"ke <mark>{id}</mark>", **fields)


def ids(found) -> list[str]:
    return [s.id for s in found]


def test_the_better_text_match_comes_first():
    found = suggested([article("1", 0.2), article("2", 0.9), known_error("3", 0.5)])
    assert ids(found) == ["2", "3", "1"]
    assert [s.reasons for s in found] == [["text"]] * 3
    assert found[0].score == 0.9 and found[0].article_id == "2" and found[1].known_error_id == "3"


def test_an_article_attached_to_records_rises_above_an_otherwise_equal_one():
    assert ids(suggested([article("a"), article("b")])) == ["a", "b"]  # equal: by number
    found = suggested([article("a"), article("b", attached=3)])
    assert ids(found) == ["b", "a"]
    assert found[0].reasons == ["text", "helped"]
    assert found[0].score == pytest.approx(0.5 + math.log(4) * ATTACHED_WEIGHT)


def test_helpful_votes_raise_an_article_and_unhelpful_ones_lower_it():
    found = suggested([article("a"), article("b", helpful=3), article("c", not_helpful=3)])
    assert ids(found) == ["b", "a", "c"]
    assert found[0].reasons == ["text", "helped"] and found[2].reasons == ["text"]
    assert helped(0, 3, 0) == pytest.approx(3 / 5 * FEEDBACK_WEIGHT)
    assert helped(0, 1, 1) == 0 and helped(0, 0, 0) == 0


def test_a_known_error_on_the_records_ci_is_boosted():
    plain, on_ci = known_error("a", 0.6), known_error("b", 0.3, affected_cis=frozenset({"ci-1", "ci-2"}))
    found = suggested([plain, on_ci], ci="ci-2")
    assert ids(found) == ["b", "a"] and found[0].reasons == ["text", "same_ci"]
    assert found[0].score == pytest.approx(0.3 + SAME_CI_BOOST)
    assert ids(suggested([plain, on_ci], ci="ci-9")) == ["a", "b"]
    assert ids(suggested([plain, on_ci])) == ["a", "b"]  # a record with no CI


def test_an_article_of_the_records_category_is_boosted():
    found = suggested([article("a", 0.5), article("b", 0.4, category="Network")], category="network")
    assert ids(found) == ["b", "a"] and found[0].reasons == ["text", "same_category"]
    assert found[0].score == pytest.approx(0.4 + SAME_CATEGORY_BOOST)
    assert ids(suggested([article("a", 0.5), article("b", 0.4, category="Network")], category="email")) == ["a", "b"]


def test_a_known_error_whose_article_may_be_read_is_folded_into_that_article():
    its_article = article("kb", 0.2, known_error_id="ke")
    error = known_error("ke", 0.7, affected_cis=frozenset({"ci-1"}))
    found = suggested([its_article, error, article("other", 0.4)], ci="ci-1",
                      articles_of_known_errors={"ke": its_article})
    assert [(s.kind, s.id) for s in found] == [("article", "kb"), ("article", "other")]  # one entry, the article
    first = found[0]
    assert (first.article_id, first.known_error_id, first.number) == ("kb", "ke", "KBkb")
    assert first.score == pytest.approx(0.7 + SAME_CI_BOOST)  # the better text match, the known error's CIs
    assert first.highlight == "ke <mark>ke</mark>" and first.reasons == ["text", "same_ci"]


def test_a_known_errors_article_found_only_through_it_is_still_the_one_entry():
    its_article = article("kb", 0.0, known_error_id="ke")  # its own text did not match
    found = suggested([known_error("ke", 0.6)], articles_of_known_errors={"ke": its_article})
    assert [(s.kind, s.id, s.known_error_id, s.score) for s in found] == [("article", "kb", "ke", 0.6)]


def test_a_known_error_without_a_readable_article_stays_a_known_error():
    found = suggested([known_error("ke", 0.6), article("kb", 0.5)])
    assert [(s.kind, s.id, s.article_id, s.known_error_id) for s in found] == [
        ("known_error", "ke", None, "ke"), ("article", "kb", "kb", None)]


def test_at_most_limit_suggestions():
    assert len(suggested([article(str(n), n / 10) for n in range(10)], limit=3)) == 3


def test_known_errors_are_for_those_who_work_records():
    assert not reads_known_errors("requester")
    assert reads_known_errors("agent") and reads_known_errors("admin")


def test_a_records_text_is_trimmed_to_what_suggestions_read():
    assert bounded_text("  printer blank \n") == "printer blank"
    assert len(bounded_text("x" * (MAX_SUGGESTION_TEXT + 10))) == MAX_SUGGESTION_TEXT
