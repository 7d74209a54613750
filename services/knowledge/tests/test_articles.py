"""The rules of articles and their versions, without a database: the transition table, one open version, published
versions immutable, four-eyes, metadata, and what a known error's revision does to its article."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from itsm_contracts.events.knowledge import (
    ArticleAttached, ArticleDrafted, ArticlePublished, ArticleReturned, ArticleRetired, ArticleSubmitted,
)
from itsm_kit.domain import SYSTEM, Conflict, InvalidTransition, InvalidValue
from itsm_knowledge.domain.articles import (
    VERSION_TRANSITIONS, Article, KnownErrorLink, SelfApproval, Text, VersionState, known_error_text,
    normalised_tags,
)
from itsm_knowledge.domain.markdown import render

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
V = VersionState


def text(title: str = "Reset a password", body: str = "1. Open the portal") -> Text:
    return Text(title, body, render(body))


def draft(**fields) -> Article:
    values = dict(id="a1", number="KB0001001", text=text(), audience="requesters", audience_group=None,
                  category="access", tags=["password"], review_by=None, actor="writer", at=AT)
    return Article.draft(**(values | fields))


def published(writer: str = "writer", approver: str = "reviewer") -> Article:
    article = draft(actor=writer)
    article.submit(actor=writer, at=AT)
    article.publish(actor=approver, at=AT, review_after_days=365)
    return article


def kinds(article: Article) -> list[type]:
    return [type(event) for _, event in article.events]


def test_the_transition_table():
    assert VERSION_TRANSITIONS == {
        V.DRAFT: {V.REVIEW, V.RETIRED}, V.REVIEW: {V.DRAFT, V.PUBLISHED}, V.PUBLISHED: {V.RETIRED}, V.RETIRED: set()}


def test_a_draft_is_submitted_returned_resubmitted_and_published_by_someone_else():
    article = draft()
    assert (article.state, article.latest_version, article.published_version, article.version) == (V.DRAFT, 1, None, 1)
    article.submit(actor="writer", at=AT)
    article.return_to_writer("say which portal", actor="reviewer", at=AT)
    assert (article.state, article.versions[0].returned_reason) == (V.DRAFT, "say which portal")
    article.submit(actor="writer", at=AT)
    article.publish(actor="reviewer", at=AT, review_after_days=30)
    shown = article.shown
    assert (article.state, article.published_version, shown.written_by, shown.approved_by) == (
        V.PUBLISHED, 1, "writer", "reviewer")
    assert article.review_by == date(2027, 1, 4), "due for review review_after_days after publishing"
    assert kinds(article) == [ArticleDrafted, ArticleSubmitted, ArticleReturned, ArticleSubmitted, ArticlePublished]
    assert [seq for seq, _ in article.events] == [1, 2, 3, 4, 5] and article.version == 5


def test_a_set_review_date_is_kept_on_publishing():
    article = draft(review_by=date(2027, 3, 1))
    article.submit(actor="writer", at=AT)
    article.publish(actor="reviewer", at=AT, review_after_days=30)
    assert article.review_by == date(2027, 3, 1)


def test_the_writer_may_not_publish_their_own_version():
    article = draft()
    article.submit(actor="writer", at=AT)
    with pytest.raises(SelfApproval, match="four-eyes"):
        article.publish(actor="writer", at=AT, review_after_days=30)
    assert (article.state, article.published_version) == (V.REVIEW, None)


def test_a_version_the_system_drafted_is_published_by_any_agent():
    article = draft(actor=SYSTEM)
    article.submit(actor="agent-1", at=AT)
    article.publish(actor="agent-1", at=AT, review_after_days=30)
    assert article.state == V.PUBLISHED, "the agent who submitted it publishes it: nobody wrote it"
    again = draft(actor=SYSTEM)
    again.submit(actor=SYSTEM, at=AT)
    again.publish(actor=SYSTEM, at=AT, review_after_days=30)
    assert again.shown.approved_by == SYSTEM, "the system's own draft is no self-approval either"


def test_steps_out_of_turn_are_refused():
    article = draft()
    with pytest.raises(Conflict, match="no"):
        article.publish(actor="reviewer", at=AT, review_after_days=30)
    with pytest.raises(Conflict):
        article.return_to_writer("why", actor="reviewer", at=AT)
    article.submit(actor="writer", at=AT)
    with pytest.raises(Conflict):
        article.submit(actor="writer", at=AT)
    with pytest.raises(Conflict):
        article.retire(actor="writer", at=AT)  # under review: return it first
    with pytest.raises(InvalidValue):
        article.return_to_writer("  ", actor="reviewer", at=AT)


def test_a_published_version_is_immutable_an_edit_drafts_the_next_one():
    article = published()
    with pytest.raises(Conflict, match="only a draft"):
        article.edit_draft(1, text(body="changed"), None, actor="writer", at=AT)
    v2 = article.draft_next(None, "typo", actor="editor", at=AT)
    assert (v2.number, v2.state, v2.body, v2.written_by) == (2, V.DRAFT, "1. Open the portal", "editor")
    article.edit_draft(2, text(body="1. Open the new portal"), None, actor="editor", at=AT)
    assert (article.state, article.body, article.published_version, article.latest_version) == (
        V.PUBLISHED, "1. Open the portal", 1, 2), "readers still see v1"
    with pytest.raises(Conflict, match="one version is open"):
        article.draft_next(None, None, actor="editor", at=AT)


def test_publishing_the_next_version_retires_the_one_before():
    article = published()
    article.draft_next(text(body="v2 text"), None, actor="editor", at=AT)
    article.submit(actor="editor", at=AT)
    article.publish(actor="reviewer", at=AT, review_after_days=30)
    assert [(v.number, v.state) for v in article.versions] == [(1, V.RETIRED), (2, V.PUBLISHED)]
    assert (article.body, article.published_version, article.state) == ("v2 text", 2, V.PUBLISHED)
    assert [type(e) for _, e in article.events[-2:]] == [ArticleRetired, ArticlePublished]


def test_retire_withdraws_the_published_version_or_discards_a_lone_draft():
    article = published()
    article.retire(actor="reviewer", at=AT)
    assert (article.state, article.published_version) == (V.RETIRED, None)
    with pytest.raises(Conflict):
        article.retire(actor="reviewer", at=AT)
    lone = draft()
    lone.retire(actor="writer", at=AT)
    assert lone.state == V.RETIRED and lone.open_version is None
    with pytest.raises(InvalidTransition):
        lone.versions[0].state = V.RETIRED
        lone._move(lone.versions[0], V.REVIEW, AT, "writer")


def test_editing_a_draft_moves_the_version_without_an_event_and_nothing_when_nothing_changes():
    article = draft()
    events, version = len(article.events), article.version
    article.edit_draft(1, text(), None, actor="writer", at=AT)
    assert article.version == version, "the same text: nothing changed"
    article.edit_draft(1, text(body="new"), "clearer", actor="other", at=AT)
    assert (article.version, len(article.events), article.body, article.written_by) == (
        version + 1, events, "new", "other")


def test_metadata_changes_are_not_versioned_and_a_group_is_named_for_a_group_only():
    article = published()
    before = (article.latest_version, article.version)
    article.update({"audience": "group", "audience_group": "network", "tags": ["vpn", "VPN ", "wifi"]}, max_tags=5,
                   actor="editor", at=AT)
    assert (article.audience, article.audience_group, article.tags) == ("group", "network", ["vpn", "wifi"])
    assert article.latest_version == before[0] and article.version == before[1] + 1
    article.update({"audience": "agents"}, max_tags=5, actor="editor", at=AT)
    assert article.audience_group is None, "moving away from a group drops it"
    for bad in ({"audience": "group"}, {"audience_group": "x"}, {"audience": None}, {"views": 3}, {}):
        with pytest.raises(InvalidValue):
            article.update(bad, max_tags=5, actor="editor", at=AT)
    with pytest.raises(InvalidValue):
        draft(audience="group", audience_group=None)
    with pytest.raises(InvalidValue):
        draft(audience="agents", audience_group="network")


def test_tags_are_bounded_and_said_once():
    assert normalised_tags(["a", "A", " b "], 2) == ["a", "b"]
    with pytest.raises(InvalidValue):
        normalised_tags(["a", "b", "c"], 2)
    with pytest.raises(InvalidValue):
        normalised_tags(["x" * 51], 5)


def test_reviewed_pushes_the_review_date_and_stale_is_past_it():
    article = published()
    assert not article.stale_on(article.review_by) and article.stale_on(article.review_by + timedelta(days=1))
    later = AT + timedelta(days=400)
    assert article.reviewed(actor="editor", at=later, review_after_days=90) == later.date() + timedelta(days=90)
    assert not article.stale_on(later.date())


def test_only_a_published_article_is_attached():
    with pytest.raises(Conflict):
        draft().attach("incident", "i1", actor="agent", at=AT)
    article = published()
    article.attach("incident", "i1", actor="agent", at=AT)
    assert article.attached == 1 and kinds(article)[-1] is ArticleAttached


# -- drafted from a known error -------------------------------------------------------------------------------------

LINK = KnownErrorLink("ke1", "KE0001001", "p1", "PRB0001001")


def known_error_draft() -> Article:
    title, body = known_error_text(title="Logins hang", symptoms="logins hang for 30 s",
                                   workaround="restart the auth proxy", affected_cis=["ci-1"], number="KE0001001",
                                   problem_number="PRB0001001")
    return draft(text=Text(title, body, render(body)), audience="agents", category=None, tags=[], actor=SYSTEM,
                 known_error=LINK)


def test_a_known_error_drafts_an_article_that_links_back():
    article = known_error_draft()
    assert (article.source, article.known_error_number, article.problem_number, article.written_by) == (
        "known_error", "KE0001001", "PRB0001001", SYSTEM)
    for part in ("## Symptoms", "logins hang for 30 s", "## Workaround", "restart the auth proxy", "`ci-1`",
                 "Known error KE0001001 of problem PRB0001001"):
        assert part in article.body
    drafted = article.events[0][1]
    assert (drafted.source, drafted.known_error_id, drafted.problem_id) == ("known_error", "ke1", "p1")


def test_a_revision_rewrites_the_draft():
    article = known_error_draft()
    assert article.redraft_from_known_error(text(body="revised"), 2, at=AT) == "draft rewritten"
    assert (article.latest_version, article.body, article.state) == (1, "revised", V.DRAFT)


def test_a_revision_of_one_under_review_returns_it_rewritten():
    article = known_error_draft()
    article.submit(actor="agent", at=AT)
    assert article.redraft_from_known_error(text(body="revised"), 2, at=AT) == "returned and rewritten"
    assert (article.latest_version, article.body, article.state) == (1, "revised", V.DRAFT)
    assert "revision 2" in article.versions[0].returned_reason


def test_a_revision_of_a_published_article_drafts_its_next_version():
    article = known_error_draft()
    article.submit(actor="agent", at=AT)
    article.publish(actor="agent", at=AT, review_after_days=30)
    assert article.redraft_from_known_error(text(body="revised"), 2, at=AT) == "next version drafted"
    assert (article.latest_version, article.published_version, article.versions[1].body) == (2, 1, "revised")
    assert article.versions[1].written_by == SYSTEM


def test_a_revision_leaves_a_retired_article_alone():
    article = known_error_draft()
    article.retire(actor="agent", at=AT)
    version = article.version
    assert article.redraft_from_known_error(text(body="revised"), 2, at=AT) is None
    assert article.version == version and article.latest_version == 1
