"""knowledge: articles and their versions, feedback, views, uses and timeline; known errors; the search vocabularies;
outbox and inbox

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from itsm_kit.db import (
    add_kit_outbox_failures_v2, create_kit_tables_v1, drop_kit_outbox_failures_v2, drop_kit_tables_v1,
)
from itsm_kit.search import Searchable

revision = "0001"
down_revision = None

# As the tables were when this revision was written (the store's specs may change in a later revision).
ARTICLE_SEARCH = Searchable(table="articles", title=("title",), body=("body",), trigram="title")
KNOWN_ERROR_SEARCH = Searchable(table="known_errors", title=("title",), body=("symptoms", "workaround"),
                                trigram="title")


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("article_number_seq", start=1001)))
    op.create_table(
        "articles",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(20), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("published_version", sa.Integer()),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("audience", sa.String(20), nullable=False),
        sa.Column("audience_group", sa.String(100)),
        sa.Column("category", sa.String(100)),
        sa.Column("tags", sa.ARRAY(sa.String(50)), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("known_error_id", sa.String(36), unique=True),
        sa.Column("known_error_number", sa.String(20)),
        sa.Column("problem_id", sa.String(36)),
        sa.Column("problem_number", sa.String(20)),
        sa.Column("review_by", sa.Date()),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.Column("helpful", sa.Integer(), nullable=False),
        sa.Column("not_helpful", sa.Integer(), nullable=False),
        sa.Column("attached", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.create_index("articles_by_state", "articles", ["state", "updated_at"])
    op.create_index("articles_by_review", "articles", ["review_by"])
    ARTICLE_SEARCH.add(op)
    ARTICLE_SEARCH.add_vocabulary(op, most_digits=None)  # as it was then: 0004 limits the digits
    op.create_table(
        "article_versions",
        sa.Column("article_id", sa.String(36), sa.ForeignKey("articles.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("change_note", sa.Text()),
        sa.Column("written_by", sa.String(100), nullable=False),
        _at("written_at"),
        _at("submitted_at", True),
        sa.Column("returned_reason", sa.Text()),
        sa.Column("approved_by", sa.String(100)),
        _at("published_at", True),
        _at("retired_at", True),
        sa.PrimaryKeyConstraint("article_id", "number"),
    )
    op.create_table(
        "article_feedback",
        sa.Column("article_id", sa.String(36), sa.ForeignKey("articles.id"), nullable=False),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text()),
        _at("given_at"),
        sa.PrimaryKeyConstraint("article_id", "person"),
    )
    op.create_table(
        "article_views",
        sa.Column("article_id", sa.String(36), sa.ForeignKey("articles.id"), nullable=False),
        sa.Column("viewer", sa.String(100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("article_id", "viewer", "day"),
    )
    op.create_table(
        "article_uses",
        sa.Column("article_id", sa.String(36), sa.ForeignKey("articles.id"), nullable=False),
        sa.Column("record_type", sa.String(20), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("attached_by", sa.String(100), nullable=False),
        _at("attached_at"),
        sa.PrimaryKeyConstraint("article_id", "record_type", "record_id"),
    )
    op.create_index("article_uses_by_record", "article_uses", ["record_type", "record_id"])
    op.create_table(
        "article_activity",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("article_id", sa.String(36), sa.ForeignKey("articles.id"), nullable=False),
        _at("at"),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("field", sa.String(40)),
        sa.Column("old_value", sa.Text()),
        sa.Column("new_value", sa.Text()),
        sa.Column("text", sa.Text()),
    )
    op.create_index("article_activity_by_article", "article_activity", ["article_id", "at", "id"])
    op.create_table(
        "known_errors",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("problem_id", sa.String(36), nullable=False),
        sa.Column("problem_number", sa.String(20), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("symptoms", sa.Text(), nullable=False),
        sa.Column("workaround", sa.Text(), nullable=False),
        sa.Column("affected_cis", sa.ARRAY(sa.String(36)), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        _at("published_at"),
        _at("retired_at", True),
        sa.Column("article_id", sa.String(36)),
    )
    KNOWN_ERROR_SEARCH.add(op)
    KNOWN_ERROR_SEARCH.add_vocabulary(op, most_digits=None)  # as it was then: 0004 limits the digits
    create_kit_tables_v1(op)
    add_kit_outbox_failures_v2(op)


def downgrade() -> None:
    drop_kit_outbox_failures_v2(op)
    drop_kit_tables_v1(op)
    KNOWN_ERROR_SEARCH.drop_vocabulary(op)
    ARTICLE_SEARCH.drop_vocabulary(op)
    for table in ("known_errors", "article_activity", "article_uses", "article_views", "article_feedback",
                  "article_versions", "articles"):
        op.drop_table(table)
    op.execute(sa.schema.DropSequence(sa.Sequence("article_number_seq")))
