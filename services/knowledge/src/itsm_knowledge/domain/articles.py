"""Knowledge articles and their versions (pure: no I/O).

One aggregate: an article with its versions (its events' subject is the article, their sequence its version). Each
version walks VERSION_TRANSITIONS. A published version never changes: an edit drafts the next version, and only one
version is open (draft or review) at a time. The article's row shows the published version (the latest while none
is); publishing a version retires the one published before it.

Four-eyes: a version is published by someone other than its writer, unless the system wrote it (drafted from a
known error: nobody wrote it, so any agent's review is the second pair of eyes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from itsm_contracts.events import EventData
from itsm_contracts.events.knowledge import (
    ArticleAttached, ArticleDrafted, ArticlePublished, ArticleReturned, ArticleRetired, ArticleSubmitted,
)
from itsm_kit.domain import (
    SYSTEM, Activity, ActivityKind, Conflict, InvalidValue, RaisesEvents, activity_text, check_patch,
    check_transition,
)


class VersionState(StrEnum):
    DRAFT = "draft"
    REVIEW = "review"
    PUBLISHED = "published"
    RETIRED = "retired"


# draft -> review (submit); review -> draft (return, with why); review -> published (publish); published -> retired
# (retire, or a newer version published); draft -> retired (discard).
VERSION_TRANSITIONS: dict[VersionState, frozenset[VersionState]] = {
    VersionState.DRAFT: frozenset({VersionState.REVIEW, VersionState.RETIRED}),
    VersionState.REVIEW: frozenset({VersionState.DRAFT, VersionState.PUBLISHED}),
    VersionState.PUBLISHED: frozenset({VersionState.RETIRED}),
    VersionState.RETIRED: frozenset(),
}
OPEN_STATES = frozenset({VersionState.DRAFT, VersionState.REVIEW})
AUDIENCES = ("requesters", "agents", "group")
# What PATCH /articles/{id} changes: who reads it and how it is filed, not what it says (that is versioned).
METADATA = frozenset({"audience", "audience_group", "category", "tags", "review_by"})


class SelfApproval(Conflict):
    """The writer of a version may not publish it: someone else reviews it (four-eyes)."""


def normalised_tags(tags: Sequence[str], max_tags: int) -> list[str]:
    """Tags trimmed, each once (the first spelling kept, case aside), at most `max_tags` of 1..50 characters."""
    kept: dict[str, str] = {}
    for tag in tags:
        text = tag.strip()
        if not 1 <= len(text) <= 50:
            raise InvalidValue(f"a tag has 1 to 50 characters, not {len(text)}", tag=tag)
        kept.setdefault(text.casefold(), text)
    if len(kept) > max_tags:
        raise InvalidValue(f"an article has at most {max_tags} tags, not {len(kept)}")
    return list(kept.values())


def check_audience(audience: str, audience_group: str | None) -> None:
    """A group's article names its group; no other article names one."""
    if audience not in AUDIENCES:
        raise InvalidValue(f"audience is one of {', '.join(AUDIENCES)}, not {audience!r}")
    if (audience == "group") != (audience_group is not None):
        raise InvalidValue("audience_group is required for audience group, and only for it")


def check_body(body: str, max_bytes: int) -> None:
    if len(body.encode()) > max_bytes:
        raise InvalidValue(f"an article body has at most {max_bytes} bytes of Markdown")


@dataclass
class ArticleVersion:
    """One version as written (the columns of article_versions); `html` rendered and sanitised at save."""

    article_id: str
    number: int
    state: VersionState
    title: str
    body: str
    html: str
    written_by: str
    written_at: datetime
    change_note: str | None = None
    submitted_at: datetime | None = None
    returned_reason: str | None = None
    approved_by: str | None = None
    published_at: datetime | None = None
    retired_at: datetime | None = None


@dataclass(frozen=True)
class Text:
    """What a version says: its title, Markdown and the HTML rendered from it."""

    title: str
    body: str
    html: str


@dataclass(frozen=True)
class KnownErrorLink:
    """The known error (and its problem) an article was drafted from."""

    known_error_id: str
    known_error_number: str
    problem_id: str
    problem_number: str


def known_error_text(*, title: str, symptoms: str, workaround: str, affected_cis: Sequence[str], number: str,
                     problem_number: str) -> tuple[str, str]:
    """The title and Markdown body of an article drafted from a known error: its symptoms, workaround and affected
    CIs, and the way back to it."""
    cis = "\n".join(f"- `{ci}`" for ci in affected_cis) or "None recorded."
    body = (f"## Symptoms\n\n{symptoms.strip()}\n\n## Workaround\n\n{workaround.strip()}\n\n"
            f"## Affected CIs\n\n{cis}\n\nKnown error {number} of problem {problem_number}.\n")
    return title.strip()[:200] or number, body


@dataclass
class Article(RaisesEvents):
    id: str
    number: str
    title: str
    body: str
    state: VersionState
    latest_version: int
    audience: str
    audience_group: str | None
    category: str | None
    tags: list[str]
    source: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    published_version: int | None = None
    known_error_id: str | None = None
    known_error_number: str | None = None
    problem_id: str | None = None
    problem_number: str | None = None
    review_by: date | None = None
    views: int = 0
    helpful: int = 0
    not_helpful: int = 0
    attached: int = 0
    version: int = 0
    versions: list[ArticleVersion] = field(default_factory=list)
    activity: list[Activity] = field(default_factory=list, repr=False, compare=False)
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)

    # -- drafting ---------------------------------------------------------------------------------------------------

    @classmethod
    def draft(cls, *, id: str, number: str, text: Text, audience: str, audience_group: str | None,
              category: str | None, tags: list[str], review_by: date | None, actor: str, at: datetime,
              known_error: KnownErrorLink | None = None) -> Article:
        """A new article: its first version, a draft."""
        check_audience(audience, audience_group)
        link = dataclasses.asdict(known_error) if known_error else {}
        article = cls(id=id, number=number, title=text.title, body=text.body, state=VersionState.DRAFT,
                      latest_version=0, audience=audience, audience_group=audience_group, category=category,
                      tags=tags, source="known_error" if known_error else "written", created_by=actor, created_at=at,
                      updated_at=at, review_by=review_by, **link)
        article.activity.append(Activity(ActivityKind.OPENED, actor, at, new_value=number, text=text.title))
        article._new_version(text, None, actor, at)
        return article

    def draft_next(self, text: Text | None, change_note: str | None, *, actor: str, at: datetime) -> ArticleVersion:
        """The next version, a draft: `text`, or a copy of the published version (of the latest while none is).
        Refused while a version is open: finish (or discard) it first."""
        if (open_version := self.open_version) is not None:
            raise Conflict(f"version {open_version.number} is still {open_version.state.value}: one version is open "
                           "at a time (publish, return or discard it first)", open_version=open_version.number)
        shown = self.shown
        return self._new_version(text or Text(shown.title, shown.body, shown.html), change_note, actor, at)

    def edit_draft(self, number: int, text: Text | None, change_note: str | None, *, actor: str,
                   at: datetime) -> ArticleVersion:
        """A draft rewritten (by whoever edits it: they are its writer now). Only a draft changes."""
        version = self.version_of(number)
        if version.state != VersionState.DRAFT:
            raise Conflict(f"version {number} is {version.state.value}: only a draft is edited (edit the article to "
                           "draft the next version)", version_state=version.state.value)
        since = self._mark()
        if text is not None and (text.title, text.body) != (version.title, version.body):
            version.title, version.body, version.html = text.title, text.body, text.html
            version.written_by, version.written_at = actor, at
            self._line(f"v{number}.text", None, None, at, actor, text=f"version {number} rewritten")
            self._settle(at)
        if change_note is not None and change_note != version.change_note:
            self._line(f"v{number}.change_note", version.change_note, change_note, at, actor)
            version.change_note = change_note
        self._changed(since, at)
        return version

    def redraft_from_known_error(self, text: Text, revision: int, *, at: datetime) -> str | None:
        """A later revision of the known error it was drafted from: its open draft rewritten; a version under review
        returned to be rewritten (one version is open at a time, and the reviewer must see the new text); a
        published article's next version drafted; a retired article left alone. What it did, or None."""
        note = f"known error {self.known_error_number} revised (revision {revision})"
        open_version = self.open_version
        if open_version is not None and open_version.state == VersionState.REVIEW:
            self.return_to_writer(note, actor=SYSTEM, at=at)
            self.edit_draft(open_version.number, text, note, actor=SYSTEM, at=at)
            return "returned and rewritten"
        if open_version is not None:
            self.edit_draft(open_version.number, text, note, actor=SYSTEM, at=at)
            return "draft rewritten"
        if self.published_version is not None:
            self.draft_next(text, note, actor=SYSTEM, at=at)
            return "next version drafted"
        return None

    # -- the walk ---------------------------------------------------------------------------------------------------

    def submit(self, *, actor: str, at: datetime) -> ArticleVersion:
        version = self._open_in(VersionState.DRAFT, "submit")
        self._move(version, VersionState.REVIEW, at, actor)
        version.submitted_at, version.returned_reason = at, None
        self.record(ArticleSubmitted(article_id=self.id, number=self.number, actor=actor,
                                     article_version=version.number, title=version.title, submitted_at=at))
        return version

    def return_to_writer(self, reason: str, *, actor: str, at: datetime) -> ArticleVersion:
        if not reason.strip():
            raise InvalidValue("say why the version goes back to its writer")
        version = self._open_in(VersionState.REVIEW, "return")
        self._move(version, VersionState.DRAFT, at, actor, text=reason)
        version.returned_reason = reason
        self.record(ArticleReturned(article_id=self.id, number=self.number, actor=actor,
                                    article_version=version.number, reason=reason, returned_at=at))
        return version

    def publish(self, *, actor: str, at: datetime, review_after_days: int) -> ArticleVersion:
        """The version under review is published (by someone other than its writer); the one published before it
        is retired. Readers find it now; it is due for review `review_after_days` later unless a date is set."""
        version = self._open_in(VersionState.REVIEW, "publish")
        if version.written_by == actor and version.written_by != SYSTEM:
            raise SelfApproval(f"{actor} wrote version {version.number}: someone else reviews and publishes it "
                               "(four-eyes)", written_by=version.written_by)
        check_transition(VERSION_TRANSITIONS, "an article version", version.state, VersionState.PUBLISHED)
        if self.published_version is not None:
            self._retire(self.version_of(self.published_version), at, actor)
        self._move(version, VersionState.PUBLISHED, at, actor)
        version.approved_by, version.published_at = actor, at
        self.published_version = version.number
        if self.review_by is None:
            self.review_by = at.date() + timedelta(days=review_after_days)
        self._settle(at)
        self.record(ArticlePublished(
            article_id=self.id, number=self.number, actor=actor, article_version=version.number, title=version.title,
            audience=self.audience, audience_group=self.audience_group, category=self.category,
            written_by=version.written_by, approved_by=actor, known_error_id=self.known_error_id,
            problem_id=self.problem_id, review_by=self.review_by, published_at=at))
        return version

    def retire(self, *, actor: str, at: datetime) -> ArticleVersion:
        """The published version withdrawn (nobody finds the article any more); with none published, the open
        draft discarded."""
        if self.published_version is not None:
            version = self.version_of(self.published_version)
        elif (open_version := self.open_version) is not None:
            version = open_version
        else:
            raise Conflict(f"article {self.number} has no published version nor draft to retire")
        self._retire(version, at, actor)
        self._settle(at)
        return version

    def reviewed(self, *, actor: str, at: datetime, review_after_days: int) -> date:
        """Someone checked it still holds: due for review again `review_after_days` from today."""
        since, due = self._mark(), at.date() + timedelta(days=review_after_days)
        if due != self.review_by:
            self._line("review_by", self.review_by, due, at, actor, text="reviewed")
            self.review_by = due
        self._changed(since, at)
        return due

    # -- what is not versioned --------------------------------------------------------------------------------------

    def update(self, changes: Mapping[str, Any], *, max_tags: int, actor: str, at: datetime) -> None:
        """Who reads it and how it is filed. Moving away from a group audience drops the group."""
        check_patch(changes, METADATA, frozenset({"audience", "tags"}))
        changes = dict(changes)
        if "tags" in changes:
            changes["tags"] = normalised_tags(changes["tags"], max_tags)
        if changes.get("audience", self.audience) != "group" and "audience_group" not in changes:
            changes["audience_group"] = None
        check_audience(changes.get("audience", self.audience), changes.get("audience_group", self.audience_group))
        since = self._mark()
        for name, value in changes.items():
            if getattr(self, name) != value:
                self._line(name, getattr(self, name), value, at, actor)
                setattr(self, name, value)
        self._changed(since, at)

    def attach(self, record_type: str, record_id: str, *, actor: str, at: datetime) -> None:
        """It helped resolve this record (the store says it was not attached before)."""
        if self.published_version is None:
            raise Conflict(f"article {self.number} is not published: only a published article is attached")
        self.attached += 1
        self.updated_at = at
        self._line("attached", None, f"{record_type} {record_id}", at, actor)
        self.record(ArticleAttached(article_id=self.id, number=self.number, actor=actor, title=self.title,
                                    record_type=record_type, record_id=record_id, attached_at=at))

    # -- lookups ----------------------------------------------------------------------------------------------------

    @property
    def open_version(self) -> ArticleVersion | None:
        return next((v for v in self.versions if v.state in OPEN_STATES), None)

    @property
    def shown(self) -> ArticleVersion:
        """What readers see: the published version, the latest while none is."""
        return self.version_of(self.published_version or self.latest_version)

    @property
    def html(self) -> str:
        return self.shown.html

    @property
    def written_by(self) -> str:
        return self.shown.written_by

    @property
    def approved_by(self) -> str | None:
        return self.shown.approved_by

    def version_of(self, number: int) -> ArticleVersion:
        for version in self.versions:
            if version.number == number:
                return version
        raise KeyError(number)

    def stale_on(self, today: date) -> bool:
        """Past its review date: due for someone to check it still holds."""
        return self.review_by is not None and self.review_by < today

    # -- inside -----------------------------------------------------------------------------------------------------

    def _new_version(self, text: Text, change_note: str | None, actor: str, at: datetime) -> ArticleVersion:
        version = ArticleVersion(article_id=self.id, number=self.latest_version + 1, state=VersionState.DRAFT,
                                 title=text.title, body=text.body, html=text.html, written_by=actor, written_at=at,
                                 change_note=change_note)
        self.versions.append(version)
        self.latest_version = version.number
        self._line(f"v{version.number}.state", None, VersionState.DRAFT.value, at, actor, text=change_note)
        self._settle(at)
        self.record(ArticleDrafted(
            article_id=self.id, number=self.number, actor=actor, article_version=version.number, title=text.title,
            source=self.source, known_error_id=self.known_error_id, known_error_number=self.known_error_number,
            problem_id=self.problem_id, problem_number=self.problem_number, drafted_at=at))
        return version

    def _open_in(self, state: VersionState, verb: str) -> ArticleVersion:
        version = self.open_version
        if version is None or version.state != state:
            where = f"version {version.number} is {version.state.value}" if version else "no version is open"
            raise Conflict(f"cannot {verb} article {self.number}: {where}, not {state.value}")
        return version

    def _retire(self, version: ArticleVersion, at: datetime, actor: str) -> None:
        self._move(version, VersionState.RETIRED, at, actor)
        version.retired_at = at
        if self.published_version == version.number:
            self.published_version = None
        self.record(ArticleRetired(article_id=self.id, number=self.number, actor=actor,
                                   article_version=version.number, retired_at=at))

    def _move(self, version: ArticleVersion, state: VersionState, at: datetime, actor: str, *,
              text: str | None = None) -> None:
        check_transition(VERSION_TRANSITIONS, "an article version", version.state, state)
        self._line(f"v{version.number}.state", version.state.value, state.value, at, actor, text=text)
        version.state = state
        self._settle(at)

    def _settle(self, at: datetime) -> None:
        """The row shows the published version (the latest while none is): its text and state."""
        shown = self.shown
        self.title, self.body, self.state, self.updated_at = shown.title, shown.body, shown.state, at

    def _mark(self) -> tuple[int, int]:
        return self.version, len(self.activity)

    def _changed(self, since: tuple[int, int], at: datetime) -> None:
        """A change that raises no event (it wrote timeline lines) still moves the version (the ETag) on: a gap in
        the events' sequence, never a repeat."""
        version, lines = since
        if len(self.activity) > lines:
            self.updated_at = at
            if self.version == version:
                self.version += 1

    def _line(self, name: str, old: object, new: object, at: datetime, actor: str, *, text: str | None = None) -> None:
        self.activity.append(Activity(ActivityKind.FIELD, actor, at, field=name, old_value=activity_text(old),
                                      new_value=activity_text(new), text=text))
