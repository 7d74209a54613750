"""Every table of the knowledge database (migrations write the same out, revision by revision)."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY, BigInteger, Boolean, Column, Date, DateTime, ForeignKey, Index, Integer, MetaData, PrimaryKeyConstraint,
    Sequence, String, Table, Text,
)

from itsm_kit.db import kit_metadata  # noqa: F401  (outbox, inbox: created by the kit's helpers)
from itsm_kit.search import Searchable
from itsm_kit.timeline import activity_table

metadata = MetaData()

article_number = Sequence("article_number_seq", start=1001, metadata=metadata)

# What search reads of an article: the title and body of its published version (of its latest while it has none;
# search only finds published articles). Known errors (copies of the problems service's) are suggested too.
ARTICLE_SEARCH = Searchable(table="articles", title=("title",), body=("body",), trigram="title")
KNOWN_ERROR_SEARCH = Searchable(table="known_errors", title=("title",), body=("symptoms", "workaround"),
                                trigram="title")
# The words their titles use: what a misspelled word is corrected to (itsm_kit.search).
article_words = ARTICLE_SEARCH.vocabulary(metadata)
known_error_words = KNOWN_ERROR_SEARCH.vocabulary(metadata)

# --- Articles: one row each, what readers see of it and what it has earned; its versions below.
articles = Table(
    "articles",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(20), nullable=False, unique=True),  # KB0001001
    # The published version's title and Markdown body (the latest version's while none is published).
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    # draft | review | published | retired: the published version's state if there is one, else the latest's.
    Column("state", String(20), nullable=False),
    Column("published_version", Integer),
    Column("latest_version", Integer, nullable=False),
    Column("audience", String(20), nullable=False),  # requesters | agents | group
    Column("audience_group", String(100)),
    Column("category", String(100)),
    Column("tags", ARRAY(String(50)), nullable=False),
    Column("source", String(20), nullable=False),  # written | known_error
    # The known error (and its problem) the article was drafted from: it links back to them.
    Column("known_error_id", String(36), unique=True),
    Column("known_error_number", String(20)),
    Column("problem_id", String(36)),
    Column("problem_number", String(20)),
    Column("review_by", Date),  # past it, the article is stale
    Column("views", BigInteger, nullable=False),  # distinct readers per day
    Column("helpful", Integer, nullable=False),
    Column("not_helpful", Integer, nullable=False),
    Column("attached", Integer, nullable=False),  # records it was attached to (it helped resolve them)
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),  # If-Match; the aggregate's event sequence
    *ARTICLE_SEARCH.schema(),
    Index("articles_by_state", "state", "updated_at"),
    Index("articles_by_review", "review_by"),
)

# Each version as written: immutable once published (an edit drafts the next version).
article_versions = Table(
    "article_versions",
    metadata,
    Column("article_id", String(36), ForeignKey("articles.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("state", String(20), nullable=False),  # draft | review | published | retired
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),  # Markdown as written
    Column("html", Text, nullable=False),  # rendered and sanitised at save
    Column("change_note", Text),
    Column("written_by", String(100), nullable=False),
    Column("written_at", DateTime(timezone=True), nullable=False),
    Column("submitted_at", DateTime(timezone=True)),
    Column("returned_reason", Text),
    Column("approved_by", String(100)),
    Column("published_at", DateTime(timezone=True)),
    Column("retired_at", DateTime(timezone=True)),
    PrimaryKeyConstraint("article_id", "number"),
)

# One vote per reader (a later vote replaces theirs).
article_feedback = Table(
    "article_feedback",
    metadata,
    Column("article_id", String(36), ForeignKey("articles.id"), nullable=False),
    Column("person", String(100), nullable=False),
    Column("helpful", Boolean, nullable=False),
    Column("comment", Text),
    Column("given_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("article_id", "person"),
)

# A reader counts once a day: reloading a page does not inflate views.
article_views = Table(
    "article_views",
    metadata,
    Column("article_id", String(36), ForeignKey("articles.id"), nullable=False),
    Column("viewer", String(100), nullable=False),
    Column("day", Date, nullable=False),
    PrimaryKeyConstraint("article_id", "viewer", "day"),
)

# The incidents and requests an article was attached to: it helped resolve them (suggestions rank by it).
article_uses = Table(
    "article_uses",
    metadata,
    Column("article_id", String(36), ForeignKey("articles.id"), nullable=False),
    Column("record_type", String(20), nullable=False),  # incident | request
    Column("record_id", String(36), nullable=False),
    Column("attached_by", String(100), nullable=False),
    Column("attached_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("article_id", "record_type", "record_id"),
    Index("article_uses_by_record", "record_type", "record_id"),
)

article_activity = activity_table(metadata, "article")

# --- Known errors as the problems service publishes them (itsm.problem.known_error_published / _retired).
known_errors = Table(
    "known_errors",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(20), nullable=False),
    Column("problem_id", String(36), nullable=False),
    Column("problem_number", String(20), nullable=False),
    Column("title", String(200), nullable=False),
    Column("symptoms", Text, nullable=False),
    Column("workaround", Text, nullable=False),
    Column("affected_cis", ARRAY(String(36)), nullable=False),
    Column("revision", Integer, nullable=False),  # a revision older than the one kept is ignored
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("retired_at", DateTime(timezone=True)),
    Column("article_id", String(36)),  # the article drafted from it
    *KNOWN_ERROR_SEARCH.schema(),
)
