"""Knowledge (issue 18): articles and their versions, feedback, suggestions for a record.

Who reads decides what is found: `reader` is set by the gateway from the caller's role (a requester reads articles
for requesters and for their groups; an agent also those for agents; an admin every article), never by the client.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from itsm_contracts.api.values import Day, RecordId
from itsm_contracts.events.knowledge import ArticleSource, ArticleState, AttachedRecordType, Audience

Reader = Literal["requester", "agent", "admin"]

# -- suggestions helper (issue 18): what may help with an incident or request, and attaching an article to one

SuggestionKind = Literal["article", "known_error"]
# Why it is suggested: its text matches the record's; the record's CI is among its known error's affected CIs; the
# record's category is the article's; it helped before (attached to records, rated helpful).
SuggestionReason = Literal["text", "same_ci", "same_category", "helped"]
MAX_SUGGESTION_TEXT = 2000  # characters of a record's text suggestions are looked for by


class SuggestionAsk(BaseModel):
    """What to look for suggestions for: a record's text, its CI and category."""

    text: str = Field(min_length=1, max_length=MAX_SUGGESTION_TEXT, pattern=r"\S",
                      description="The record's text (short description and description): any of its words finds")
    ci: str | None = Field(default=None, max_length=64, description="The record's configuration item (id)")
    category: str | None = Field(default=None, max_length=100)
    limit: int = Field(default=5, ge=1, le=20, description="How many suggestions at most, best first")


class Suggestion(BaseModel):
    kind: SuggestionKind
    id: str = Field(description="The article's id (a known error folded into its article: the article's), or the "
                                "known error's")
    number: str
    title: str
    score: float = Field(description="Higher is better: the text's match plus what the reasons add")
    highlight: str = Field(description="The matched part, HTML-escaped, the matched words in <mark>...</mark>")
    article_id: str | None = None
    known_error_id: str | None = None
    reasons: list[SuggestionReason]


class ArticleAttach(BaseModel):
    """POST /incidents|requests/{id}/articles: the article helped resolve this record."""

    model_config = ConfigDict(extra="forbid")

    article_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class ArticleAttachment(BaseModel):
    """An article attached to a record (once per record: attaching it again changes nothing)."""

    record_type: AttachedRecordType
    record_id: str
    article_id: str
    number: str
    title: str
    attached: int = Field(description="How many records the article has been attached to, this one included")


# -- articles helper (issue 18): article, version, feedback and list models below

MAX_TITLE = 200
# The service's own bound (ITSM_KNOWLEDGE_MAX_ARTICLE_BYTES, counted in bytes) is at most this many characters.
MAX_BODY = 2_000_000
MAX_NOTE = 2_000
ArticleTitle = Annotated[str, Field(min_length=1, max_length=MAX_TITLE, pattern=r"\S")]
ArticleBody = Annotated[str, Field(min_length=1, max_length=MAX_BODY, pattern=r"\S",
                                   description="Markdown (CommonMark, tables, strikethrough; raw HTML shown as text)")]
Tag = Annotated[str, Field(min_length=1, max_length=50)]
Category = Annotated[str, Field(min_length=1, max_length=100)]
GroupName = Annotated[str, Field(min_length=1, max_length=100)]
Note = Annotated[str, Field(max_length=MAX_NOTE)]
ArticleCursor = Annotated[str | None, Field(max_length=1_000, description="`next_cursor` of the page before")]


def _group_named_for_group(audience: str | None, audience_group: str | None, *, partial: bool) -> None:
    if partial and audience is None:  # a PATCH naming only the group: the service checks it against the article's
        return
    if (audience == "group") != (audience_group is not None):
        raise ValueError("audience_group is required for audience group, and only for it")


class ArticleCreate(BaseModel):
    """POST /articles: a new article, its first version a draft."""

    model_config = ConfigDict(extra="forbid")

    title: ArticleTitle
    body: ArticleBody
    audience: Audience = Field(description="who may read it once published: requesters (everyone who signs in), "
                                           "agents, or one group's members")
    audience_group: GroupName | None = Field(default=None, description="the group, for audience group only")
    category: Category | None = None
    tags: list[Tag] = Field(default=[], max_length=100, description="at most ITSM_KNOWLEDGE_MAX_TAGS; repeats once")
    review_by: Day | None = Field(default=None, description="due for review then (default: a year after publishing)")

    @model_validator(mode="after")
    def _audience(self) -> ArticleCreate:
        _group_named_for_group(self.audience, self.audience_group, partial=False)
        return self


class ArticleUpdate(BaseModel):
    """PATCH /articles/{id}: who reads it and how it is filed (not versioned; the text is: see /versions)."""

    model_config = ConfigDict(extra="forbid")

    audience: Audience | None = None
    audience_group: GroupName | None = None
    category: Category | None = None
    tags: list[Tag] | None = Field(default=None, max_length=100)
    review_by: Day | None = None

    @model_validator(mode="after")
    def _audience(self) -> ArticleUpdate:
        if "audience" in self.model_fields_set or "audience_group" in self.model_fields_set:
            _group_named_for_group(self.audience, self.audience_group, partial="audience" not in self.model_fields_set)
        return self


class VersionDraft(BaseModel):
    """POST /articles/{id}/versions: the next version (default: a copy of the published one's text)."""

    model_config = ConfigDict(extra="forbid")

    title: ArticleTitle | None = None
    body: ArticleBody | None = None
    change_note: Note | None = None


class VersionEdit(BaseModel):
    """PATCH /articles/{id}/versions/{n}: a draft rewritten."""

    model_config = ConfigDict(extra="forbid")

    title: ArticleTitle | None = None
    body: ArticleBody | None = None
    change_note: Note | None = None


class ArticleReturn(BaseModel):
    """POST /articles/{id}/return: the version under review goes back to its writer, with why."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=MAX_NOTE, pattern=r"\S")]


class ArticleFeedback(BaseModel):
    """POST /articles/{id}/feedback: one vote per person (a later one replaces theirs)."""

    model_config = ConfigDict(extra="forbid")

    helpful: StrictBool
    comment: Note = ""


class ArticleUse(BaseModel):
    """POST /articles/{id}/uses (internal): the article was attached to this record (it helped resolve it)."""

    model_config = ConfigDict(extra="forbid")

    record_type: AttachedRecordType
    record_id: RecordId


class ArticleQuery(BaseModel):
    """Which articles, newest updated first: every filter given must hold (a requester's: published ones only)."""

    state: list[ArticleState] = []
    category: Category | None = None
    tag: Tag | None = None
    stale: bool | None = Field(default=None, description="true: past their review date (the review queue)")
    cursor: ArticleCursor = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class ArticlePublic(BaseModel):
    """An article as a reader sees it: the published version (the latest while none is)."""

    id: str
    number: str
    title: str
    state: ArticleState
    audience: Audience
    audience_group: str | None
    category: str | None
    tags: list[str]
    source: ArticleSource
    known_error_id: str | None = Field(description="the known error it was drafted from (links back)")
    known_error_number: str | None
    problem_id: str | None
    problem_number: str | None
    published_version: int | None
    latest_version: int
    html: str = Field(description="the shown version's body, rendered and sanitised")
    written_by: str
    approved_by: str | None
    views: int = Field(description="distinct readers per day")
    helpful: int
    not_helpful: int
    attached: int = Field(description="incidents and requests it was attached to")
    review_by: date | None
    stale: bool = Field(description="past its review date")
    created_at: datetime
    updated_at: datetime
    version: int


class ArticlePage(BaseModel):
    items: list[ArticlePublic]
    next_cursor: str | None


class ArticleVersionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    article_id: str
    number: int
    state: ArticleState
    title: str
    body: str = Field(description="Markdown as written")
    html: str = Field(description="rendered and sanitised")
    change_note: str | None
    written_by: str
    written_at: datetime
    submitted_at: datetime | None
    returned_reason: str | None
    approved_by: str | None
    published_at: datetime | None
    retired_at: datetime | None


class ArticleVersionList(BaseModel):
    items: list[ArticleVersionPublic]


class ArticleActivityEntry(BaseModel):
    """One line of an article's timeline: drafted, a version's step, a field changed, attached to a record."""

    id: int
    article_id: str
    at: datetime
    actor: str
    kind: Literal["opened", "field", "comment", "work_note"]
    field: str | None = Field(default=None, description='what changed: "v2.state", "audience", "attached", ...')
    old_value: str | None = None
    new_value: str | None = None
    text: str | None = None


class ArticleActivityPage(BaseModel):
    items: list[ArticleActivityEntry]
    next_cursor: str | None
