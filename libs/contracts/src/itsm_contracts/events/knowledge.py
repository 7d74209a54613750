"""Knowledge articles, published by the knowledge service on itsm.knowledge.

An article (KB) has versions; each walks Draft -> Review -> Published -> Retired, and a published version never
changes (an edit is a new version). The subject (and sequence) of every event is the article's.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from itsm_contracts import topics
from itsm_contracts.events import EventData, register

ArticleState = Literal["draft", "review", "published", "retired"]
# Who may read an article: everyone who signs in (requesters too), those who work records, or one group's members.
Audience = Literal["requesters", "agents", "group"]
# Where an article came from: written by someone, or drafted from a problem's known error.
ArticleSource = Literal["written", "known_error"]
# The records an article can be attached to (it helped resolve them).
AttachedRecordType = Literal["incident", "request"]


class KnowledgeEvent(EventData):
    topic = topics.KNOWLEDGE

    article_id: str
    number: str  # KB0001001
    actor: str | None = None  # a user id (the gateway's JWT subject) or "system"


@register
class ArticleDrafted(KnowledgeEvent):
    """A new article, or a new version of one, was drafted."""

    type = "itsm.knowledge.article_drafted"

    article_version: int  # the version this is about (1, 2, ...)
    title: str
    source: ArticleSource = "written"
    # Set when drafted from a known error: the article links back to it and its problem.
    known_error_id: str | None = None
    known_error_number: str | None = None
    problem_id: str | None = None
    problem_number: str | None = None
    drafted_at: datetime


@register
class ArticleSubmitted(KnowledgeEvent):
    """A draft version was sent for review."""

    type = "itsm.knowledge.article_submitted"

    article_version: int  # the version this is about (1, 2, ...)
    title: str
    submitted_at: datetime


@register
class ArticleReturned(KnowledgeEvent):
    """A version under review was sent back to its writer as a draft, with why."""

    type = "itsm.knowledge.article_returned"

    article_version: int  # the version this is about (1, 2, ...)
    reason: str
    returned_at: datetime


@register
class ArticlePublished(KnowledgeEvent):
    """A reviewed version was published: readers of its audience now find it (an earlier published version, if
    any, is retired by it)."""

    type = "itsm.knowledge.article_published"

    article_version: int  # the version this is about (1, 2, ...)
    title: str
    audience: Audience
    audience_group: str | None = None
    category: str | None = None
    written_by: str
    approved_by: str
    known_error_id: str | None = None
    problem_id: str | None = None
    review_by: date | None = None
    published_at: datetime


@register
class ArticleRetired(KnowledgeEvent):
    """The article's published version was withdrawn (or a draft discarded): nobody finds it any more."""

    type = "itsm.knowledge.article_retired"

    article_version: int  # the version this is about (1, 2, ...)
    retired_at: datetime


@register
class ArticleAttached(KnowledgeEvent):
    """Someone attached the article to an incident or request it helped resolve (this feeds suggestions)."""

    type = "itsm.knowledge.article_attached"

    title: str
    record_type: AttachedRecordType
    record_id: str
    attached_at: datetime
