"""Suggestions while working (pure): which published articles and known errors most likely help with a record.

The store finds the candidates whose text shares any word with the record's (itsm_kit.search, any-word matching) and
gives each its text score; here they are folded (a known error whose article the reader may read is that article),
boosted by what else ties them to the record and by what they earned, and ranked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from itsm_contracts.api.knowledge import MAX_SUGGESTION_TEXT, Reader

# The text score (ts_rank_cd + the title's word similarity) is mostly within 0..1.5; the boosts are set against it.
# A known error on the record's very CI is the likeliest cause of all: worth about a good title match.
SAME_CI_BOOST = 0.5
# The same category is weaker evidence (categories are broad: "network" covers a lot).
SAME_CATEGORY_BOOST = 0.2
# Each record an article was attached to says it helped; the log keeps a popular article from drowning the text.
ATTACHED_WEIGHT = 0.15
# Readers' votes, as (helpful - not helpful) / (votes + 2): two phantom votes keep one vote from counting fully.
FEEDBACK_WEIGHT = 0.2
# How many candidates of each kind are weighed: the boosts reorder what the text found, so more than asked for.
CANDIDATES = 50


def bounded_text(text: str) -> str:
    """The part of a record's text suggestions read."""
    return text.strip()[:MAX_SUGGESTION_TEXT]


def reads_known_errors(reader: Reader) -> bool:
    """Known errors are the desk's information (a problem's symptoms and workaround as agents wrote them):
    requesters get their articles, once published for them, never the known errors themselves."""
    return reader != "requester"


@dataclass(frozen=True)
class Candidate:
    """A published article the reader may read, or a known error, that the record's text found."""

    kind: str  # article | known_error
    id: str
    number: str
    title: str
    text_score: float
    highlight: str
    category: str | None = None
    affected_cis: frozenset[str] = frozenset()  # a known error's (an article's: its known error's)
    attached: int = 0
    helpful: int = 0
    not_helpful: int = 0
    known_error_id: str | None = None  # an article's known error


@dataclass(frozen=True)
class Suggestion:
    kind: str
    id: str
    number: str
    title: str
    score: float
    highlight: str
    article_id: str | None
    known_error_id: str | None
    reasons: list[str] = field(default_factory=list)


def helped(attached: int, helpful: int, not_helpful: int) -> float:
    """What an article earned: the records it helped resolve (log-damped) and readers' net votes."""
    votes = (helpful - not_helpful) / (helpful + not_helpful + 2)
    return math.log1p(max(attached, 0)) * ATTACHED_WEIGHT + votes * FEEDBACK_WEIGHT


def folded(found: Iterable[Candidate], articles_of_known_errors: dict[str, Candidate]) -> list[Candidate]:
    """One entry per thing to read: a known error whose article the reader may read is that article (with the known
    error's CIs and the better of the two text matches). `articles_of_known_errors`: known error id -> its published
    article the reader may read (found by text or not)."""
    articles: dict[str, Candidate] = {}
    known: list[Candidate] = []
    for candidate in found:
        if candidate.kind == "article":
            articles[candidate.id] = candidate
        else:
            known.append(candidate)
    left: list[Candidate] = []
    for error in known:
        article = articles_of_known_errors.get(error.id)
        if article is None:
            left.append(error)
            continue
        article = articles.get(article.id, article)
        better = error if error.text_score > article.text_score else article
        articles[article.id] = replace(article, text_score=better.text_score, highlight=better.highlight,
                                       known_error_id=error.id,
                                       affected_cis=article.affected_cis | error.affected_cis)
    return [*articles.values(), *left]


def weighed(candidate: Candidate, *, ci: str | None, category: str | None) -> Suggestion:
    """The text's score plus a boost for each tie to the record and, for an article, what it earned."""
    article = candidate.kind == "article"
    score, reasons = candidate.text_score, ["text"]
    if ci and ci in candidate.affected_cis:
        score += SAME_CI_BOOST
        reasons.append("same_ci")
    if category and candidate.category and category.casefold() == candidate.category.casefold():
        score += SAME_CATEGORY_BOOST
        reasons.append("same_category")
    earned = helped(candidate.attached, candidate.helpful, candidate.not_helpful) if article else 0.0
    score += earned  # votes against an article lower it
    if earned > 0:
        reasons.append("helped")
    return Suggestion(kind=candidate.kind, id=candidate.id, number=candidate.number, title=candidate.title,
                      score=round(score, 6), highlight=candidate.highlight,
                      article_id=candidate.id if article else None,
                      known_error_id=candidate.known_error_id if article else candidate.id, reasons=reasons)


def suggested(found: Sequence[Candidate], *, ci: str | None = None, category: str | None = None,
              articles_of_known_errors: dict[str, Candidate] | None = None, limit: int = 5) -> list[Suggestion]:
    """The best `limit` suggestions of what was found, best first (ties: articles before known errors, then by
    number)."""
    best = [weighed(c, ci=ci, category=category) for c in folded(found, articles_of_known_errors or {})]
    best.sort(key=lambda s: (-s.score, s.kind, s.number, s.id))
    return best[:limit]
